/*
 * score_trigger.c
 *		aigc_score_trigger(model, score_column [, flag_column | 'reject',
 *		threshold]): a BEFORE INSERT OR UPDATE row trigger that writes each
 *		row's anomaly score into score_column, and optionally sets the boolean
 *		flag_column to score > threshold, or rejects rows scoring above it.
 *
 * The arguments and the mapping of the table's columns to the model's are
 * checked on the first row of a statement and kept in fn_extra for the
 * rest of it (rebuilt if the cached model is reloaded meanwhile).
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "score/score.h"

PG_FUNCTION_INFO_V1(aigc_score_trigger);

typedef struct TriggerState
{
	AigcRowMap *map;
	int			score_attno;	/* 1-based, as heap_modify_tuple_by_cols */
	Oid			score_type;		/* float8, float4 or numeric (base type) */
	int32		score_typmod;
	int			flag_attno;		/* 0: no flag column */
	bool		reject;
	double		threshold;
} TriggerState;

/* 1-based number of a live column of rel, or ERROR naming it */
static int
column_number(Relation rel, Trigger *trigger, const char *name, Oid *base,
			  int32 *typmod)
{
	TupleDesc	desc = RelationGetDescr(rel);

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
		{
			*typmod = att->atttypmod;
			*base = getBaseTypeAndTypmod(att->atttypid, typmod);
			return i + 1;
		}
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 errmsg("column \"%s\" named by trigger \"%s\" does not exist in table \"%s\"",
					name, trigger->tgname, RelationGetRelationName(rel))));
	pg_unreachable();
}

/* Check the trigger's arguments and target columns, once per statement */
static void
parse_arguments(TriggerState *st, Relation rel, Trigger *trigger)
{
	char	  **args = trigger->tgargs;
	Oid			base;
	int32		typmod;

	if (trigger->tgnargs != 2 && trigger->tgnargs != 4)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("trigger \"%s\" must pass aigc_score_trigger 2 or 4 arguments",
						trigger->tgname),
				 errhint("Arguments: model, score_column [, flag_column or 'reject', threshold].")));
	st->score_attno = column_number(rel, trigger, args[1], &st->score_type,
									&st->score_typmod);
	if (st->score_type != FLOAT8OID && st->score_type != FLOAT4OID &&
		st->score_type != NUMERICOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("score column \"%s\" of table \"%s\" has type %s",
						args[1], RelationGetRelationName(rel), format_type_be(st->score_type)),
				 errhint("Scores go into a double precision, real or numeric column.")));
	if (trigger->tgnargs == 2)
		return;

	st->reject = strcmp(args[2], "reject") == 0;
	if (!st->reject)
	{
		st->flag_attno = column_number(rel, trigger, args[2], &base, &typmod);
		if (base != BOOLOID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("flag column \"%s\" of table \"%s\" has type %s",
							args[2], RelationGetRelationName(rel), format_type_be(base)),
					 errhint("The flag goes into a boolean column.")));
	}
	{
		char	   *end;

		errno = 0;
		st->threshold = strtod(args[3], &end);
		if (end == args[3] || *end != '\0' || errno != 0 || !isfinite(st->threshold))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("threshold \"%s\" of trigger \"%s\" is not a finite number",
							args[3], trigger->tgname)));
	}
}

static Datum
score_datum(const TriggerState *st, double score)
{
	Datum		n;

	if (st->score_type == FLOAT8OID)
		return Float8GetDatum(score);
	if (st->score_type == FLOAT4OID)
		return Float4GetDatum((float4) score);
	n = DirectFunctionCall1(float8_numeric, Float8GetDatum(score));
	if (st->score_typmod >= 0)
		n = DirectFunctionCall2(numeric, n, Int32GetDatum(st->score_typmod));
	return n;
}

/* The model column with the largest term, for the rejection message */
static int
largest_term(const AigcCachedModel *m)
{
	int			best = 0;

	for (int c = 1; c < m->model->colenc.ncols; c++)
		if (m->terms[c] > m->terms[best])
			best = c;
	return best;
}

Datum
aigc_score_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	TriggerState *st;
	Relation	rel;
	Trigger    *trigger;
	HeapTuple	tuple;
	AigcCachedModel *m;
	const char *model;
	char	   *what;
	double		score;
	int			cols[2];
	Datum		values[2];
	bool		nulls[2] = {false, false};
	int			ncols = 1;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("aigc_score_trigger() must be called as a trigger")));
	if (!TRIGGER_FIRED_BEFORE(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		!(TRIGGER_FIRED_BY_INSERT(td->tg_event) || TRIGGER_FIRED_BY_UPDATE(td->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("aigc_score_trigger() must be fired BEFORE INSERT OR UPDATE, FOR EACH ROW")));
	rel = td->tg_relation;
	trigger = td->tg_trigger;
	tuple = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	if (trigger->tgnargs < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("trigger \"%s\" must name a model", trigger->tgname)));
	model = trigger->tgargs[0];

	m = aigc_model_cache_lookup(model, strlen(model), 0);
	aigc_check_scorable(m->model);
	st = (TriggerState *) fcinfo->flinfo->fn_extra;
	if (st == NULL)
	{
		st = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(TriggerState));
		parse_arguments(st, rel, trigger);
		fcinfo->flinfo->fn_extra = st;
	}
	if (st->map == NULL || st->map->load_id != m->load_id)
	{
		if (st->map != NULL)
			MemoryContextDelete(st->map->cxt);
		st->map = NULL;
		what = psprintf("table \"%s\"", RelationGetRelationName(rel));
		st->map = aigc_row_map_build(m->model, m->name, m->load_id,
									 RelationGetDescr(rel), what,
									 fcinfo->flinfo->fn_mcxt);
	}

	score = aigc_score_tuple(m, st->map, tuple);
	if (st->reject && score > st->threshold)
	{
		int			c = largest_term(m);

		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("row rejected by model \"%s\": anomaly score %.4f exceeds %g",
						model, score, st->threshold),
				 errdetail("Column \"%s\" contributes %.4f of the score.",
						   m->model->colenc.cols[c].name, m->terms[c]),
				 errhint("SELECT * FROM aigc_explain('%s', row) shows every column's part.",
						 model),
				 errtable(rel)));
	}

	cols[0] = st->score_attno;
	values[0] = score_datum(st, score);
	if (st->flag_attno > 0)
	{
		cols[1] = st->flag_attno;
		values[1] = BoolGetDatum(score > st->threshold);
		ncols = 2;
	}
	return PointerGetDatum(heap_modify_tuple_by_cols(tuple, RelationGetDescr(rel),
													 ncols, cols, values, nulls));
}
