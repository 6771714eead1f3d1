/*
 * sample.c
 *		aigc_sample(): synthetic rows typed as any composite whose columns
 *		match the model's by name, as json_populate_record types its result.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "common/pg_prng.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/typcache.h"
#include "utils/tuplestore.h"

#include "conditions.h"
#include "generate.h"
#include "model_cache.h"

PG_FUNCTION_INFO_V1(aigc_sample);

#define SAMPLE_BATCH 1000
/* Under conditions, at most max(DRAWS_PER_ROW * n, MIN_DRAWS) rows are generated */
#define DRAWS_PER_ROW 100
#define MIN_DRAWS 1000000

/* Where each attribute of the result row comes from */
typedef struct TargetColumn
{
	int			model_col;		/* -1: not modelled, always NULL */
	Oid			typid;
	int32		typmod;
	Datum	   *labels;			/* categorical: each category as a Datum */
} TargetColumn;

static TargetColumn *
map_columns(const AigcModel *model, const char *model_name, TupleDesc desc)
{
	TargetColumn *map = palloc0(sizeof(TargetColumn) * Max(desc->natts, 1));

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		const char *name = NameStr(att->attname);
		int			c;
		const AigcColumn *col;

		map[i].model_col = -1;
		if (att->attisdropped || aigc_model_excludes(model, name))
			continue;
		c = aigc_transformer_find_column(&model->tf, name);
		if (c < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of the row type is not produced by model \"%s\"",
							name, model_name),
					 errhint("Use a row type whose columns the model knows; aigc_create_type() makes one.")));
		col = &model->tf.cols[c];
		if (!aigc_types_compatible(col->typid, att->atttypid))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" of the row type has type %s, but model \"%s\" learnt it as %s",
							name, format_type_be(att->atttypid), model_name,
							format_type_be(col->typid))));
		map[i].model_col = c;
		map[i].typid = att->atttypid;
		map[i].typmod = att->atttypmod;
		if (col->kind == AIGC_CATEGORICAL)
		{
			map[i].labels = palloc(sizeof(Datum) * Max(col->ncats, 1));
			for (int k = 0; k < col->ncats; k++)
				map[i].labels[k] = aigc_label_to_datum(col->cats[k], att->atttypid,
													   att->atttypmod);
		}
	}
	return map;
}

Datum
aigc_sample(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			rowtype = get_fn_expr_argtype(fcinfo->flinfo, 0);
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext run_cxt;
	MemoryContext batch_cxt;
	char	   *name;
	int64		n;
	uint64		seed;
	int			version;
	AigcModel  *model;
	TupleDesc	desc;
	TargetColumn *map;
	AigcRng		rng;
	AigcConditions *conds = NULL;
	AigcGenerator gen;
	int64		drawn = 0;
	int64		max_draws;
	Datum	   *values;
	bool	   *nulls;

	if (!OidIsValid(rowtype) || !type_is_rowtype(rowtype))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("first argument of aigc_sample must be a row type"),
				 errhint("Pass a typed NULL such as NULL::my_table.")));
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model and n must not be NULL")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	n = PG_GETARG_INT64(2);
	if (n < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("number of rows to sample must not be negative")));
	seed = PG_ARGISNULL(3) ? pg_prng_uint64(&pg_global_prng_state)
		: (uint64) PG_GETARG_INT64(3);
	version = PG_ARGISNULL(4) ? 0 : PG_GETARG_INT32(4);
	if (!PG_ARGISNULL(4) && version <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model version must be positive")));

	InitMaterializedSRF(fcinfo, 0);
	desc = rsinfo->setDesc;

	run_cxt = AllocSetContextCreate(caller, "aigc_sample", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(run_cxt);
	model = aigc_model_cache_get(name, version, &version);
	map = map_columns(model, name, desc);
	if (!PG_ARGISNULL(5))
		conds = aigc_conditions_parse(PG_GETARG_JSONB_P(5), model, name);
	aigc_rng_seed(&rng, seed);
	aigc_generator_init(&gen, model, &rng, SAMPLE_BATCH);
	/* CTGAN's sampling with a condition column: fix the conditional vector */
	if (conds != NULL && model->kind == AIGC_KIND_GAN)
		aigc_conditions_gan_slot(conds, &model->gan, &gen.cond_col, &gen.cond_slot);
	max_draws = n > PG_INT64_MAX / DRAWS_PER_ROW ? PG_INT64_MAX :
		Max(DRAWS_PER_ROW * n, MIN_DRAWS);
	values = palloc(sizeof(Datum) * Max(desc->natts, 1));
	nulls = palloc(sizeof(bool) * Max(desc->natts, 1));
	/* converted values live only until their rows are in the tuplestore */
	batch_cxt = AllocSetContextCreate(run_cxt, "aigc_sample batch",
									  ALLOCSET_DEFAULT_SIZES);

	/*
	 * Under conditions, whole batches are drawn and the rows that satisfy
	 * them kept (rejection sampling), up to max_draws rows in all.
	 */
	for (int64 done = 0; done < n;)
	{
		int			batch = conds ? SAMPLE_BATCH : (int) Min((int64) SAMPLE_BATCH, n - done);

		CHECK_FOR_INTERRUPTS();
		if (conds != NULL && drawn >= max_draws)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("model \"%s\" did not produce " INT64_FORMAT " rows satisfying conditions %s",
							name, n, conds->text),
					 errdetail("Only " INT64_FORMAT " of " INT64_FORMAT " generated rows satisfied them.",
							   done, drawn),
					 errhint("Relax the conditions or ask for fewer rows.")));
		aigc_generator_next(&gen, batch);
		drawn += batch;
		MemoryContextReset(batch_cxt);
		MemoryContextSwitchTo(batch_cxt);
		for (int r = 0; r < batch && done < n; r++)
		{
			if (conds && !aigc_conditions_accept(conds, &model->tf, gen.decoded, r))
				continue;
			for (int i = 0; i < desc->natts; i++)
			{
				const TargetColumn *t = &map[i];
				const AigcColumnData *d;

				nulls[i] = true;
				values[i] = (Datum) 0;
				if (t->model_col < 0)
					continue;
				d = &gen.decoded[t->model_col];
				if (d->isnull[r])
					continue;
				nulls[i] = false;
				if (t->labels != NULL)
					values[i] = t->labels[(int) d->value[r]];
				else
					values[i] = aigc_column_to_datum(&model->tf.cols[t->model_col],
													 d->value[r], t->typid, t->typmod);
			}
			tuplestore_putvalues(rsinfo->setResult, desc, values, nulls);
			done++;
		}
		MemoryContextSwitchTo(run_cxt);
	}

	MemoryContextSwitchTo(caller);
	MemoryContextDelete(run_cxt);
	return (Datum) 0;
}
