/*
 * model_store.h
 *		The model store tables: privilege checks, adding a trained version,
 *		fetching the version in use.
 */
#ifndef AIGC_MODEL_STORE_H
#define AIGC_MODEL_STORE_H

#include "postgres.h"
#include "utils/jsonb.h"

#include "core/model.h"

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
	Jsonb	   *privacy;		/* the DP record; NULL without option privacy */
} AigcStoreEntry;

/*
 * Between begin and end, SPI runs as the store tables' owner, under
 * search_path pg_catalog, pg_temp; queries name operators and functions with
 * their schema (OPERATOR(pg_catalog.=), pg_catalog.max, ...).
 */
typedef struct AigcStoreAccess
{
	Oid			caller;			/* the user whose privileges count */
	int			sec_context;
	int			guc_nestlevel;	/* of the search_path setting */
	bool		locked;			/* model locked: read with fresh snapshots */
} AigcStoreAccess;

extern void aigc_store_begin(AigcStoreAccess *acc);
extern void aigc_store_end(AigcStoreAccess *acc);
extern int	aigc_store_exec(const char *sql, int nargs, const Oid *types,
							const Datum *values, const char *nulls,
							bool read_only, int expect);

/*
 * ERROR unless the caller holds privilege ("use", "train", "deploy" or
 * "owner") on the model; ERROR if the model does not exist.
 */
extern void aigc_store_check(AigcStoreAccess *acc, const char *name,
							 const char *privilege);
/* The same as a whole: ERROR unless the current user holds privilege */
extern void aigc_store_require(const char *name, const char *privilege);
extern bool aigc_store_has_privilege(const char *name, const char *privilege);

/*
 * Locks the model until the end of the transaction against other trainings
 * and lifecycle changes: waits for them, or with wait false ERROR 55P03.
 * Later reads through acc see what they committed.
 */
extern void aigc_store_lock(AigcStoreAccess *acc, const char *name, bool wait);
/* aigc_store_lock (waiting), then aigc_store_check: for changes to a model */
extern void aigc_store_lock_check(AigcStoreAccess *acc, const char *name,
								  const char *privilege);
/* ERROR 42704 unless the model has this version */
extern void aigc_store_require_version(AigcStoreAccess *acc, const char *name,
									   int version);

/*
 * Before training: locks the name (55P03 if busy), checks privilege "train"
 * on an existing model or registers the caller as the new model's owner.
 */
extern void aigc_store_claim(const char *name);

/*
 * The deployed version, else the newest; 0 if the model has no version.
 * Sees the changes of the current command (not read-only).
 */
extern int	aigc_store_version_in_use(const char *name);

/* Inserts the entry as the next version of its name; returns that version */
extern int	aigc_store_insert(const AigcStoreEntry *entry);

/* The version in use when version <= 0; ERROR if none or not permitted */
extern AigcModel *aigc_store_load(const char *name, int version, int *loaded_version);

/* model_owners.c: DROP ROLE, REASSIGN OWNED and DROP OWNED see models */
extern void aigc_install_utility_hook(void);

#endif
