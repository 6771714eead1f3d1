/*
 * score.c
 *		aigc_score(), aigc_explain(), aigc_encode() and
 *		aigc_score_percentile(): score rows of any composite type whose
 *		attributes cover the model's columns (matched by name).
 *
 * The scores themselves are the kind's (core/vae_score.c,
 * core/gan_score.c, behind the operations of core/kind.h): each is a sum of
 * per-column terms and a last term, which aigc_explain lists.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/itemptr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/formatting.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/typcache.h"

#include "core/threads.h"
#include "store/citus_sync.h"
#include "store/model_store.h"
#include "score/score.h"
#include "store/column_types.h"

PG_FUNCTION_INFO_V1(aigc_score);
PG_FUNCTION_INFO_V1(aigc_explain);
PG_FUNCTION_INFO_V1(aigc_encode);
PG_FUNCTION_INFO_V1(aigc_score_percentile);
PG_FUNCTION_INFO_V1(aigc_score_batch);
PG_FUNCTION_INFO_V1(aigc_save_calibration);

/* rows per forward pass of aigc_score_batch */
#define SCORE_BATCH 256

AigcRowMap *
aigc_row_map_build(const AigcModel *model, const char *model_name,
				   uint64 load_id, TupleDesc desc, const char *what,
				   MemoryContext parent)
{
	MemoryContext cxt = AllocSetContextCreate(parent, "aigc row map",
											  ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	const AigcColumnEncoder *colenc = &model->colenc;
	AigcRowMap *map = palloc0(sizeof(AigcRowMap));

	map->cxt = cxt;
	map->load_id = load_id;
	map->desc = CreateTupleDescCopy(desc);
	map->ncols = colenc->ncols;
	map->cols = palloc0(sizeof(AigcColumnSource) * colenc->ncols);
	map->values = palloc(sizeof(Datum) * Max(desc->natts, 1));
	map->nulls = palloc(sizeof(bool) * Max(desc->natts, 1));
	for (int c = 0; c < colenc->ncols; c++)
	{
		const AigcColumn *col = &colenc->cols[c];
		AigcColumnSource *src = &map->cols[c];
		Form_pg_attribute att = NULL;
		Oid			base;
		Oid			outfunc;
		bool		varlena;

		for (int i = 0; i < desc->natts && att == NULL; i++)
		{
			Form_pg_attribute a = TupleDescAttr(desc, i);

			if (!a->attisdropped && strcmp(NameStr(a->attname), col->name) == 0)
			{
				att = a;
				src->attno = i;
			}
		}
		if (att == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("model \"%s\" needs column \"%s\", which %s does not have",
							model_name, col->name, what)));
		if (!aigc_types_compatible(col->typid, att->atttypid))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" of %s has type %s, but model \"%s\" learnt it as %s",
							col->name, what, format_type_be(att->atttypid), model_name,
							format_type_be(col->typid))));
		src->typid = att->atttypid;
		src->typmod = att->atttypmod;
		base = getBaseType(att->atttypid);
		src->varlena_label = base == TEXTOID || base == VARCHAROID || base == BPCHAROID;
		src->bool_label = base == BOOLOID;
		getTypeOutputInfo(att->atttypid, &outfunc, &varlena);
		fmgr_info_cxt(outfunc, &src->out, cxt);
	}
	MemoryContextSwitchTo(old);
	return map;
}

void
aigc_check_scorable(const AigcModel *model)
{
	const char *kind = model->ops->name;

	if (model->ops->score != NULL)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("scoring %s models is not supported",
					asc_toupper(kind, strlen(kind)))));
}

void
aigc_check_encodable(const char *function, const char *name, const AigcModel *model)
{
	char	   *kind;

	if (model->ops->encode != NULL)
		return;
	kind = asc_toupper(model->ops->name, strlen(model->ops->name));
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("%s needs a VAE model; \"%s\" is a %s", function, name, kind),
			 errdetail("A %s has no encoder, so rows have no latent code.", kind)));
}

/* Category index of a non-NULL value, -1 if training never saw it */
static double
category_of(const AigcColumn *col, const AigcColumnSource *src, Datum d)
{
	if (src->varlena_label)
	{
		text	   *t = DatumGetTextPP(d);

		return aigc_column_encoder_find_category(col, VARDATA_ANY(t),
											  VARSIZE_ANY_EXHDR(t));
	}
	if (src->bool_label)
		return aigc_column_encoder_find_category(col, DatumGetBool(d) ? "t" : "f", 1);
	{
		char	   *label = OutputFunctionCall((FmgrInfo *) &src->out, d);

		return aigc_column_encoder_find_category(col, label, strlen(label));
	}
}

/* Deform a row of map's type into value/isnull and encode it into x */
static void
encode_tuple(const AigcModel *model, AigcRowMap *map, HeapTuple tuple,
			 double *value, bool *isnull, float *x)
{
	const AigcColumnEncoder *colenc = &model->colenc;

	heap_deform_tuple(tuple, map->desc, map->values, map->nulls);
	for (int c = 0; c < colenc->ncols; c++)
	{
		const AigcColumn *col = &colenc->cols[c];
		const AigcColumnSource *src = &map->cols[c];
		Datum		d = map->values[src->attno];

		value[c] = 0.0;
		isnull[c] = map->nulls[src->attno];
		if (isnull[c])
			continue;
		if (col->kind == AIGC_CONTINUOUS)
			value[c] = aigc_datum_to_double(d, src->typid, col->name);
		else
			value[c] = category_of(col, src, d);
	}
	aigc_column_encoder_encode_row(colenc, value, isnull, x);
}

/* A row's score: its terms summed in order, as aigc_explain lists them */
static double
sum_terms(const double *terms, int ncols)
{
	double		score = 0.0;

	for (int c = 0; c <= ncols; c++)
		score += terms[c];
	return score;
}

double
aigc_score_tuple(AigcCachedModel *m, AigcRowMap *map, HeapTuple tuple)
{
	int			ncols = m->model->colenc.ncols;
	double		score;

	Assert(map->load_id == m->load_id);
	encode_tuple(m->model, map, tuple, m->value, m->isnull, m->x);

	/*
	 * One row's products on one thread: OpenBLAS threads a matrix-vector
	 * product from 9216 weights on, and its threads then spin between the
	 * rows, so a query would take a second core per process for a few
	 * microseconds of work a row.  Left at one: whatever wants more threads
	 * (training, sampling, batch scoring) sets its own count.
	 */
	aigc_blas_set_threads(1);
	m->model->ops->score(m->model->net, m->scorer, m->x, 1, ncols, &score,
						 m->terms);
	return sum_terms(m->terms, ncols);
}

/* A composite Datum's tuple, for heap_deform_tuple */
static void
tuple_of(HeapTupleHeader td, HeapTupleData *tuple)
{
	tuple->t_len = HeapTupleHeaderGetDatumLength(td);
	ItemPointerSetInvalid(&tuple->t_self);
	tuple->t_tableOid = InvalidOid;
	tuple->t_data = td;
}

/* The optional version argument (third): 0 for the version in use */
static int
version_arg(FunctionCallInfo fcinfo)
{
	int			version;

	if (PG_ARGISNULL(2))
		return 0;
	version = PG_GETARG_INT32(2);
	if (version <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model version must be positive")));
	return version;
}

/*
 * The cached model and the row of a call (model text, row record, version
 * integer), with the row's mapping kept in fn_extra.  false when the model
 * or the row is NULL.
 */
static bool
fetch_call(FunctionCallInfo fcinfo, AigcCachedModel **m, AigcRowMap **map,
		   HeapTupleData *tuple)
{
	AigcRowMap *cached = (AigcRowMap *) fcinfo->flinfo->fn_extra;
	text	   *name;
	int			version;
	HeapTupleHeader td;
	Oid			typid;
	int32		typmod;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		return false;
	version = version_arg(fcinfo);
	name = PG_GETARG_TEXT_PP(0);
	*m = aigc_model_cache_lookup(VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name), version);
	aigc_check_scorable((*m)->model);

	td = PG_GETARG_HEAPTUPLEHEADER(1);
	typid = HeapTupleHeaderGetTypeId(td);
	typmod = HeapTupleHeaderGetTypMod(td);
	tuple_of(td, tuple);

	if (cached == NULL || cached->load_id != (*m)->load_id ||
		cached->desc->tdtypeid != typid || cached->desc->tdtypmod != typmod)
	{
		TupleDesc	desc = lookup_rowtype_tupdesc(typid, typmod);

		if (cached != NULL)
			MemoryContextDelete(cached->cxt);
		fcinfo->flinfo->fn_extra = NULL;
		cached = aigc_row_map_build((*m)->model, (*m)->name, (*m)->load_id, desc,
									"the row", fcinfo->flinfo->fn_mcxt);
		ReleaseTupleDesc(desc);
		fcinfo->flinfo->fn_extra = cached;
	}
	*map = cached;
	return true;
}

Datum
aigc_score(PG_FUNCTION_ARGS)
{
	AigcCachedModel *m;
	AigcRowMap *map;
	HeapTupleData tuple;

	if (!fetch_call(fcinfo, &m, &map, &tuple))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(aigc_score_tuple(m, map, &tuple));
}

/* The latent mean as float4[] */
Datum
aigc_encode(PG_FUNCTION_ARGS)
{
	AigcCachedModel *m;
	AigcRowMap *map;
	HeapTupleData tuple;
	const AigcKindOps *ops;
	const float *code;
	int			L;
	Datum	   *elems;

	if (!fetch_call(fcinfo, &m, &map, &tuple))
		PG_RETURN_NULL();
	ops = m->model->ops;
	aigc_check_encodable("aigc_encode", m->name, m->model);
	aigc_score_tuple(m, map, &tuple);
	code = ops->encode(m->model->net, m->scorer, &L);
	elems = palloc(sizeof(Datum) * L);
	for (int i = 0; i < L; i++)
		elems[i] = Float4GetDatum(code[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, L, FLOAT4OID, sizeof(float4),
										  true, TYPALIGN_INT));
}

/* A model value as the text of the row column's type, or NULL */
static Datum
expected_text(const AigcColumn *col, const AigcColumnSource *src,
			  const AigcColumnData *decoded, bool *isnull)
{
	*isnull = decoded->isnull[0];
	if (*isnull)
		return (Datum) 0;
	if (col->kind == AIGC_CATEGORICAL)
		return CStringGetTextDatum(col->cats[(int) decoded->value[0]]);
	return CStringGetTextDatum(OutputFunctionCall((FmgrInfo *) &src->out,
												  aigc_column_to_datum(col, decoded->value[0],
																	   src->typid,
																	   src->typmod)));
}

/*
 * One row per model column: its term of the score, its share, the
 * observed value and the model's expected value (the reconstruction,
 * decoded with the likeliest mode or category); then the KL row.
 */
Datum
aigc_explain(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	AigcCachedModel *m;
	AigcRowMap *map;
	HeapTupleData tuple;
	const AigcColumnEncoder *colenc;
	const AigcKindOps *ops;
	double		score;
	float	   *act;
	AigcColumnData *decoded;

	InitMaterializedSRF(fcinfo, 0);
	if (!fetch_call(fcinfo, &m, &map, &tuple))
		return (Datum) 0;
	colenc = &m->model->colenc;
	score = aigc_score_tuple(m, map, &tuple);
	ops = m->model->ops;

	/* expected values are NULL where the kind reconstructs nothing */
	decoded = palloc(sizeof(AigcColumnData) * colenc->ncols);
	for (int c = 0; c < colenc->ncols; c++)
	{
		decoded[c].value = palloc(sizeof(double));
		decoded[c].isnull = palloc(sizeof(bool));
		decoded[c].isnull[0] = true;
	}
	act = palloc(sizeof(float) * colenc->dim);
	if (ops->explain(m->model->net, m->scorer, act))
		aigc_column_encoder_decode(colenc, act, 1, decoded, NULL);

	for (int c = 0; c <= colenc->ncols; c++)
	{
		Datum		values[6];
		bool		nulls[6] = {false};

		values[1] = Float8GetDatum(m->terms[c]);
		values[2] = Float8GetDatum(score > 0.0 ? m->terms[c] / score : 0.0);
		if (c < colenc->ncols)
		{
			const AigcColumnSource *src = &map->cols[c];

			values[0] = CStringGetTextDatum(colenc->cols[c].name);
			nulls[3] = map->nulls[src->attno];
			if (!nulls[3])
				values[3] = CStringGetTextDatum(OutputFunctionCall((FmgrInfo *) &src->out,
																   map->values[src->attno]));
			values[4] = expected_text(&colenc->cols[c], src, &decoded[c], &nulls[4]);
			values[5] = CStringGetTextDatum(ops->column_term);
		}
		else
		{
			nulls[0] = nulls[3] = nulls[4] = true;
			values[5] = CStringGetTextDatum(ops->last_term);
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* The stored quantiles of the loaded version, once per cached entry */
static void
load_quantiles(AigcCachedModel *m)
{
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		args[2];
	AigcStoreAccess acc;

	args[0] = CStringGetTextDatum(m->name);
	args[1] = Int32GetDatum(m->version);
	aigc_store_begin(&acc);
	aigc_store_exec("SELECT quantiles FROM aigc.score_calibration "
					" WHERE model OPERATOR(pg_catalog.=) $1 AND version OPERATOR(pg_catalog.=) $2",
					2, types, args, NULL, true, SPI_OK_SELECT);
	m->nquantiles = 0;
	if (SPI_processed == 1)
	{
		bool		isnull;
		ArrayType  *arr = DatumGetArrayTypeP(SPI_getbinval(SPI_tuptable->vals[0],
														   SPI_tuptable->tupdesc,
														   1, &isnull));
		int			n = ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));

		/* the table's CHECK guarantees at least two, none NULL */
		if (ARR_HASNULL(arr) || n < 2)
			elog(ERROR, "invalid quantiles in aigc.score_calibration");
		m->quantiles = MemoryContextAlloc(m->cxt, sizeof(double) * n);
		memcpy(m->quantiles, ARR_DATA_PTR(arr), sizeof(double) * n);
		m->nquantiles = n;
	}
	aigc_store_end(&acc);
	m->quantiles_loaded = true;
}

/*
 * Percentiles interpolate between the quantiles, so they must be finite and
 * in order (equal neighbours are ties, which are fine).
 */
static void
check_quantiles(ArrayType *arr)
{
	int			n = ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));
	const double *q = (const double *) ARR_DATA_PTR(arr);

	if (ARR_NDIM(arr) != 1 || ARR_HASNULL(arr) || n < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("calibration quantiles must be a one-dimensional array of at least two numbers without NULLs")));
	for (int i = 0; i < n; i++)
	{
		if (!isfinite(q[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("calibration quantile %d is not a finite number", i + 1)));
		if (i > 0 && q[i] < q[i - 1])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("calibration quantiles must not decrease"),
					 errdetail("Quantile %d is less than quantile %d.", i + 1, i)));
	}
}

/*
 * aigc.save_calibration(): aigc_calibrate's write into the store, which
 * needs privilege "train" on the model, as adding a version does.
 */
Datum
aigc_save_calibration(PG_FUNCTION_ARGS)
{
	Oid			types[5] = {TEXTOID, INT4OID, TEXTOID, INT8OID, FLOAT8ARRAYOID};
	Datum		args[5];
	AigcStoreAccess acc;

	for (int i = 0; i < 5; i++)
	{
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("calibration arguments must not be NULL")));
		args[i] = PG_GETARG_DATUM(i);
	}
	check_quantiles(PG_GETARG_ARRAYTYPE_P(4));
	aigc_store_begin(&acc);
	/* a concurrent drop of the version: wait, then "has no version" */
	aigc_store_lock_check(&acc, text_to_cstring(PG_GETARG_TEXT_PP(0)), "train");
	aigc_store_require_version(&acc, text_to_cstring(PG_GETARG_TEXT_PP(0)),
							   PG_GETARG_INT32(1));
	/* excluded.calibrated_at (the default, now()): Citus ships no now() in DO UPDATE */
	aigc_store_exec("INSERT INTO aigc.score_calibration AS c (model, version, relation, rows, quantiles) "
					"VALUES ($1, $2, $3, $4, $5) "
					"ON CONFLICT ON CONSTRAINT score_calibration_pkey "
					"DO UPDATE SET relation = excluded.relation, rows = excluded.rows, "
					"              quantiles = excluded.quantiles, calibrated_at = excluded.calibrated_at",
					5, types, args, NULL, false, SPI_OK_INSERT);
	aigc_store_end(&acc);
	PG_RETURN_VOID();
}

/*
 * Fraction of the calibration rows scoring at most s, interpolated between
 * the stored quantiles, which sit at probabilities i / (n - 1).
 */
static double
percentile_of(const double *q, int n, double s)
{
	int			lo = 0;
	int			hi = n - 1;

	if (s < q[0])
		return 0.0;
	if (s >= q[n - 1])
		return 1.0;
	/* the last i with q[i] <= s; then q[i + 1] > s */
	while (hi - lo > 1)
	{
		int			mid = lo + (hi - lo) / 2;

		if (q[mid] <= s)
			lo = mid;
		else
			hi = mid;
	}
	return (lo + (s - q[lo]) / (q[lo + 1] - q[lo])) / (n - 1);
}

Datum
aigc_score_percentile(PG_FUNCTION_ARGS)
{
	AigcCachedModel *m;
	AigcRowMap *map;
	HeapTupleData tuple;
	double		score;

	if (!fetch_call(fcinfo, &m, &map, &tuple))
		PG_RETURN_NULL();
	score = aigc_score_tuple(m, map, &tuple);
	if (!m->quantiles_loaded)
		load_quantiles(m);
	if (m->nquantiles == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("model \"%s\" version %d has no score calibration",
						m->name, m->version),
				 errhint("Run SELECT aigc_calibrate('%s', 'training_table'::regclass) first.",
						 m->name)));
	PG_RETURN_FLOAT8(percentile_of(m->quantiles, m->nquantiles, score));
}

/*
 * aigc_score_batch(model, relation [, version]): (row_ctid, score,
 * row_tableoid) of every row of a table or materialized view; a ctid is
 * unique only within one table, so over a partitioned or inheritance parent
 * the row's table tells rows apart.  SCORE_BATCH rows per forward pass,
 * which spreads the cost of each matrix product over many rows.  The model
 * is loaded privately for the call, so scoring inside the scan (a view
 * calling aigc_score, say) cannot free it through the cache.
 */
Datum
aigc_score_batch(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext run_cxt;
	MemoryContext batch_cxt;
	char	   *name;
	Oid			relid;
	char		relkind;
	int			version;
	AigcModel  *model;
	AigcRowMap *map = NULL;
	void	   *scorer;
	double	   *scores;			/* (SCORE_BATCH) */
	int			ncols;
	int			dim;
	int			blas_threads;
	float	   *x;				/* (SCORE_BATCH, dim) encoded rows */
	double	   *value;			/* (ncols) one row, as the column encoder */
	bool	   *isnull;			/* (ncols) */
	ItemPointerData *tids;		/* (SCORE_BATCH) */
	Oid		   *tableoids;		/* (SCORE_BATCH) */
	SPIPlanPtr	plan;
	Portal		portal;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model and relation must not be NULL")));
	version = version_arg(fcinfo);
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	relid = PG_GETARG_OID(1);
	relkind = get_rel_relkind(relid);
	if (relkind != RELKIND_RELATION && relkind != RELKIND_MATVIEW &&
		relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("aigc_score_batch scores tables and materialized views"),
				 errhint("Views have no row identifiers; score them with aigc_score(model, v).")));
	if (aigc_citus_is_distributed(relid))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("aigc_score_batch cannot score distributed table \"%s\" from the coordinator",
						get_rel_name(relid)),
				 errdetail("Its row identifiers are per shard, and every row would travel to the coordinator."),
				 errhint("Run it on every shard with run_command_on_shards(), or use aigc_score(model, t.*), which Citus pushes down (docs/citus.md).")));

	InitMaterializedSRF(fcinfo, 0);
	run_cxt = AllocSetContextCreate(caller, "aigc_score_batch", ALLOCSET_DEFAULT_SIZES);
	batch_cxt = AllocSetContextCreate(run_cxt, "aigc_score_batch rows", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(run_cxt);
	model = aigc_store_load(name, version, &version);
	aigc_check_scorable(model);
	ncols = model->colenc.ncols;
	dim = model->colenc.dim;
	scorer = model->ops->scorer_init(model->net, SCORE_BATCH, ncols);
	scores = palloc(sizeof(double) * SCORE_BATCH);
	x = palloc(sizeof(float) * SCORE_BATCH * dim);
	value = palloc(sizeof(double) * ncols);
	isnull = palloc(sizeof(bool) * ncols);
	tids = palloc(sizeof(ItemPointerData) * SCORE_BATCH);
	tableoids = palloc(sizeof(Oid) * SCORE_BATCH);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = SPI_prepare(psprintf("SELECT t.ctid, t, t.tableoid FROM %s t",
								quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
														   get_rel_name(relid))),
					   0, NULL);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	for (;;)
	{
		uint64		n;

		CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(portal, true, SCORE_BATCH);
		n = SPI_processed;
		if (n == 0)
			break;
		MemoryContextReset(batch_cxt);
		MemoryContextSwitchTo(batch_cxt);
		for (uint64 r = 0; r < n; r++)
		{
			bool		null;
			Datum		tid = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &null);
			HeapTupleHeader td = DatumGetHeapTupleHeader(SPI_getbinval(SPI_tuptable->vals[r],
																	   SPI_tuptable->tupdesc,
																	   2, &null));
			HeapTupleData tuple;

			tids[r] = *(ItemPointer) DatumGetPointer(tid);
			tableoids[r] = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[r],
														  SPI_tuptable->tupdesc,
														  3, &null));
			tuple_of(td, &tuple);
			if (map == NULL)
			{
				TupleDesc	desc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(td),
														  HeapTupleHeaderGetTypMod(td));

				map = aigc_row_map_build(model, name, 0, desc,
										 psprintf("table \"%s\"", get_rel_name(relid)),
										 run_cxt);
				ReleaseTupleDesc(desc);
			}
			encode_tuple(model, map, &tuple, value, isnull, x + r * dim);
		}
		blas_threads = aigc_model_pass_threads((int) n);
		model->ops->score(model->net, scorer, x, (int) n, ncols, scores, NULL);
		aigc_blas_set_threads(blas_threads);
		for (uint64 r = 0; r < n; r++)
		{
			Datum		values[3];
			bool		nulls[3] = {false, false, false};

			values[0] = PointerGetDatum(&tids[r]);
			values[1] = Float8GetDatum(scores[r]);
			values[2] = ObjectIdGetDatum(tableoids[r]);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
		MemoryContextSwitchTo(run_cxt);
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	SPI_finish();
	MemoryContextSwitchTo(caller);
	MemoryContextDelete(run_cxt);
	return (Datum) 0;
}
