/*
 * model_store.h
 *		The aigc.model_store table: adding a trained version, fetching one.
 */
#ifndef AIGC_MODEL_STORE_H
#define AIGC_MODEL_STORE_H

#include "postgres.h"
#include "utils/jsonb.h"

#include "model.h"

typedef struct AigcStoreEntry
{
	const char *name;
	const char *kind;
	const char *source_kind;	/* "relation" or "query" */
	const char *source;
	Jsonb	   *columns;
	Jsonb	   *hyperparams;
	Jsonb	   *loss;
	int64		train_rows;
	double		train_seconds;
	Jsonb	   *stats;
	bytea	   *weights;
} AigcStoreEntry;

/* Inserts the entry as the next version of its name; returns that version */
extern int	aigc_store_insert(const AigcStoreEntry *entry);

/* Newest version when version is NULL-ish (<= 0); ERROR if none */
extern AigcModel *aigc_store_load(const char *name, int version, int *loaded_version);

#endif
