/*
 * evaluate.c
 *		aigc_evaluate() and aigc_evaluate_relations(): a report of how close
 *		synthetic rows are to real ones (SDMetrics QualityReport scores),
 *		how close they come to copying real rows (distance to closest
 *		record, exact copies) and how well a classifier tells them apart.
 *
 * Both sides are read with the caller's privileges through SPI, at most
 * max_rows rows each (a seeded reservoir sample beyond that).  Privacy and
 * detection metrics use smaller seeded subsamples, bounded below, so the
 * memory of a run is bounded whatever the size of the relations.
 */
#include "postgres.h"

#include <math.h>
#include <string.h>

#include <cblas.h>

#include "access/relation.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"

#include "eval/evaluate.h"
#include "sample/generate.h"
#include "store/model_store.h"
#include "store/reader.h"
#include "store/column_types.h"

PG_FUNCTION_INFO_V1(aigc_evaluate);
PG_FUNCTION_INFO_V1(aigc_evaluate_relations);

#define MAX_ROWS_LIMIT		10000000	/* largest max_rows accepted */
#define MAX_LABELS			1000000 /* distinct labels read per column */
#define DCR_SYNTHETIC		2000	/* synthetic rows whose DCR is measured */
#define DCR_TRAINING		20000	/* real rows they are compared with */
#define DCR_HOLDOUT			2000	/* held-out real rows measured likewise */
#define DCR_PERCENTILE		5.0
#define DETECTION_ROWS		10000	/* per side */
#define DETECTION_TRAIN		0.7
#define DETECTION_ITERATIONS 300
#define GENERATE_BATCH		1000	/* as aigc_sample, so the rows match */
#define SPLIT_SEED_SALT		UINT64CONST(0x9E3779B97F4A7C15)
#define MIA_ROWS			2000	/* members and as many non-members */
#define MIA_SYNTHETIC		20000	/* synthetic rows the attacker holds */
#define MIA_REFERENCE		20000	/* holdout rows the density-ratio attacker holds */
#define MIA_MIN_ROWS		10		/* members, non-members and reference rows */
#define MIA_DISTANCE_FLOOR	1e-6	/* keeps log(distance) finite for copies */
/* the holdout gets its own random stream: every other figure stays as without it */
#define MIA_SEED_SALT		UINT64CONST(0xD1B54A32D192ED03)

typedef struct Report
{
	Tuplestorestate *store;
	TupleDesc	desc;
} Report;

/* One result row; NaN (an undefined score) is returned as NULL */
static void
emit(Report *rep, const char *property, const char *metric,
	 const char *columns, double value)
{
	Datum		values[4];
	bool		nulls[4] = {false, false, columns == NULL, isnan(value)};

	values[0] = CStringGetTextDatum(property);
	values[1] = CStringGetTextDatum(metric);
	values[2] = columns != NULL ? CStringGetTextDatum(columns) : (Datum) 0;
	values[3] = Float8GetDatum(value);
	tuplestore_putvalues(rep->store, rep->desc, values, nulls);
}

/* Mean of the defined scores; NaN if none is */
static double
nan_mean(const double *v, int n)
{
	double		sum = 0.0;
	int			m = 0;

	for (int i = 0; i < n; i++)
		if (!isnan(v[i]))
		{
			sum += v[i];
			m++;
		}
	return m > 0 ? sum / m : NAN;
}

static List *
column_names(Oid relid)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	List	   *names = NIL;

	for (int i = 0; i < desc->natts; i++)
		if (!TupleDescAttr(desc, i)->attisdropped)
			names = lappend(names, pstrdup(NameStr(TupleDescAttr(desc, i)->attname)));
	relation_close(rel, AccessShareLock);
	return names;
}

/* The type of relid's column `name`; ERROR naming it when it is missing */
static Oid
column_type(Oid relid, const char *name, const char *wanted_by)
{
	AttrNumber	attnum = get_attnum(relid, name);

	if (attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of %s does not exist in relation \"%s\"",
						name, wanted_by, get_rel_name(relid)),
				 errhint("Both sides of an evaluation must have the same columns.")));
	return get_atttype(relid, attnum);
}

static void
check_types(const char *name, Oid a, const char *a_name, Oid b,
			const char *b_name)
{
	if (!aigc_types_compatible(a, b))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" has type %s in %s but type %s in %s",
						name, format_type_be(a), a_name, format_type_be(b), b_name)));
}

static int
cmp_label(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

static void
remap_labels(AigcColumnData *d, int64 n, char **old, char **labels, int nlabels,
			 int nold)
{
	int		   *to = palloc(sizeof(int) * Max(nold, 1));

	for (int i = 0; i < nold; i++)
	{
		char	  **hit = bsearch(&old[i], labels, nlabels, sizeof(char *), cmp_label);

		to[i] = (int) (hit - labels);
	}
	for (int64 r = 0; r < n; r++)
		if (!d->isnull[r])
			d->value[r] = to[(int) d->value[r]];
	pfree(to);
}

/*
 * Make every side of categorical column c index one label list, the sorted
 * union of the real labels, the synthetic side's labels scats and the
 * holdout's labels hcats (none without a holdout).
 */
static void
unify_labels(AigcEvalInput *in, int c, char **scats, int nscats, char **hcats,
			 int nhcats)
{
	AigcColumn *col = &in->cols[c];
	int			n = col->ncats + nscats + nhcats;
	char	  **labels = palloc(sizeof(char *) * Max(n, 1));
	int			m = 0;

	memcpy(labels, col->cats, sizeof(char *) * col->ncats);
	memcpy(labels + col->ncats, scats, sizeof(char *) * nscats);
	memcpy(labels + col->ncats + nscats, hcats, sizeof(char *) * nhcats);
	qsort(labels, n, sizeof(char *), cmp_label);
	for (int i = 0; i < n; i++)
		if (m == 0 || strcmp(labels[m - 1], labels[i]) != 0)
			labels[m++] = labels[i];
	remap_labels(&in->real[c], in->nreal, col->cats, labels, m, col->ncats);
	remap_labels(&in->syn[c], in->nsyn, scats, labels, m, nscats);
	if (in->hold != NULL)
		remap_labels(&in->hold[c], in->nhold, hcats, labels, m, nhcats);
	col->cats = labels;
	col->ncats = m;
}

/*
 * Holdout rows (real rows the model never saw) over the columns read from
 * the real side, matched by name; its other columns are ignored.  The
 * holdout's own labels of column c go to hd->cols[hcol[c]], for
 * unify_labels.  Without a holdout (InvalidOid) in->hold stays NULL.
 */
static void
read_holdout(Oid holdout, Oid real, const char *wanted_by, int64 max_rows,
			 AigcRng *rng, AigcEvalInput *in, AigcTrainingData *hd, int *hcol,
			 int64 *scanned)
{
	char	   *real_desc = psprintf("relation \"%s\"", get_rel_name(real));
	char	   *hold_desc;
	List	   *wanted = NIL;
	List	   *exclude = NIL;
	ListCell   *lc;

	in->hold = NULL;
	in->nhold = 0;
	*scanned = 0;
	if (!OidIsValid(holdout))
		return;
	if (get_rel_name(holdout) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("holdout relation with OID %u does not exist", holdout)));
	hold_desc = psprintf("holdout relation \"%s\"", get_rel_name(holdout));
	for (int c = 0; c < in->ncols; c++)
	{
		const AigcColumn *col = &in->cols[c];

		check_types(col->name, col->typid, real_desc,
					column_type(holdout, col->name, wanted_by), hold_desc);
		wanted = lappend(wanted, col->name);
	}
	foreach(lc, column_names(holdout))
		if (!aigc_name_in_list(wanted, lfirst(lc)))
			exclude = lappend(exclude, lfirst(lc));
	*scanned = aigc_read_relation_sample(holdout, exclude, MAX_LABELS, max_rows, 0, rng, hd);
	if (hd->nrows < 2 * MIA_MIN_ROWS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s has " INT64_FORMAT " rows, fewer than the %d the membership-inference attack needs",
						hold_desc, hd->nrows, 2 * MIA_MIN_ROWS),
				 errhint("Half of the holdout rows are non-members, the other half the attacker's reference sample.")));
	if (in->nreal < MIA_MIN_ROWS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s has " INT64_FORMAT " rows, fewer than the %d the membership-inference attack needs",
						real_desc, in->nreal, MIA_MIN_ROWS)));
	in->hold = palloc(sizeof(AigcColumnData) * Max(in->ncols, 1));
	in->nhold = hd->nrows;
	for (int c = 0; c < in->ncols; c++)
	{
		int			k = 0;

		while (strcmp(hd->cols[k].name, in->cols[c].name) != 0)
			k++;
		in->hold[c] = hd->data[k];
		hcol[c] = k;
	}
}

/* unify_labels with the holdout's own labels, if there is a holdout */
static void
unify_all_labels(AigcEvalInput *in, int c, char **scats, int nscats,
				 const AigcTrainingData *hd, const int *hcol)
{
	if (in->hold != NULL)
		unify_labels(in, c, scats, nscats, hd->cols[hcol[c]].cats, hd->cols[hcol[c]].ncats);
	else
		unify_labels(in, c, scats, nscats, NULL, 0);
}

/* Validate max_rows and n-like arguments */
static int64
positive_arg(FunctionCallInfo fcinfo, int argno, const char *what, int64 dflt)
{
	int64		v = PG_ARGISNULL(argno) ? dflt : PG_GETARG_INT32(argno);

	if (v < 1 || v > MAX_ROWS_LIMIT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between 1 and %d", what, MAX_ROWS_LIMIT)));
	return v;
}

/*
 * Real rows against `synthetic`: the columns of both relations, matched by
 * name; identity and serial keys of either side are left out.  The holdout
 * (if valid) is read with hold_rng.
 */
static void
read_relations(Oid real, Oid synthetic, Oid holdout, int64 max_rows,
			   AigcRng *rng, AigcRng *hold_rng, AigcEvalInput *in,
			   int64 *scanned)
{
	List	   *keys = list_concat(aigc_key_columns(real), aigc_key_columns(synthetic));
	List	   *real_names = column_names(real);
	List	   *syn_names = column_names(synthetic);
	List	   *real_excl = NIL;
	List	   *syn_excl = NIL;
	char	   *real_desc = psprintf("relation \"%s\"", get_rel_name(real));
	char	   *syn_desc = psprintf("relation \"%s\"", get_rel_name(synthetic));
	AigcTrainingData rd,
				sd,
				hd;
	int		   *scol;
	int		   *hcol;
	ListCell   *lc;

	foreach(lc, real_names)
	{
		char	   *name = lfirst(lc);

		if (aigc_name_in_list(keys, name))
			real_excl = lappend(real_excl, name);
		else
			check_types(name, get_atttype(real, get_attnum(real, name)), real_desc,
						column_type(synthetic, name, real_desc), syn_desc);
	}
	foreach(lc, syn_names)
	{
		char	   *name = lfirst(lc);

		if (aigc_name_in_list(keys, name))
			syn_excl = lappend(syn_excl, name);
		else
			(void) column_type(real, name, syn_desc);
	}

	scanned[0] = aigc_read_relation_sample(real, real_excl, MAX_LABELS, max_rows, 0, rng, &rd);
	scanned[1] = aigc_read_relation_sample(synthetic, syn_excl, MAX_LABELS, max_rows, 0, rng, &sd);
	in->ncols = rd.ncols;
	in->cols = rd.cols;
	in->real = rd.data;
	in->nreal = rd.nrows;
	in->nsyn = sd.nrows;
	in->syn = palloc(sizeof(AigcColumnData) * rd.ncols);
	scol = palloc(sizeof(int) * Max(rd.ncols, 1));
	hcol = palloc(sizeof(int) * Max(rd.ncols, 1));
	for (int c = 0; c < rd.ncols; c++)
	{
		int			k = 0;

		while (strcmp(sd.cols[k].name, rd.cols[c].name) != 0)
			k++;
		in->syn[c] = sd.data[k];
		scol[c] = k;
	}
	read_holdout(holdout, real, real_desc, max_rows, hold_rng, in, &hd, hcol, &scanned[2]);
	for (int c = 0; c < rd.ncols; c++)
		if (rd.cols[c].kind == AIGC_CATEGORICAL)
			unify_all_labels(in, c, sd.cols[scol[c]].cats, sd.cols[scol[c]].ncats, &hd, hcol);
}

/*
 * Real rows against n rows generated by a model: the model's columns.  The
 * rows are those aigc_sample(..., n, seed) returns, each value passed
 * through the real column's type (rounding, typmod) as aigc_sample does.
 * The holdout (if valid) is read with hold_rng.
 */
static void
read_model(const char *name, int version, Oid real, Oid holdout,
		   int64 max_rows, int64 n, uint64 seed, AigcRng *rng,
		   AigcRng *hold_rng, AigcEvalInput *in, int64 *scanned)
{
	AigcModel  *model = aigc_store_load(name, version, &version);
	char	   *model_desc = psprintf("model \"%s\"", name);
	char	   *real_desc = psprintf("relation \"%s\"", get_rel_name(real));
	List	   *exclude = NIL;
	ListCell   *lc;
	AigcTrainingData rd,
				hd;
	AigcRng		sample_rng;
	AigcGenerator gen;
	int		   *model_col;
	int		   *hcol;

	for (int c = 0; c < model->colenc.ncols; c++)
	{
		const AigcColumn *col = &model->colenc.cols[c];

		check_types(col->name, col->typid, model_desc,
					column_type(real, col->name, model_desc), real_desc);
	}
	foreach(lc, column_names(real))
		if (aigc_column_encoder_find_column(&model->colenc, lfirst(lc)) < 0)
			exclude = lappend(exclude, lfirst(lc));
	scanned[0] = aigc_read_relation_sample(real, exclude, MAX_LABELS, max_rows, 0, rng, &rd);
	scanned[1] = n;

	in->ncols = rd.ncols;
	in->cols = rd.cols;
	in->real = rd.data;
	in->nreal = rd.nrows;
	in->nsyn = n;
	in->syn = palloc(sizeof(AigcColumnData) * rd.ncols);
	model_col = palloc(sizeof(int) * rd.ncols);
	for (int c = 0; c < rd.ncols; c++)
	{
		model_col[c] = aigc_column_encoder_find_column(&model->colenc, rd.cols[c].name);
		in->syn[c].value = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * n);
		in->syn[c].isnull = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(bool) * n);
	}

	aigc_rng_seed(&sample_rng, seed);
	aigc_generator_init(&gen, model, &sample_rng, GENERATE_BATCH);
	for (int64 done = 0; done < n;)
	{
		int			batch = (int) Min((int64) GENERATE_BATCH, n - done);

		CHECK_FOR_INTERRUPTS();
		aigc_generator_next(&gen, batch);
		for (int c = 0; c < rd.ncols; c++)
		{
			const AigcColumn *col = &rd.cols[c];
			const AigcColumnData *d = &gen.decoded[model_col[c]];

			for (int r = 0; r < batch; r++)
			{
				double		v = d->value[r];

				in->syn[c].isnull[done + r] = d->isnull[r];
				if (!d->isnull[r] && col->kind == AIGC_CONTINUOUS)
					v = aigc_datum_to_double(aigc_double_to_datum(v, col->typid, col->typmod),
											 col->typid, col->name);
				in->syn[c].value[done + r] = d->isnull[r] ? 0.0 : v;
			}
		}
		done += batch;
	}
	hcol = palloc(sizeof(int) * Max(rd.ncols, 1));
	read_holdout(holdout, real, model_desc, max_rows, hold_rng, in, &hd, hcol, &scanned[2]);
	for (int c = 0; c < rd.ncols; c++)
		if (rd.cols[c].kind == AIGC_CATEGORICAL)
			unify_all_labels(in, c, model->colenc.cols[model_col[c]].cats,
							 model->colenc.cols[model_col[c]].ncats, &hd, hcol);
}

/* Column Shapes, Column Pair Trends and their overall scores */
static void
quality(Report *rep, const AigcEvalInput *in)
{
	int			nc = in->ncols;
	double	   *shape = palloc(sizeof(double) * nc);
	double	   *pair = palloc(sizeof(double) * Max(nc * (nc - 1) / 2, 1));
	int			npairs = 0;
	int32	  **rcodes = palloc(sizeof(int32 *) * nc);
	int32	  **scodes = palloc(sizeof(int32 *) * nc);
	int		   *ncodes = palloc(sizeof(int) * nc);
	int64	   *scratch = MemoryContextAllocHuge(CurrentMemoryContext,
												 sizeof(int64) * (in->nreal + in->nsyn + 1));
	double		shapes_score,
				pairs_score;

	for (int c = 0; c < nc; c++)
	{
		const AigcColumn *col = &in->cols[c];

		rcodes[c] = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int32) * (in->nreal + 1));
		scodes[c] = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int32) * (in->nsyn + 1));
		ncodes[c] = aigc_column_codes(col, &in->real[c], in->nreal, &in->syn[c], in->nsyn,
									  rcodes[c], scodes[c]);
		if (col->kind == AIGC_CONTINUOUS)
		{
			shape[c] = aigc_ks_complement(&in->real[c], in->nreal, &in->syn[c], in->nsyn);
			emit(rep, "Column Shapes", "KSComplement", col->name, shape[c]);
		}
		else
		{
			shape[c] = aigc_tv_complement(rcodes[c], NULL, in->nreal, scodes[c], NULL,
										  in->nsyn, 1, scratch);
			emit(rep, "Column Shapes", "TVComplement", col->name, shape[c]);
		}
	}
	for (int a = 0; a < nc; a++)
		for (int b = a + 1; b < nc; b++)
		{
			char	   *names = psprintf("%s, %s", in->cols[a].name, in->cols[b].name);

			if (in->cols[a].kind == AIGC_CONTINUOUS && in->cols[b].kind == AIGC_CONTINUOUS)
			{
				pair[npairs] = aigc_correlation_similarity(&in->real[a], &in->real[b], in->nreal,
														   &in->syn[a], &in->syn[b], in->nsyn);
				emit(rep, "Column Pair Trends", "CorrelationSimilarity", names, pair[npairs]);
			}
			else
			{
				pair[npairs] = aigc_tv_complement(rcodes[a], rcodes[b], in->nreal,
												  scodes[a], scodes[b], in->nsyn,
												  ncodes[b], scratch);
				emit(rep, "Column Pair Trends", "ContingencySimilarity", names, pair[npairs]);
			}
			npairs++;
		}
	shapes_score = nan_mean(shape, nc);
	pairs_score = nan_mean(pair, npairs);
	emit(rep, "Overall", "Column Shapes", NULL, shapes_score);
	emit(rep, "Overall", "Column Pair Trends", NULL, pairs_score);
	/* one column has no pairs: the quality score is its shape alone */
	emit(rep, "Overall", "Quality Score", NULL,
		 npairs > 0 ? (shapes_score + pairs_score) / 2.0 : shapes_score);
}

static int64 *
shuffled_rows(int64 n, AigcRng *rng)
{
	int64	   *perm = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * Max(n, 1));

	for (int64 i = 0; i < n; i++)
		perm[i] = i;
	aigc_rng_shuffle(rng, perm, n);
	return perm;
}

static float *
encode(const AigcRowEncoding *enc, const AigcEvalInput *in,
	   const AigcColumnData *data, const int64 *rows, int n)
{
	float	   *x = MemoryContextAllocHuge(CurrentMemoryContext,
										   sizeof(float) * (Size) Max(n, 1) * Max(enc->dim, 1));

	aigc_encode_rows(enc, in, data, rows, n, x);
	return x;
}

/* numpy.percentile's default (linear) on sorted values */
static double
percentile(const double *sorted, int n, double p)
{
	double		pos = (n - 1) * p / 100.0;
	int			lo = (int) floor(pos);
	int			hi = Min(lo + 1, n - 1);

	return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

static double
share_at_most(const double *v, int n, double limit)
{
	int			k = 0;

	for (int i = 0; i < n; i++)
		k += v[i] <= limit;
	return (double) k / n;
}

/*
 * Distance to closest record.  The real rows are split in two halves by a
 * seeded shuffle: synthetic rows and held-out real rows are both measured
 * against the training half.  A generator that does not copy places about
 * 5% of its rows within the holdout's 5th percentile; a copying one more.
 */
static void
privacy(Report *rep, const AigcEvalInput *in, const AigcRowEncoding *enc,
		const int64 *real_perm, const int64 *syn_perm, int64 *sizes)
{
	int64		half = (in->nreal + 1) / 2;
	int			ntrain = (int) Min(half, (int64) DCR_TRAINING);
	int			nhold = (int) Min(in->nreal - half, (int64) DCR_HOLDOUT);
	int			nsyn = (int) Min(in->nsyn, (int64) DCR_SYNTHETIC);

	sizes[0] = sizes[1] = sizes[2] = 0;
	if (enc->dim > 0 && nhold > 0 && nsyn > 0)
	{
		float	   *train = encode(enc, in, in->real, real_perm, ntrain);
		float	   *hold = encode(enc, in, in->real, real_perm + half, nhold);
		float	   *syn = encode(enc, in, in->syn, syn_perm, nsyn);
		double	   *dh = palloc(sizeof(double) * nhold);
		double	   *ds = palloc(sizeof(double) * nsyn);
		double		p5;

		aigc_nearest_distances(hold, nhold, train, ntrain, enc->dim, dh);
		aigc_nearest_distances(syn, nsyn, train, ntrain, enc->dim, ds);
		qsort(dh, nhold, sizeof(double), aigc_cmp_double);
		qsort(ds, nsyn, sizeof(double), aigc_cmp_double);
		p5 = percentile(dh, nhold, DCR_PERCENTILE);
		emit(rep, "Privacy", "DCR share closer than holdout p5", NULL,
			 share_at_most(ds, nsyn, p5));
		emit(rep, "Privacy", "DCR holdout share closer than holdout p5", NULL,
			 share_at_most(dh, nhold, p5));
		emit(rep, "Privacy", "DCR holdout p5", NULL, p5);
		emit(rep, "Privacy", "DCR median", "synthetic", percentile(ds, nsyn, 50.0));
		emit(rep, "Privacy", "DCR median", "holdout", percentile(dh, nhold, 50.0));
		sizes[0] = nsyn;
		sizes[1] = ntrain;
		sizes[2] = nhold;
	}
	else
	{
		emit(rep, "Privacy", "DCR share closer than holdout p5", NULL, NAN);
		emit(rep, "Privacy", "DCR holdout share closer than holdout p5", NULL, NAN);
		emit(rep, "Privacy", "DCR holdout p5", NULL, NAN);
		emit(rep, "Privacy", "DCR median", "synthetic", NAN);
		emit(rep, "Privacy", "DCR median", "holdout", NAN);
	}
	emit(rep, "Privacy", "Exact copies", NULL, (double) aigc_exact_copies(in));
}

/*
 * Membership inference: attackers holding the synthetic rows try to tell
 * training rows (`real`, members) from rows the model never saw (holdout,
 * non-members), in the encoded space of the DCR metrics.  The holdout is
 * split by a seeded shuffle: its first half gives as many non-members as
 * there are members (so 0.5 is chance), the rest is the density-ratio
 * attacker's reference sample of the population.
 *   - distance to closest record: score -DCR to the synthetic rows, a row
 *     close to some synthetic row being called a member;
 *   - density ratio (DOMIAS-style): synthetic over reference density, each
 *     estimated from the nearest-neighbour distance r (k = 1: density
 *     proportional to r^-dim), so log(r_ref) - log(r_syn) up to a factor
 *     and a constant, which the AUC ignores.  It flags rows around which
 *     the generator puts more mass than the population has.
 * ROC AUCs are rank-based, ties sharing their ranks.
 */
static void
membership(Report *rep, const AigcEvalInput *in, const AigcRowEncoding *enc,
		   const int64 *real_perm, const int64 *syn_perm, AigcRng *hold_rng,
		   int64 *sizes)
{
	int			m = (int) Min(Min(in->nreal, in->nhold / 2), (int64) MIA_ROWS);
	int			nref = (int) Min(in->nhold - m, (int64) MIA_REFERENCE);
	int			nsyn = (int) Min(in->nsyn, (int64) MIA_SYNTHETIC);
	int64	   *hold_perm;
	float	   *query,
			   *syn,
			   *ref,
			   *score;
	double	   *dsyn,
			   *dref;
	bool	   *label;

	sizes[0] = sizes[1] = sizes[2] = sizes[3] = 0;
	if (enc->dim == 0)
	{
		emit(rep, "Privacy", "Membership inference ROC AUC", NULL, NAN);
		emit(rep, "Privacy", "Membership inference ROC AUC (density ratio)", NULL, NAN);
		return;
	}
	hold_perm = shuffled_rows(in->nhold, hold_rng);
	/* 2m x dim: the members, then the non-members */
	query = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(float) * (Size) 2 * m * enc->dim);
	aigc_encode_rows(enc, in, in->real, real_perm, m, query);
	aigc_encode_rows(enc, in, in->hold, hold_perm, m, query + (Size) m * enc->dim);
	syn = encode(enc, in, in->syn, syn_perm, nsyn);
	ref = encode(enc, in, in->hold, hold_perm + m, nref);
	dsyn = palloc(sizeof(double) * 2 * m);
	dref = palloc(sizeof(double) * 2 * m);
	score = palloc(sizeof(float) * 2 * m);
	label = palloc(sizeof(bool) * 2 * m);
	aigc_nearest_distances(query, 2 * m, syn, nsyn, enc->dim, dsyn);
	aigc_nearest_distances(query, 2 * m, ref, nref, enc->dim, dref);
	for (int i = 0; i < 2 * m; i++)
	{
		score[i] = (float) -dsyn[i];
		label[i] = i < m;
	}
	emit(rep, "Privacy", "Membership inference ROC AUC", NULL,
		 aigc_roc_auc(score, label, 2 * m));
	for (int i = 0; i < 2 * m; i++)
		score[i] = (float) (log(dref[i] + MIA_DISTANCE_FLOOR) -
							log(dsyn[i] + MIA_DISTANCE_FLOOR));
	emit(rep, "Privacy", "Membership inference ROC AUC (density ratio)", NULL,
		 aigc_roc_auc(score, label, 2 * m));
	sizes[0] = m;
	sizes[1] = m;
	sizes[2] = nsyn;
	sizes[3] = nref;
}

/*
 * Logistic detection: a classifier trained on 70% of a mix of real and
 * synthetic rows, its ROC AUC on the other 30% (0.5: indistinguishable).
 */
static void
detection(Report *rep, const AigcEvalInput *in, const AigcRowEncoding *enc,
		  const int64 *real_perm, const int64 *syn_perm, AigcRng *rng,
		  int64 *sizes)
{
	int			nr = (int) Min(in->nreal, (int64) DETECTION_ROWS);
	int			ns = (int) Min(in->nsyn, (int64) DETECTION_ROWS);
	int			n = nr + ns;
	int			ntrain = (int) (DETECTION_TRAIN * n);
	int			dim = enc->dim + 1;
	float	   *xr,
			   *xs,
			   *x,
			   *y,
			   *w,
			   *score;
	bool	   *label;
	int64	   *order;
	double		auc;

	sizes[0] = sizes[1] = 0;
	if (enc->dim == 0 || nr < 2 || ns < 2 || ntrain < 1 || ntrain >= n)
	{
		emit(rep, "Detection", "Logistic regression ROC AUC", NULL, NAN);
		emit(rep, "Detection", "LogisticDetection", NULL, NAN);
		return;
	}
	xr = encode(enc, in, in->real, real_perm, nr);
	xs = encode(enc, in, in->syn, syn_perm, ns);
	x = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(float) * (Size) n * dim);
	y = palloc(sizeof(float) * n);
	order = shuffled_rows(n, rng);
	for (int i = 0; i < n; i++)
	{
		int64		k = order[i];
		bool		is_syn = k >= nr;
		const float *src = is_syn ? xs + (Size) (k - nr) * enc->dim : xr + (Size) k * enc->dim;

		memcpy(x + (Size) i * dim, src, sizeof(float) * enc->dim);
		x[(Size) i * dim + enc->dim] = 1.0f;
		y[i] = is_syn ? 1.0f : 0.0f;
	}
	aigc_standardise(x, n, ntrain, dim);
	w = palloc(sizeof(float) * dim);
	/* sklearn's default C = 1 is a penalty of 1/(2 n) ||w||^2 on the mean loss */
	aigc_logreg_fit(x, y, ntrain, dim, 1.0 / ntrain, DETECTION_ITERATIONS, w);
	score = palloc(sizeof(float) * (n - ntrain));
	label = palloc(sizeof(bool) * (n - ntrain));
	cblas_sgemv(CblasRowMajor, CblasNoTrans, n - ntrain, dim, 1.0f,
				x + (Size) ntrain * dim, dim, w, 1, 0.0f, score, 1);
	for (int i = ntrain; i < n; i++)
		label[i - ntrain] = y[i] > 0.5f;
	auc = aigc_roc_auc(score, label, n - ntrain);
	emit(rep, "Detection", "Logistic regression ROC AUC", NULL, auc);
	/* SDMetrics' LogisticDetection: 1 best, 0 perfectly separable */
	emit(rep, "Detection", "LogisticDetection", NULL,
		 isnan(auc) ? NAN : 1.0 - (Max(auc, 0.5) * 2.0 - 1.0));
	sizes[0] = nr;
	sizes[1] = ns;
}

/* ML efficacy of target column `target`: TSTR, TRTR and their ratio */
static void
efficacy(Report *rep, const AigcEvalInput *in, int target, const int64 *real_perm,
		 const int64 *syn_perm)
{
	AigcEfficacy eff;

	aigc_ml_efficacy(in, target, real_perm, syn_perm, &eff);
	for (int k = 0; k < eff.nmetrics; k++)
	{
		double		s = eff.synthetic[k],
					r = eff.real[k];

		emit(rep, "ML Efficacy", eff.metric[k], "synthetic", s);
		emit(rep, "ML Efficacy", eff.metric[k], "real", r);
		/* a ratio of an R squared at or below 0 (no better than the mean) means nothing */
		emit(rep, "ML Efficacy", eff.metric[k], "ratio",
			 isnan(s) || isnan(r) || r <= 0.0 ? NAN : s / r);
	}
	if (eff.classification)
		emit(rep, "ML Efficacy", "majority share", "holdout", eff.majority);
	emit(rep, "Info", "efficacy_target", in->cols[target].name,
		 eff.classification ? (double) in->cols[target].ncats : 0.0);
	emit(rep, "Info", "efficacy_rows", "synthetic", (double) eff.ntrain_syn);
	emit(rep, "Info", "efficacy_rows", "real", (double) eff.ntrain_real);
	emit(rep, "Info", "efficacy_rows", "holdout", (double) eff.ntest);
}

static void
report(Report *rep, const AigcEvalInput *in, const int64 *scanned, int target,
	   AigcRng *rng, AigcRng *hold_rng)
{
	AigcRowEncoding enc;
	int64	   *real_perm;
	int64	   *syn_perm;
	int64		dcr_sizes[3];
	int64		det_sizes[2];
	int64		mia_sizes[4] = {0, 0, 0, 0};

	quality(rep, in);
	aigc_row_encoding_init(&enc, in);
	real_perm = shuffled_rows(in->nreal, rng);
	syn_perm = shuffled_rows(in->nsyn, rng);
	privacy(rep, in, &enc, real_perm, syn_perm, dcr_sizes);
	if (in->hold != NULL)
		membership(rep, in, &enc, real_perm, syn_perm, hold_rng, mia_sizes);
	detection(rep, in, &enc, real_perm, syn_perm, rng, det_sizes);
	if (target >= 0)
		efficacy(rep, in, target, real_perm, syn_perm);

	emit(rep, "Info", "rows_scanned", "real", (double) scanned[0]);
	emit(rep, "Info", "rows_scanned", "synthetic", (double) scanned[1]);
	if (in->hold != NULL)
		emit(rep, "Info", "rows_scanned", "holdout", (double) scanned[2]);
	emit(rep, "Info", "rows_used", "real", (double) in->nreal);
	emit(rep, "Info", "rows_used", "synthetic", (double) in->nsyn);
	if (in->hold != NULL)
		emit(rep, "Info", "rows_used", "holdout", (double) in->nhold);
	emit(rep, "Info", "dcr_rows", "synthetic", (double) dcr_sizes[0]);
	emit(rep, "Info", "dcr_rows", "training", (double) dcr_sizes[1]);
	emit(rep, "Info", "dcr_rows", "holdout", (double) dcr_sizes[2]);
	emit(rep, "Info", "detection_rows", "real", (double) det_sizes[0]);
	emit(rep, "Info", "detection_rows", "synthetic", (double) det_sizes[1]);
	if (in->hold != NULL)
	{
		emit(rep, "Info", "membership_rows", "members", (double) mia_sizes[0]);
		emit(rep, "Info", "membership_rows", "non-members", (double) mia_sizes[1]);
		emit(rep, "Info", "membership_rows", "synthetic", (double) mia_sizes[2]);
		emit(rep, "Info", "membership_rows", "reference", (double) mia_sizes[3]);
	}
	emit(rep, "Info", "encoded_width", NULL, (double) enc.dim);
}

static void
check_nonempty(const AigcEvalInput *in)
{
	if (in->nreal == 0 || in->nsyn == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot evaluate: the %s side has no rows",
						in->nreal == 0 ? "real" : "synthetic")));
}

/*
 * The index of the target column among the evaluated ones; ERROR naming
 * it when it is not there or cannot be predicted.
 */
static int
find_target(const AigcEvalInput *in, const char *target, Oid real,
			const char *model)
{
	int			t = -1;

	for (int c = 0; c < in->ncols; c++)
		if (strcmp(in->cols[c].name, target) == 0)
			t = c;
	if (t < 0)
	{
		if (get_attnum(real, target) == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("target column \"%s\" does not exist in relation \"%s\"",
							target, get_rel_name(real))));
		if (model != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("target column \"%s\" is not a column of model \"%s\"",
							target, model),
					 errhint("The target must be one of the columns the model was trained on.")));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("target column \"%s\" is a key column, left out of the evaluation",
						target)));
	}
	if (in->ncols < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot measure ML efficacy of \"%s\": it is the only column", target)));
	if (in->cols[t].kind == AIGC_CATEGORICAL && in->cols[t].ncats > AIGC_EFFICACY_MAX_CLASSES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("target column \"%s\" has %d distinct values, more than the %d classes ML efficacy accepts",
						target, in->cols[t].ncats, AIGC_EFFICACY_MAX_CLASSES),
				 errhint("Choose a categorical target of few values, or a numeric one.")));
	return t;
}

/*
 * Common driver: inputs are read in a run context that is deleted at the
 * end; the report goes to the SRF's tuplestore.
 */
static Datum
evaluate_common(FunctionCallInfo fcinfo, bool from_model)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext run_cxt;
	Report		rep;
	AigcEvalInput in;
	AigcRng		rng;
	AigcRng		hold_rng;
	int64		scanned[3];
	uint64		seed;
	int64		max_rows;
	int			target_arg = from_model ? 6 : 4;
	int			holdout_arg = from_model ? 7 : 5;
	char	   *target = PG_ARGISNULL(target_arg) ? NULL :
		text_to_cstring(PG_GETARG_TEXT_PP(target_arg));
	Oid			holdout = PG_ARGISNULL(holdout_arg) ? InvalidOid : PG_GETARG_OID(holdout_arg);
	int			t = -1;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg(from_model ? "model and real relation must not be NULL"
						: "real and synthetic relations must not be NULL")));
	InitMaterializedSRF(fcinfo, 0);
	rep.store = rsinfo->setResult;
	rep.desc = rsinfo->setDesc;

	run_cxt = AllocSetContextCreate(caller, "aigc_evaluate", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(run_cxt);
	if (from_model)
	{
		int64		n = positive_arg(fcinfo, 2, "n", 10000);
		int			version = PG_ARGISNULL(5) ? 0 : PG_GETARG_INT32(5);

		if (!PG_ARGISNULL(5) && version <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("model version must be positive")));
		seed = PG_ARGISNULL(3) ? 0 : (uint64) PG_GETARG_INT64(3);
		max_rows = positive_arg(fcinfo, 4, "max_rows", 100000);
		aigc_rng_seed(&rng, seed ^ SPLIT_SEED_SALT);
		aigc_rng_seed(&hold_rng, seed ^ MIA_SEED_SALT);
		read_model(text_to_cstring(PG_GETARG_TEXT_PP(0)), version, PG_GETARG_OID(1),
				   holdout, max_rows, n, seed, &rng, &hold_rng, &in, scanned);
	}
	else
	{
		seed = PG_ARGISNULL(2) ? 0 : (uint64) PG_GETARG_INT64(2);
		max_rows = positive_arg(fcinfo, 3, "max_rows", 100000);
		aigc_rng_seed(&rng, seed ^ SPLIT_SEED_SALT);
		aigc_rng_seed(&hold_rng, seed ^ MIA_SEED_SALT);
		read_relations(PG_GETARG_OID(0), PG_GETARG_OID(1), holdout, max_rows, &rng,
					   &hold_rng, &in, scanned);
	}
	check_nonempty(&in);
	if (target != NULL)
		t = find_target(&in, target, PG_GETARG_OID(from_model ? 1 : 0),
						from_model ? text_to_cstring(PG_GETARG_TEXT_PP(0)) : NULL);
	report(&rep, &in, scanned, t, &rng, &hold_rng);

	MemoryContextSwitchTo(caller);
	MemoryContextDelete(run_cxt);
	return (Datum) 0;
}

Datum
aigc_evaluate(PG_FUNCTION_ARGS)
{
	return evaluate_common(fcinfo, true);
}

Datum
aigc_evaluate_relations(PG_FUNCTION_ARGS)
{
	return evaluate_common(fcinfo, false);
}
