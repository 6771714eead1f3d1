/*
 * score.h
 *		Scoring rows of any composite type against a model: the mapping of a
 *		row type's attributes to the model's columns, and one row's score.
 *		Shared by the SQL functions (score.c) and the trigger
 *		(score_trigger.c).
 */
#ifndef AIGC_SCORE_H
#define AIGC_SCORE_H

#include "postgres.h"
#include "access/htup.h"
#include "access/tupdesc.h"
#include "fmgr.h"

#include "store/model_cache.h"

/* Where a model column's value comes from in the row */
typedef struct AigcColumnSource
{
	int			attno;			/* 0-based attribute of the row */
	Oid			typid;			/* the row's type of it */
	int32		typmod;
	bool		varlena_label;	/* text-like: the bytes are the label */
	bool		bool_label;		/* boolean: "t" or "f", as boolout */
	FmgrInfo	out;			/* output function of typid */
} AigcColumnSource;

typedef struct AigcRowMap
{
	MemoryContext cxt;			/* holds the map */
	uint64		load_id;		/* the cached model it was built for, or 0 */
	TupleDesc	desc;			/* copy of the row type */
	int			ncols;			/* the model's columns */
	AigcColumnSource *cols;
	Datum	   *values;			/* the row, deformed */
	bool	   *nulls;
} AigcRowMap;

/*
 * Map desc's attributes to the model's columns by name, in a new child
 * context of parent (delete map->cxt to free it); load_id says which cached
 * model it belongs to.  ERROR
 * naming the column when a model column is missing (what: "the row",
 * "table \"t\"") or has an incompatible type; other attributes are ignored.
 */
extern AigcRowMap *aigc_row_map_build(const AigcModel *model,
									  const char *model_name, uint64 load_id,
									  TupleDesc desc, const char *what,
									  MemoryContext parent);

/* ERROR unless the model kind can be scored */
extern void aigc_check_scorable(const AigcModel *model);

/* ERROR (0A000 naming the kind) unless the model has an encoder; function: the caller */
extern void aigc_check_encodable(const char *function, const char *name,
								 const AigcModel *model);

/*
 * Score one row of map's type: fills m->terms (per-column terms, then
 * KL; see docs/scoring.md) and returns their sum, in that order.
 */
extern double aigc_score_tuple(AigcCachedModel *m, AigcRowMap *map,
							   HeapTuple tuple);

#endif
