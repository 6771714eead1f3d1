/*
 * reader.c
 *		Reads training rows through SPI, so the caller's privileges and
 *		row-level security decide what the model may learn.  Rows are fetched
 *		in batches through a cursor to keep SPI's own memory bounded.
 */
#include "postgres.h"

#include <string.h>

#include "access/relation.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/primnodes.h"
#include "rewrite/rewriteHandler.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "store/citus_sync.h"
#include "store/reader.h"
#include "store/column_types.h"

#define FETCH_ROWS 10000

typedef struct LabelEntry
{
	char	   *label;			/* hash key: points at a palloc'd copy */
	int			index;
} LabelEntry;

/* Per-column state while reading */
typedef struct ColumnReader
{
	int			attno;			/* 1-based in the cursor's tuple */
	Oid			outfunc;
	bool		is_bigint;		/* keeps the exact range beside the doubles */
	MemoryContext cxt;			/* holds the labels, outliving every batch */
	HTAB	   *labels;
	int			nlabels;
	int			labels_cap;
	char	  **label_list;
} ColumnReader;

static uint32
label_hash(const void *key, Size keysize)
{
	const char *s = *(char *const *) key;

	return hash_bytes((const unsigned char *) s, strlen(s));
}

static int
label_match(const void *key1, const void *key2, Size keysize)
{
	return strcmp(*(char *const *) key1, *(char *const *) key2);
}

bool
aigc_name_in_list(List *names, const char *name)
{
	ListCell   *lc;

	foreach(lc, names)
		if (strcmp(lfirst(lc), name) == 0)
			return true;
	return false;
}

/*
 * Keys are not data: identity columns and columns whose default is
 * nextval() are left out.  serial and smallserial defaults are nextval()
 * under an implicit cast to the column type, bigserial's is bare; a cast
 * written by hand is looked through the same way.
 */
static bool
is_key_column(Relation rel, Form_pg_attribute att)
{
	Node	   *def;

	if (att->attidentity != '\0')
		return true;
	if (!att->atthasdef || att->attgenerated != '\0')
		return false;
	def = build_column_default(rel, att->attnum);
	for (;;)
	{
		if (def != NULL && IsA(def, RelabelType))
			def = (Node *) ((RelabelType *) def)->arg;
		else if (def != NULL && IsA(def, FuncExpr) &&
				 ((FuncExpr *) def)->funcformat != COERCE_EXPLICIT_CALL &&
				 list_length(((FuncExpr *) def)->args) == 1)
			def = linitial(((FuncExpr *) def)->args);
		else
			break;
	}
	return def != NULL && IsA(def, FuncExpr) &&
		((FuncExpr *) def)->funcid == F_NEXTVAL;
}

/* A regclass can hold any OID: a missing relation is the user's error */
static Relation
open_relation(Oid relid)
{
	Relation	rel = try_relation_open(relid, AccessShareLock);

	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	return rel;
}

List *
aigc_key_columns(Oid relid)
{
	Relation	rel = open_relation(relid);
	TupleDesc	desc = RelationGetDescr(rel);
	List	   *keys = NIL;

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && is_key_column(rel, att))
			keys = lappend(keys, pstrdup(NameStr(att->attname)));
	}
	relation_close(rel, AccessShareLock);
	return keys;
}

static void
check_exclude_found(List *exclude, List *seen)
{
	ListCell   *lc;

	foreach(lc, exclude)
		if (!aigc_name_in_list(seen, lfirst(lc)))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" named in option \"exclude\" does not exist",
							(char *) lfirst(lc))));
}

static int
add_label(ColumnReader *cr, const char *label, int max_categories,
		  const char *colname)
{
	bool		found;
	LabelEntry *e = hash_search(cr->labels, &label, HASH_ENTER, &found);

	if (!found)
	{
		if (cr->nlabels >= max_categories)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("column \"%s\" has more than %d distinct values",
							colname, max_categories),
					 errhint("Raise the training option \"max_categories\", or leave the column out with \"exclude\".")));
		e->label = MemoryContextStrdup(cr->cxt, label);
		e->index = cr->nlabels;
		if (cr->nlabels == cr->labels_cap)
		{
			cr->labels_cap = Max(16, cr->labels_cap * 2);
			cr->label_list = cr->label_list == NULL ?
				MemoryContextAlloc(cr->cxt, sizeof(char *) * cr->labels_cap) :
				repalloc(cr->label_list, sizeof(char *) * cr->labels_cap);
		}
		cr->label_list[cr->nlabels++] = e->label;
	}
	return e->index;
}

static int
cmp_label_ptr(const void *a, const void *b)
{
	return strcmp(**(char **const *) a, **(char **const *) b);
}

/* Sort labels so a model does not depend on scan order; remap indices */
static void
finish_categorical(AigcColumn *col, ColumnReader *cr, AigcColumnData *data,
				   int64 nrows)
{
	char	  ***order = palloc(sizeof(char **) * Max(cr->nlabels, 1));
	int		   *remap = palloc(sizeof(int) * Max(cr->nlabels, 1));

	for (int i = 0; i < cr->nlabels; i++)
		order[i] = &cr->label_list[i];
	qsort(order, cr->nlabels, sizeof(char **), cmp_label_ptr);
	col->ncats = cr->nlabels;
	col->cats = palloc(sizeof(char *) * Max(cr->nlabels, 1));
	for (int i = 0; i < cr->nlabels; i++)
	{
		col->cats[i] = *order[i];
		remap[order[i] - cr->label_list] = i;
	}
	for (int64 r = 0; r < nrows; r++)
		if (!data->isnull[r])
			data->value[r] = remap[(int) data->value[r]];
	hash_destroy(cr->labels);
}

static void
init_column(AigcColumn *col, const char *name, Oid typid, int32 typmod)
{
	memset(col, 0, sizeof(*col));
	col->name = pstrdup(name);
	col->typid = typid;
	col->typmod = typmod;
	col->kind = aigc_type_kind(typid, name, &col->integral);
}

/*
 * Where row number `seen` (0-based, in scan order) goes: appended while
 * fewer than max_rows are kept, then into a random slot or nowhere
 * (reservoir sampling, Vitter's algorithm R), so every row is equally
 * likely to be kept.  max_rows <= 0 keeps every row.
 */
static int64
reservoir_slot(int64 seen, int64 max_rows, AigcRng *rng)
{
	uint64		j;

	if (max_rows <= 0 || seen < max_rows)
		return seen;
	j = aigc_rng_below(rng, (uint64) seen + 1);
	return j < (uint64) max_rows ? (int64) j : -1;
}

/*
 * Give every column room for cap rows.  All columns share one allocation,
 * regrown as a whole: once large it is a mapping of its own that the
 * allocator grows in place, where ncols arrays regrown one after another
 * would leave holes of freed memory as large as the data, and the process
 * would keep them.  Layout: the ncols value arrays, then the ncols NULL
 * flag arrays, each cap long; the rows kept so far move to their new places,
 * last array first, since every array moves up.
 */
static char *
grow_columns(AigcTrainingData *out, char *block, int64 old_cap, int64 cap,
			 MemoryContext keep)
{
	int			nc = out->ncols;
	Size		size = (Size) cap * nc * (sizeof(double) + sizeof(bool));
	Size		old_nulls = (Size) old_cap * nc * sizeof(double);
	Size		nulls = (Size) cap * nc * sizeof(double);

	block = block == NULL ? MemoryContextAllocHuge(keep, size) :
		repalloc_huge(block, size);
	for (int c = nc - 1; c >= 0; c--)
		memmove(block + nulls + (Size) c * cap,
				block + old_nulls + (Size) c * old_cap,
				sizeof(bool) * out->nrows);
	for (int c = nc - 1; c >= 0; c--)
		memmove(block + (Size) c * cap * sizeof(double),
				block + (Size) c * old_cap * sizeof(double),
				sizeof(double) * out->nrows);
	for (int c = 0; c < nc; c++)
	{
		out->data[c].value = (double *) (block + (Size) c * cap * sizeof(double));
		out->data[c].isnull = (bool *) (block + nulls + (Size) c * cap);
	}
	return block;
}

/*
 * The exact range of a bigint column, over every row ever taken into the
 * sample (a superset of the rows finally kept)
 */
static void
note_exact(AigcColumn *col, int64 v)
{
	if (!col->has_exact_range || v < col->exact_min)
		col->exact_min = v;
	if (!col->has_exact_range || v > col->exact_max)
		col->exact_max = v;
	col->has_exact_range = true;
}

/*
 * Fetch the rows of the open cursor into out->data, all of them or a
 * uniform sample of max_rows.  Allocations are made in `keep`, outside
 * SPI's memory, so they survive SPI_finish.  Returns the rows scanned.
 */
static int64
fetch_rows(Portal portal, ColumnReader *readers, AigcTrainingData *out,
		   int max_categories, int64 max_rows, AigcRng *rng,
		   MemoryContext keep)
{
	int64		cap = 0;
	int64		seen = 0;
	int			nc = out->ncols;
	char	   *block = NULL;

	/* conversions (numeric to double, labels) leave garbage: freed per batch */
	MemoryContext batch_cxt = AllocSetContextCreate(keep, "aigc rows batch",
													ALLOCSET_DEFAULT_SIZES);

	out->nrows = 0;
	for (;;)
	{
		MemoryContext old;
		int64		want;

		CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(portal, true, FETCH_ROWS);
		if (SPI_processed == 0)
			break;
		old = MemoryContextSwitchTo(batch_cxt);
		want = out->nrows + (int64) SPI_processed;
		if (max_rows > 0)
			want = Min(want, max_rows);
		if (want > cap)
		{
			int64		grown = Max(cap * 2, want);

			if (max_rows > 0)
				grown = Min(grown, max_rows);
			block = grow_columns(out, block, cap, grown, keep);
			cap = grown;
		}
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			int64		r = reservoir_slot(seen++, max_rows, rng);

			if (r < 0)
				continue;
			if (r == out->nrows)
				out->nrows++;
			for (int c = 0; c < nc; c++)
			{
				bool		isnull;
				Datum		d = SPI_getbinval(tup, desc, readers[c].attno, &isnull);
				AigcColumn *col = &out->cols[c];

				out->data[c].isnull[r] = isnull;
				out->data[c].value[r] = 0.0;
				if (isnull)
					continue;
				if (col->kind == AIGC_CONTINUOUS)
				{
					out->data[c].value[r] = aigc_datum_to_double(d, col->typid, col->name);
					if (readers[c].is_bigint)
						note_exact(col, DatumGetInt64(d));
				}
				else
				{
					char	   *label = OidOutputFunctionCall(readers[c].outfunc, d);

					out->data[c].value[r] = add_label(&readers[c], label,
													  max_categories, col->name);
					pfree(label);
				}
			}
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(batch_cxt);
		SPI_freetuptable(SPI_tuptable);
	}
	for (int c = 0; c < nc; c++)
		if (out->cols[c].kind == AIGC_CATEGORICAL)
		{
			MemoryContext old = MemoryContextSwitchTo(keep);

			finish_categorical(&out->cols[c], &readers[c], &out->data[c], out->nrows);
			MemoryContextSwitchTo(old);
		}
	return seen;
}

/* Per-column readers for the columns in out->cols, found in the cursor by name */
static ColumnReader *
make_readers(AigcTrainingData *out, TupleDesc desc, const int *attnos,
			 MemoryContext keep)
{
	ColumnReader *readers = palloc0(sizeof(ColumnReader) * out->ncols);

	for (int c = 0; c < out->ncols; c++)
	{
		bool		varlena;

		readers[c].attno = attnos[c];
		readers[c].is_bigint = out->cols[c].kind == AIGC_CONTINUOUS &&
			getBaseType(out->cols[c].typid) == INT8OID;
		getTypeOutputInfo(TupleDescAttr(desc, attnos[c] - 1)->atttypid,
						  &readers[c].outfunc, &varlena);
		if (out->cols[c].kind == AIGC_CATEGORICAL)
		{
			HASHCTL		ctl;

			ctl.keysize = sizeof(char *);
			ctl.entrysize = sizeof(LabelEntry);
			ctl.hash = label_hash;
			ctl.match = label_match;
			/* not SPI's memory: the labels outlive SPI_finish */
			readers[c].cxt = keep;
			ctl.hcxt = CurrentMemoryContext;
			readers[c].labels = hash_create("aigc labels", 256, &ctl,
											HASH_ELEM | HASH_FUNCTION |
											HASH_COMPARE | HASH_CONTEXT);
		}
	}
	return readers;
}

static void
no_columns(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("no columns left to train on"),
			 errdetail("Every column was excluded or is a key column.")));
}

/*
 * Read the rows (or a sample) of an open cursor whose columns are in
 * out->cols.  max_bytes bounds the values kept, whatever max_rows says.
 */
static int64
read_cursor(Portal portal, const int *attnos, int max_categories,
			int64 max_rows, int64 max_bytes, AigcRng *rng,
			AigcTrainingData *out, MemoryContext keep)
{
	ColumnReader *readers = make_readers(out, portal->tupDesc, attnos, keep);

	if (max_bytes > 0)
	{
		int64		fit = Max(max_bytes / aigc_row_bytes(out->ncols), 1);

		max_rows = max_rows > 0 ? Min(max_rows, fit) : fit;
	}
	out->data = MemoryContextAllocZero(keep, sizeof(AigcColumnData) * out->ncols);
	return fetch_rows(portal, readers, out, max_categories, max_rows, rng, keep);
}

int64
aigc_row_bytes(int ncols)
{
	return (int64) ncols * (sizeof(double) + sizeof(bool));
}

void
aigc_read_relation(Oid relid, List *exclude, int max_categories,
				   AigcTrainingData *out)
{
	aigc_read_relation_sample(relid, exclude, max_categories, 0, 0, NULL, out);
}

int64
aigc_read_relation_sample(Oid relid, List *exclude, int max_categories,
						  int64 max_rows, int64 max_bytes, AigcRng *rng,
						  AigcTrainingData *out)
{
	MemoryContext keep = CurrentMemoryContext;
	Relation	rel = open_relation(relid);
	TupleDesc	desc = RelationGetDescr(rel);
	StringInfoData sql;
	List	   *seen = NIL;
	int		   *attnos;
	Portal		portal;
	SPIPlanPtr	plan;
	int64		scanned;

	if (rel->rd_rel->relkind != RELKIND_RELATION &&
		rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE &&
		rel->rd_rel->relkind != RELKIND_VIEW &&
		rel->rd_rel->relkind != RELKIND_MATVIEW &&
		rel->rd_rel->relkind != RELKIND_FOREIGN_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table, view or materialized view",
						RelationGetRelationName(rel))));

	memset(out, 0, sizeof(*out));
	out->cols = palloc0(sizeof(AigcColumn) * Max(desc->natts, 1));
	attnos = palloc(sizeof(int) * Max(desc->natts, 1));
	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		char	   *name = NameStr(att->attname);

		if (att->attisdropped)
			continue;
		seen = lappend(seen, name);
		if (aigc_name_in_list(exclude, name))
		{
			out->excluded = lappend(out->excluded, pstrdup(name));
			continue;
		}
		if (is_key_column(rel, att))
		{
			ereport(NOTICE,
					(errmsg("column \"%s\" is an identity or serial key and is not modelled; samples have NULL there",
							name)));
			out->excluded = lappend(out->excluded, pstrdup(name));
			continue;
		}
		/* a value computed from the others would be learnt as independent */
		if (att->attgenerated != '\0')
		{
			ereport(NOTICE,
					(errmsg("column \"%s\" is a generated column and is not modelled; samples have NULL there",
							name)));
			out->excluded = lappend(out->excluded, pstrdup(name));
			continue;
		}
		init_column(&out->cols[out->ncols], name, att->atttypid, att->atttypmod);
		appendStringInfo(&sql, "%s%s", out->ncols > 0 ? ", " : "",
						 quote_identifier(name));
		out->ncols++;
		attnos[out->ncols - 1] = out->ncols;
	}
	check_exclude_found(exclude, seen);
	if (out->ncols == 0)
		no_columns();
	out->source = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
											 RelationGetRelationName(rel));
	appendStringInfo(&sql, " FROM %s", out->source);
	relation_close(rel, NoLock);
	if (max_bytes > 0)
		appendStringInfoString(&sql,
							   aigc_citus_tablesample(relid,
													  max_bytes / aigc_row_bytes(out->ncols),
													  rng));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = SPI_prepare(sql.data, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql.data,
			 SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open("aigc_train_scan", plan, NULL, NULL, true);
	scanned = read_cursor(portal, attnos, max_categories, max_rows, max_bytes,
						  rng, out, keep);
	SPI_cursor_close(portal);
	SPI_finish();
	return scanned;
}

void
aigc_read_query(const char *query, List *exclude, int max_categories,
				AigcTrainingData *out)
{
	aigc_read_query_sample(query, exclude, max_categories, 0, 0, NULL, out);
}

int64
aigc_read_query_sample(const char *query, List *exclude, int max_categories,
					   int64 max_rows, int64 max_bytes, AigcRng *rng,
					   AigcTrainingData *out)
{
	MemoryContext keep = CurrentMemoryContext;
	SPIPlanPtr	plan;
	Portal		portal;
	TupleDesc	desc;
	List	   *seen = NIL;
	int		   *attnos;
	int64		scanned;

	memset(out, 0, sizeof(*out));
	out->source = pstrdup(query);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = SPI_prepare(query, 0, NULL);
	if (plan == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("could not prepare training query: %s",
						SPI_result_code_string(SPI_result))));
	if (!SPI_is_cursor_plan(plan))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("training query must be a single SELECT that returns rows")));
	portal = SPI_cursor_open("aigc_train_query", plan, NULL, NULL, true);
	desc = portal->tupDesc;

	MemoryContextSwitchTo(keep);
	out->cols = palloc0(sizeof(AigcColumn) * Max(desc->natts, 1));
	attnos = palloc(sizeof(int) * Max(desc->natts, 1));
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		char	   *name = NameStr(att->attname);

		if (aigc_name_in_list(seen, name))
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_COLUMN),
					 errmsg("training query returns more than one column named \"%s\"", name),
					 errhint("Give every column a distinct name with AS.")));
		seen = lappend(seen, name);
		if (aigc_name_in_list(exclude, name))
		{
			out->excluded = lappend(out->excluded, pstrdup(name));
			continue;
		}
		init_column(&out->cols[out->ncols], name, att->atttypid, att->atttypmod);
		attnos[out->ncols++] = i + 1;
	}
	check_exclude_found(exclude, seen);
	if (out->ncols == 0)
		no_columns();
	scanned = read_cursor(portal, attnos, max_categories, max_rows, max_bytes,
						  rng, out, keep);
	SPI_cursor_close(portal);
	SPI_finish();
	return scanned;
}
