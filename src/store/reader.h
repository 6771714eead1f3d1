/*
 * reader.h
 *		Training-data reader: scans a relation or runs a query with the
 *		caller's privileges and keeps each column as numbers or category
 *		indices.
 */
#ifndef AIGC_READER_H
#define AIGC_READER_H

#include "postgres.h"
#include "nodes/pg_list.h"

#include "core/columns.h"
#include "core/rng.h"

typedef struct AigcTrainingData
{
	int			ncols;
	AigcColumn *cols;			/* name, type, kind; labels for categorical */
	AigcColumnData *data;		/* ncols arrays of nrows values */
	int64		nrows;
	List	   *excluded;		/* source columns not modelled (char *) */
	char	   *source;			/* qualified relation name or query text */
} AigcTrainingData;

extern void aigc_read_relation(Oid relid, List *exclude, int max_categories,
							   AigcTrainingData *out);
/*
 * As aigc_read_relation and aigc_read_query, but keep a uniform random
 * sample of at most max_rows rows, and of no more rows than fit in
 * max_bytes (reservoir sampling with rng; a limit <= 0 is no limit).
 * Return the number of rows scanned.
 */
extern int64 aigc_read_relation_sample(Oid relid, List *exclude,
									   int max_categories, int64 max_rows,
									   int64 max_bytes, AigcRng *rng,
									   AigcTrainingData *out);
extern int64 aigc_read_query_sample(const char *query, List *exclude,
									int max_categories, int64 max_rows,
									int64 max_bytes, AigcRng *rng,
									AigcTrainingData *out);
/* Bytes one row of ncols columns takes in AigcTrainingData */
extern int64 aigc_row_bytes(int ncols);
/* Whether a List of C strings holds name */
extern bool aigc_name_in_list(List *names, const char *name);
/* Names of the identity and serial key columns of a relation */
extern List *aigc_key_columns(Oid relid);
extern void aigc_read_query(const char *query, List *exclude, int max_categories,
							AigcTrainingData *out);

#endif
