/*
 * model_cache.h
 *		Per-backend cache of deserialised models, so that scoring or sampling
 *		row after row does not read and decode the stored blob each time.
 *
 * An entry is dropped when any model store table (versions, registry,
 * deployments, grants, score calibration) changes: a statement trigger on
 * those tables sends a relcache
 * invalidation, which every backend, this one included, receives when the
 * change becomes visible (at commit, or at the next command in the
 * changing transaction).  A returned pointer is valid until the next call
 * of aigc_model_cache_lookup or aigc_model_cache_get.
 */
#ifndef AIGC_MODEL_CACHE_H
#define AIGC_MODEL_CACHE_H

#include "postgres.h"

#include "core/model.h"

typedef struct AigcCachedModel
{
	char	   *name;
	int			requested;		/* version asked for; 0 for the one in use */
	int			version;		/* version loaded */
	uint64		load_id;		/* distinct for every load in this backend */
	uint64		generation;		/* cache generation it was loaded in */
	MemoryContext cxt;			/* holds the entry and all it points to */
	Oid			user;			/* last user whose privilege "use" was checked */
	AigcModel  *model;

	/* scratch for scoring one row */
	void	   *scorer;			/* the kind's, for one row */
	double	   *value;			/* (ncols) column values, as the column encoder */
	bool	   *isnull;			/* (ncols) */
	float	   *x;				/* (1, dim) the encoded row */
	double	   *terms;			/* (ncols + 1) column terms, then the kind's last */

	/* training-score quantiles from aigc.score_calibration, loaded lazily */
	bool		quantiles_loaded;
	int			nquantiles;		/* 0: the version is not calibrated */
	double	   *quantiles;
} AigcCachedModel;

/*
 * The cached entry of model name (name_len bytes, not necessarily
 * terminated) at version (0 for the version in use), loading it on a miss.
 * ERROR if the model or the version does not exist, or if the current user
 * lacks privilege "use" on it (checked again whenever the user changes;
 * grants changing invalidate the cache).
 */
extern AigcCachedModel *aigc_model_cache_lookup(const char *name, int name_len,
												int version);

/* The same for callers that only need the model */
extern AigcModel *aigc_model_cache_get(const char *name, int version,
									   int *loaded_version);

/*
 * ERROR unless the blob just serialised for model name reads back, so that
 * training never stores a version every later load would reject
 */
extern void aigc_model_check_loadable(const bytea *blob, const char *name);

/*
 * Sets OpenBLAS's threads for a model's sampling or scoring pass over rows
 * rows and returns the old count (pass it back afterwards): aigc.threads,
 * but one inside a parallel query, whose worker processes are the
 * parallelism, and for passes too small to share out.
 */
extern int	aigc_model_pass_threads(int rows);

#endif
