/*
 * sample.c
 *		aigc.sample_batches(), the streaming generator behind aigc_sample():
 *		synthetic rows typed as any composite whose columns match the
 *		model's by name, as json_populate_record types its result.
 *
 * A function in FROM runs under a Function Scan, which collects its whole
 * result before returning the first row; only a set-returning function in
 * a select list streams.  So aigc_sample() is an inlinable SQL function
 * that unnests, in FROM, the arrays this value-per-call function returns
 * from its select list: one array per generated batch, made only when the
 * query asks for more rows.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/pg_prng.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/typcache.h"

#include "sample/conditions.h"
#include "sample/generate.h"
#include "store/model_cache.h"
#include "store/column_types.h"

PG_FUNCTION_INFO_V1(aigc_sample_batches);
PG_FUNCTION_INFO_V1(aigc_sample);

#define SAMPLE_BATCH 1000

/*
 * When rows are rejected (conditions, domain constraints), at most
 * max(DRAWS_PER_ROW * n, MIN_DRAWS) rows are generated; from EARLY_DRAWS
 * generated rows on, sampling also gives up as soon as the observed rate
 * projects past that bound (see give_up()).
 */
#define DRAWS_PER_ROW 100
#define MIN_DRAWS 1000000
#define EARLY_DRAWS 100000

/* Where each attribute of the result row comes from */
typedef struct TargetColumn
{
	int			model_col;		/* -1: not modelled, always NULL */
	Oid			typid;
	int32		typmod;
	Datum	   *labels;			/* categorical: each category as a Datum */
	DomainConstraintRef *domain;	/* NULL unless a domain with constraints */
	bool	   *label_ok;		/* under a domain: label k passes its checks */
	bool		null_ok;		/* under a domain: NULL passes its checks */
} TargetColumn;

/* Everything one aigc_sample() call keeps between batches */
typedef struct SampleState
{
	char	   *name;
	int			requested;		/* version asked for, 0 for the one in use */
	int			version;		/* version loaded */
	uint64		load_id;		/* the model cache's load it came from */
	AigcModel  *model;
	TupleDesc	desc;
	TargetColumn *map;
	AigcConditions *conds;
	bool		domains;		/* some column has domain constraints */
	AigcRng		rng;
	AigcGenerator gen;
	int64		n;
	int64		accepted;		/* rows returned so far */
	int64		drawn;			/* rows generated so far */
	int64		max_draws;
	Oid			rowtype;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	ExprContext *econtext;		/* evaluates domain CHECK expressions */
	MemoryContext batch_cxt;	/* reset before each batch */
	Datum	   *values;
	bool	   *nulls;
	Datum	   *rows;			/* (nrows) one batch of accepted rows */
	int			nrows;
	int			batch_rows;		/* rows of the generator's batch */
	int			next;			/* aigc_sample: the next row of rows to return */
} SampleState;

/* Does a value of the column pass its domain's NOT NULL and CHECKs? */
static bool
domain_accepts(ExprContext *econtext, const TargetColumn *t, Datum value,
			   bool isnull)
{
	ListCell   *lc;

	econtext->domainValue_datum = value;
	econtext->domainValue_isNull = isnull;
	foreach(lc, t->domain->constraints)
	{
		DomainConstraintState *con = (DomainConstraintState *) lfirst(lc);

		if (con->constrainttype == DOM_CONSTRAINT_NOTNULL)
		{
			if (isnull)
				return false;
		}
		else if (!ExecCheck(con->check_exprstate, econtext))
			return false;
	}
	return true;
}

/*
 * ERROR unless every value the model produces for col fits the target
 * type: decoding clamps to the training range, so that range decides.
 */
static void
check_range_fits(const AigcColumn *col, const char *name, const char *model_name,
				 Oid typid, int32 typmod)
{
	int32		basemod = typmod;
	Oid			base = getBaseTypeAndTypmod(typid, &basemod);

	switch (base)
	{
		case INT2OID:
			if (col->min >= PG_INT16_MIN && col->max <= PG_INT16_MAX)
				return;
			break;
		case INT4OID:
			if (col->min >= PG_INT32_MIN && col->max <= PG_INT32_MAX)
				return;
			break;
		case FLOAT4OID:
			if (col->min >= -FLT_MAX && col->max <= FLT_MAX)
				return;
			break;
		case NUMERICOID:
			if (basemod < (int32) VARHDRSZ)
				return;
			else
			{
				/* numeric(p, s): |x| rounded to s decimals below 10^(p - s) */
				int			precision = ((basemod - VARHDRSZ) >> 16) & 0xffff;
				int			scale = ((((basemod - VARHDRSZ) & 0x7ff) ^ 1024) - 1024);
				double		p = pow(10.0, scale);
				double		bound = pow(10.0, precision - scale);

				if (rint(col->min * p) / p > -bound && rint(col->max * p) / p < bound)
					return;
			}
			break;
		default:
			return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("column \"%s\" of the row type has type %s, too narrow for the values model \"%s\" produces",
					name, format_type_be(typid), model_name),
			 errdetail("The model produces values from %.17g to %.17g, the range seen in training.",
					   col->min, col->max),
			 errhint("Use a row type whose column is %s, or aigc_create_type().",
					 format_type_be(col->typid))));
}

/* Domain constraints of the target column, if any, and what they allow */
static void
map_domain(TargetColumn *t, const AigcColumn *col, const char *name,
		   const char *model_name, ExprContext *econtext)
{
	DomainConstraintRef *ref;

	if (get_typtype(t->typid) != TYPTYPE_DOMAIN)
		return;
	ref = palloc(sizeof(DomainConstraintRef));
	InitDomainConstraintRef(t->typid, ref, CurrentMemoryContext, true);
	if (ref->constraints == NIL)
		return;
	t->domain = ref;
	t->null_ok = domain_accepts(econtext, t, (Datum) 0, true);
	/* a column that always comes back NULL could never pass */
	if (!t->null_ok && (col == NULL || (col->has_nulls && col->null_frac >= 1.0)))
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("column \"%s\" of the row type does not allow NULL, but model \"%s\" only produces NULL for it",
						name, model_name),
				 errhint("Use a row type whose column allows NULL.")));
	if (t->labels != NULL)
	{
		/* labels do not change: check each once (domain CHECKs are immutable) */
		t->label_ok = palloc(sizeof(bool) * Max(col->ncats, 1));
		for (int k = 0; k < col->ncats; k++)
			t->label_ok[k] = domain_accepts(econtext, t, t->labels[k], false);
	}
}

static TargetColumn *
map_columns(const AigcModel *model, const char *model_name, TupleDesc desc,
			ExprContext *econtext)
{
	TargetColumn *map = palloc0(sizeof(TargetColumn) * Max(desc->natts, 1));

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		const char *name = NameStr(att->attname);
		int			c;
		const AigcColumn *col;

		map[i].model_col = -1;
		map[i].typid = att->atttypid;
		map[i].typmod = att->atttypmod;
		if (att->attisdropped)
			continue;
		if (aigc_model_excludes(model, name))
		{
			map_domain(&map[i], NULL, name, model_name, econtext);
			continue;
		}
		c = aigc_column_encoder_find_column(&model->colenc, name);
		if (c < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of the row type is not produced by model \"%s\"",
							name, model_name),
					 errhint("Use a row type whose columns the model knows; aigc_create_type() makes one.")));
		col = &model->colenc.cols[c];
		if (!aigc_types_compatible(col->typid, att->atttypid))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" of the row type has type %s, but model \"%s\" learnt it as %s",
							name, format_type_be(att->atttypid), model_name,
							format_type_be(col->typid))));
		map[i].model_col = c;
		if (col->kind == AIGC_CATEGORICAL)
		{
			/* the base type's input: a domain's checks reject rows, not the call */
			int32		basemod = att->atttypmod;
			Oid			base = getBaseTypeAndTypmod(att->atttypid, &basemod);

			map[i].labels = palloc(sizeof(Datum) * Max(col->ncats, 1));
			for (int k = 0; k < col->ncats; k++)
				map[i].labels[k] = aigc_label_to_datum(col->cats[k], base, basemod);
		}
		else if (!(col->has_nulls && col->null_frac >= 1.0))
			check_range_fits(col, name, model_name, att->atttypid, att->atttypmod);
		map_domain(&map[i], col, name, model_name, econtext);
	}
	return map;
}

/*
 * The model, from the cache again before each batch: a cached pointer is
 * only valid until the next lookup, and other functions of the query may
 * look models up between our calls.  After an invalidation the version in
 * use may have changed; the rows keep coming from the version loaded first.
 */
static void
refresh_model(SampleState *st)
{
	AigcCachedModel *e;

	aigc_generator_settle(&st->gen);
	e = aigc_model_cache_lookup(st->name, strlen(st->name), st->requested);

	if (st->model != NULL && e->load_id != st->load_id && e->version != st->version)
		e = aigc_model_cache_lookup(st->name, strlen(st->name), st->version);
	st->model = e->model;
	st->version = e->version;
	st->load_id = e->load_id;
	st->gen.model = e->model;
}

/*
 * ERROR when n rows cannot be reached within max_draws generated rows:
 * once max_draws rows are generated, or, from EARLY_DRAWS on, as soon as
 * drawn + (n - accepted) * drawn / (accepted + 1), the draws the rest would
 * take at the observed rate (optimistic by one row), exceeds max_draws.
 */
static void
give_up_if_hopeless(const SampleState *st)
{
	double		projected;
	const char *what;

	if (st->drawn < EARLY_DRAWS)
		return;
	projected = (double) st->drawn +
		(double) (st->n - st->accepted) * st->drawn / (st->accepted + 1);
	if (st->drawn < st->max_draws && projected <= (double) st->max_draws)
		return;
	if (st->conds == NULL)
		what = "the domain constraints of the row type";
	else if (st->domains)
		what = psprintf("conditions %s and the domain constraints of the row type",
						st->conds->text);
	else
		what = psprintf("conditions %s", st->conds->text);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("model \"%s\" did not produce " INT64_FORMAT " rows satisfying %s",
					st->name, st->n, what),
			 errdetail("Only " INT64_FORMAT " of " INT64_FORMAT " generated rows satisfied them (acceptance rate %.3g%%); at most " INT64_FORMAT " rows are generated for " INT64_FORMAT " requested.",
					   st->accepted, st->drawn,
					   100.0 * st->accepted / st->drawn, st->max_draws, st->n),
			 errhint("Relax the conditions or ask for fewer rows.")));
}

/*
 * Row r of the generator's batch as a composite Datum in the current
 * context, or false if a domain constraint rejects it.
 */
static bool
make_row(SampleState *st, int r, Datum *row)
{
	TupleDesc	desc = st->desc;

	for (int i = 0; i < desc->natts; i++)
	{
		const TargetColumn *t = &st->map[i];
		int			k = -1;		/* category index, if a label */
		bool		ok;

		st->nulls[i] = true;
		st->values[i] = (Datum) 0;
		if (t->model_col >= 0 && !st->gen.decoded[t->model_col].isnull[r])
		{
			const AigcColumnData *d = &st->gen.decoded[t->model_col];

			st->nulls[i] = false;
			if (t->labels != NULL)
			{
				k = (int) d->value[r];
				st->values[i] = t->labels[k];
			}
			else
				st->values[i] = aigc_column_to_datum(&st->model->colenc.cols[t->model_col],
													 d->value[r], t->typid, t->typmod);
		}
		if (t->domain == NULL)
			continue;
		if (st->nulls[i])
			ok = t->null_ok;
		else if (k >= 0)
			ok = t->label_ok[k];
		else
			ok = domain_accepts(st->econtext, t, st->values[i], false);
		if (!ok)
			return false;
	}
	*row = HeapTupleGetDatum(heap_form_tuple(desc, st->values, st->nulls));
	return true;
}

static SampleState *
sample_init(FunctionCallInfo fcinfo)
{
	SampleState *st = palloc0(sizeof(SampleState));
	Oid			rowtype = get_fn_expr_argtype(fcinfo->flinfo, 0);
	uint64		seed;

	if (!OidIsValid(rowtype) || !type_is_rowtype(rowtype))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("first argument of aigc_sample must be a row type"),
				 errhint("Pass a typed NULL such as NULL::my_table.")));
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model and n must not be NULL")));
	st->name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	st->n = PG_GETARG_INT64(2);
	if (st->n < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("number of rows to sample must not be negative")));
	seed = PG_ARGISNULL(3) ? pg_prng_uint64(&pg_global_prng_state)
		: (uint64) PG_GETARG_INT64(3);
	st->requested = PG_ARGISNULL(4) ? 0 : PG_GETARG_INT32(4);
	if (!PG_ARGISNULL(4) && st->requested <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model version must be positive")));

	st->rowtype = rowtype;
	get_typlenbyvalalign(rowtype, &st->typlen, &st->typbyval, &st->typalign);
	st->desc = BlessTupleDesc(lookup_rowtype_tupdesc_copy(getBaseType(rowtype), -1));
	st->econtext = CreateStandaloneExprContext();
	refresh_model(st);
	st->map = map_columns(st->model, st->name, st->desc, st->econtext);
	for (int i = 0; i < st->desc->natts; i++)
		st->domains |= st->map[i].domain != NULL;
	if (!PG_ARGISNULL(5))
		st->conds = aigc_conditions_parse(PG_GETARG_JSONB_P(5), st->model, st->name);
	aigc_rng_seed(&st->rng, seed);
	/* without rejection no call makes more rows than were asked for */
	aigc_generator_init(&st->gen, st->model, &st->rng,
						st->conds != NULL || st->domains ? SAMPLE_BATCH :
						(int) Max(Min((int64) SAMPLE_BATCH, st->n), 1));
	/* CTGAN's sampling with a condition column: fix the conditional vector */
	if (st->conds != NULL && st->model->kind == AIGC_KIND_GAN)
		aigc_conditions_gan_slot(st->conds, st->model->net, &st->gen.cond_col,
								 &st->gen.cond_slot);
	if (st->conds != NULL)
		aigc_generator_condition(&st->gen, st->conds->conds, st->conds->n);
	st->max_draws = st->n > PG_INT64_MAX / DRAWS_PER_ROW ? PG_INT64_MAX :
		Max(DRAWS_PER_ROW * st->n, MIN_DRAWS);
	st->values = palloc(sizeof(Datum) * Max(st->desc->natts, 1));
	st->nulls = palloc(sizeof(bool) * Max(st->desc->natts, 1));
	st->rows = palloc(sizeof(Datum) * SAMPLE_BATCH);
	st->batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "aigc_sample batch",
										  ALLOCSET_DEFAULT_SIZES);
	return st;
}

/*
 * The rows of the generator's batch that pass the conditions and the
 * domain constraints, as tuples into st->rows (st->batch_rows of them were
 * generated)
 */
static void
make_rows(void *arg)
{
	SampleState *st = arg;

	for (int r = 0; r < st->batch_rows && st->accepted < st->n; r++)
	{
		if (st->conds &&
			!aigc_conditions_accept(st->conds, &st->model->colenc, st->gen.decoded, r))
			continue;
		if (make_row(st, r, &st->rows[st->nrows]))
		{
			st->nrows++;
			st->accepted++;
		}
	}
}

/*
 * The next batch of accepted rows into st->rows (st->nrows of them, in
 * st->batch_cxt until the next call); 0 once n rows were returned.  Without
 * rejection a batch is min(SAMPLE_BATCH, rows still due) rows; with
 * conditions or domain constraints, whole batches are drawn and the rows
 * that pass kept (rejection sampling).  Either way the generator sees the
 * same calls as when all rows were made at once, so a seed gives the same
 * rows.  On more than one thread the generator makes the following batch
 * while this one becomes tuples and the query uses them (generate.h).
 */
static int
next_batch(SampleState *st)
{
	st->nrows = 0;
	while (st->nrows == 0 && st->accepted < st->n)
	{
		bool		rejecting = st->conds != NULL || st->domains;
		int			batch = rejecting ? SAMPLE_BATCH :
			(int) Min((int64) SAMPLE_BATCH, st->n - st->accepted);
		int			following = rejecting ? SAMPLE_BATCH :
			(int) Min((int64) SAMPLE_BATCH, st->n - st->accepted - batch);
		MemoryContext caller;

		CHECK_FOR_INTERRUPTS();
		if (rejecting)
			give_up_if_hopeless(st);
		refresh_model(st);
		MemoryContextReset(st->batch_cxt);
		ResetExprContext(st->econtext);
		caller = MemoryContextSwitchTo(st->batch_cxt);
		aigc_generator_next(&st->gen, batch);
		st->drawn += batch;
		st->batch_rows = batch;
		if (following > 0)
			aigc_generator_ahead(&st->gen, following, make_rows, st);
		else
			make_rows(st);
		MemoryContextSwitchTo(caller);
	}
	return st->nrows;
}

/* The state of a sampling call, made on its first call */
static SampleState *
sample_state(FunctionCallInfo fcinfo)
{
	FuncCallContext *funcctx;

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext caller;

		funcctx = SRF_FIRSTCALL_INIT();
		caller = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		funcctx->user_fctx = sample_init(fcinfo);
		MemoryContextSwitchTo(caller);
	}
	funcctx = SRF_PERCALL_SETUP();
	return (SampleState *) funcctx->user_fctx;
}

/*
 * aigc.sample_batches(rowtype, model, n, seed, version, conditions): the
 * rows of aigc_sample() as arrays of at most SAMPLE_BATCH rows, one per
 * call (next_batch).
 */
Datum
aigc_sample_batches(PG_FUNCTION_ARGS)
{
	SampleState *st = sample_state(fcinfo);
	FuncCallContext *funcctx = SRF_PERCALL_SETUP();

	if (next_batch(st) > 0)
		SRF_RETURN_NEXT(funcctx,
						PointerGetDatum(construct_array(st->rows, st->nrows, st->rowtype,
														st->typlen, st->typbyval,
														st->typalign)));
	SRF_RETURN_DONE(funcctx);
}

/*
 * aigc_sample() as aigc_pg 0.1.0 declares it: a C function returning the
 * rows themselves.  Kept so that a database whose extension is still at
 * 0.1.0 samples with this library; it runs under a Function Scan, which
 * collects every row before returning the first (ALTER EXTENSION aigc_pg
 * UPDATE brings the streaming aigc_sample).
 */
Datum
aigc_sample(PG_FUNCTION_ARGS)
{
	SampleState *st = sample_state(fcinfo);
	FuncCallContext *funcctx = SRF_PERCALL_SETUP();

	if (st->next == st->nrows)
	{
		st->next = 0;
		if (next_batch(st) == 0)
			SRF_RETURN_DONE(funcctx);
	}
	SRF_RETURN_NEXT(funcctx, st->rows[st->next++]);
}
