/*
 * model_cache.c
 *		Per-backend cache of deserialised models (see model_cache.h), the
 *		trigger on the model tables that invalidates it in every backend, and
 *		the read-back check of a freshly trained model.
 *
 * Entries live in their own memory contexts under CacheMemoryContext, in a
 * short array searched by name and requested version: a backend scores
 * with a handful of models at most.  The relcache callback only bumps a
 * generation counter, because it can run whenever a lock is taken, even in
 * the middle of scoring; stale entries are freed at the next lookup.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "access/parallel.h"
#include "access/xact.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "core/threads.h"
#include "store/citus_sync.h"
#include "store/model_cache.h"
#include "store/model_store.h"

PG_FUNCTION_INFO_V1(aigc_invalidate_model_cache);
PG_FUNCTION_INFO_V1(aigc_model_cache_loads);

static MemoryContext cache_cxt = NULL;
static AigcCachedModel **entries = NULL;
static int	nentries = 0;
static int	capacity = 0;

static uint64 generation = 1;	/* bumped by every invalidation */
static uint64 swept_generation = 1;
static uint64 next_load_id = 1;
static Oid	store_relid = InvalidOid;	/* aigc.model_store, once looked up */

/* the statement that last looked for invalidations */
static LocalTransactionId checked_lxid = InvalidLocalTransactionId;
static CommandId checked_cid = InvalidCommandId;

static void
relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == store_relid)
	{
		generation++;
		/* the extension may have been dropped: look the table up again */
		store_relid = InvalidOid;
	}
}

static Oid
model_store_oid(void)
{
	Oid			nsp = get_namespace_oid("aigc", false);
	Oid			relid = get_relname_relid("model_store", nsp);

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table aigc.model_store does not exist"),
				 errhint("Reinstall the extension aigc_pg.")));
	return relid;
}

static void
sweep(void)
{
	int			kept = 0;

	/* a sampling run left going reads its model: let it finish first */
	aigc_pool_settle();

	for (int i = 0; i < nentries; i++)
	{
		if (entries[i]->generation == generation)
			entries[kept++] = entries[i];
		else
			MemoryContextDelete(entries[i]->cxt);
	}
	nentries = kept;
	swept_generation = generation;
}

static AigcCachedModel *
load(const char *name, int name_len, int version)
{
	uint64		gen;
	MemoryContext cxt;
	MemoryContext old;
	AigcCachedModel *e;

	if (cache_cxt == NULL)
	{
		cache_cxt = AllocSetContextCreate(CacheMemoryContext, "aigc model cache",
										  ALLOCSET_SMALL_SIZES);
		CacheRegisterRelcacheCallback(relcache_callback, (Datum) 0);
	}
	if (!OidIsValid(store_relid))
		store_relid = model_store_oid();
	/* a parallel worker runs OpenBLAS on one thread for its whole life */
	if (IsParallelWorker())
		aigc_blas_stop_threads();
	/* an invalidation that arrives while loading makes the entry stale */
	gen = generation;

	/* under the caller's context until complete, so an ERROR frees it */
	cxt = AllocSetContextCreate(CurrentMemoryContext, "aigc cached model",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	e = palloc0(sizeof(AigcCachedModel));
	e->cxt = cxt;
	e->name = pnstrdup(name, name_len);
	e->requested = version;
	e->model = aigc_store_load(e->name, version, &e->version);
	e->user = GetUserId();
	{
		int			ncols = e->model->colenc.ncols;

		e->scorer = e->model->ops->scorer_init(e->model->net, 1, ncols);
		e->value = palloc0(sizeof(double) * ncols);
		e->isnull = palloc0(sizeof(bool) * ncols);
		e->x = palloc0(sizeof(float) * e->model->colenc.dim);
		e->terms = palloc0(sizeof(double) * (ncols + 1));
	}
	MemoryContextSwitchTo(old);

	e->load_id = next_load_id++;
	e->generation = gen;
	MemoryContextSetParent(cxt, cache_cxt);
	if (nentries == capacity)
	{
		capacity = Max(8, capacity * 2);
		entries = entries == NULL ?
			MemoryContextAlloc(cache_cxt, sizeof(AigcCachedModel *) * capacity) :
			repalloc(entries, sizeof(AigcCachedModel *) * capacity);
	}
	entries[nentries++] = e;
	return e;
}

AigcCachedModel *
aigc_model_cache_lookup(const char *name, int name_len, int version)
{
	/*
	 * Within a transaction block a backend may hold every lock it needs
	 * already, and then never reads the invalidation queue; look once per
	 * statement, so a version committed meanwhile is used from the next
	 * statement on and never halfway through one.
	 */
	if (MyProc->lxid != checked_lxid || GetCurrentCommandId(false) != checked_cid)
	{
		aigc_citus_wait_store_settled();
		AcceptInvalidationMessages();
		checked_lxid = MyProc->lxid;
		checked_cid = GetCurrentCommandId(false);
	}
	if (swept_generation != generation)
		sweep();
	for (int i = 0; i < nentries; i++)
	{
		AigcCachedModel *e = entries[i];

		if (e->requested == version && strncmp(e->name, name, name_len) == 0 &&
			e->name[name_len] == '\0')
		{
			if (e->user != GetUserId())
			{
				aigc_store_require(e->name, "use");
				e->user = GetUserId();
			}
			return e;
		}
	}
	return load(name, name_len, version);
}

AigcModel *
aigc_model_cache_get(const char *name, int version, int *loaded_version)
{
	AigcCachedModel *e = aigc_model_cache_lookup(name, strlen(name), version);

	*loaded_version = e->version;
	return e->model;
}

/*
 * Statement trigger on the model store tables: every backend drops its
 * cached models once the change is visible.
 */
Datum
aigc_invalidate_model_cache(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("aigc_invalidate_model_cache() must be called as a trigger")));
	CacheInvalidateRelcacheByRelid(model_store_oid());
	return PointerGetDatum(NULL);
}

/* Models this backend has loaded so far: shows that scoring does not reload */
Datum
aigc_model_cache_loads(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64((int64) (next_load_id - 1));
}

void
aigc_model_check_loadable(const bytea *blob, const char *name)
{
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext cxt = AllocSetContextCreate(caller, "aigc load check",
											  ALLOCSET_DEFAULT_SIZES);

	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		(void) aigc_model_deserialize(VARDATA_ANY(blob), VARSIZE_ANY_EXHDR(blob));
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(caller);
		edata = CopyErrorData();
		/* only a rejected blob is reworded; a cancel or OOM stays itself */
		if (edata->sqlerrcode != ERRCODE_DATA_CORRUPTED)
			PG_RE_THROW();
		FlushErrorState();
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("trained model \"%s\" does not read back, so no version was stored",
						name),
				 errdetail("%s", edata->detail ? edata->detail : edata->message),
				 errhint("Report this as a bug of aigc_pg, with the column types and value ranges of the training data.")));
	}
	PG_END_TRY();
	MemoryContextSwitchTo(caller);
	MemoryContextDelete(cxt);
}

/* Fewer rows than this in a pass keep OpenBLAS on one thread */
#define PASS_ROWS_PER_THREAD 64

int
aigc_model_pass_threads(int rows)
{
	bool		one = IsInParallelMode() || rows < 2 * PASS_ROWS_PER_THREAD;

	return aigc_blas_set_threads(one ? 1 : Min(aigc_threads, rows / PASS_ROWS_PER_THREAD));
}
