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

#include "columns.h"

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
extern void aigc_read_query(const char *query, List *exclude, int max_categories,
							AigcTrainingData *out);

#endif
