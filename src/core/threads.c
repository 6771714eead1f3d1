/*
 * threads.c
 *		The thread pool of threads.h: the caller and nthreads - 1 workers
 *		meet at every run through one mutex and two condition variables, in
 *		the manner of a barrier; a generation count tells workers a new run
 *		has begun.
 */
#include "postgres.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cblas.h>

#include "utils/memutils.h"

#include "core/threads.h"

struct AigcPool
{
	int			nthreads;
	int			started;		/* workers running */
	pthread_t  *workers;		/* (nthreads - 1) */
	pthread_mutex_t lock;
	pthread_cond_t wake;		/* a new run, or shutdown */
	pthread_cond_t done;		/* the last worker finished its part */
	uint64		generation;
	int			pending;		/* workers still in this run */
	bool		shutdown;
	AigcPoolTask task;
	void	   *arg;
	MemoryContextCallback cleanup;
};

typedef struct WorkerStart
{
	AigcPool   *pool;
	int			thread;
} WorkerStart;

static void *
worker_main(void *p)
{
	WorkerStart *ws = p;
	AigcPool   *pool = ws->pool;
	int			thread = ws->thread;
	uint64		seen = 0;

	pthread_mutex_lock(&pool->lock);
	for (;;)
	{
		while (!pool->shutdown && pool->generation == seen)
			pthread_cond_wait(&pool->wake, &pool->lock);
		if (pool->shutdown)
			break;
		seen = pool->generation;
		pthread_mutex_unlock(&pool->lock);
		pool->task(pool->arg, thread, pool->nthreads);
		pthread_mutex_lock(&pool->lock);
		if (--pool->pending == 0)
			pthread_cond_signal(&pool->done);
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

static void
pool_stop(void *p)
{
	AigcPool   *pool = p;

	pthread_mutex_lock(&pool->lock);
	pool->shutdown = true;
	pthread_cond_broadcast(&pool->wake);
	pthread_mutex_unlock(&pool->lock);
	for (int i = 0; i < pool->started; i++)
		pthread_join(pool->workers[i], NULL);
	pool->started = 0;
	pthread_mutex_destroy(&pool->lock);
	pthread_cond_destroy(&pool->wake);
	pthread_cond_destroy(&pool->done);
}

AigcPool *
aigc_pool_create(int nthreads)
{
	AigcPool   *pool = palloc0(sizeof(AigcPool));
	WorkerStart *starts;
	sigset_t	all,
				old;
	int			rc = 0;

	Assert(nthreads >= 1 && nthreads <= AIGC_MAX_THREADS);
	pool->nthreads = nthreads;
	pool->workers = palloc(sizeof(pthread_t) * Max(nthreads - 1, 1));
	starts = palloc(sizeof(WorkerStart) * Max(nthreads - 1, 1));
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->wake, NULL);
	pthread_cond_init(&pool->done, NULL);
	pool->cleanup.func = pool_stop;
	pool->cleanup.arg = pool;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &pool->cleanup);

	/* workers inherit the mask: signals stay with the backend's thread */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (int i = 0; i < nthreads - 1 && rc == 0; i++)
	{
		starts[i].pool = pool;
		starts[i].thread = i + 1;
		rc = pthread_create(&pool->workers[i], NULL, worker_main, &starts[i]);
		if (rc == 0)
			pool->started++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("could not start thread %d of %d: %s",
						pool->started + 2, nthreads, strerror(rc)),
				 errhint("Lower aigc.threads.")));
	return pool;
}

int
aigc_pool_size(const AigcPool *pool)
{
	return pool->nthreads;
}

void
aigc_pool_run(AigcPool *pool, AigcPoolTask task, void *arg)
{
	if (pool->nthreads == 1)
	{
		task(arg, 0, 1);
		return;
	}
	pthread_mutex_lock(&pool->lock);
	pool->task = task;
	pool->arg = arg;
	pool->pending = pool->nthreads - 1;
	pool->generation++;
	pthread_cond_broadcast(&pool->wake);
	pthread_mutex_unlock(&pool->lock);

	task(arg, 0, pool->nthreads);

	pthread_mutex_lock(&pool->lock);
	while (pool->pending > 0)
		pthread_cond_wait(&pool->done, &pool->lock);
	pthread_mutex_unlock(&pool->lock);
}

void
aigc_split(int64 n, int thread, int nthreads, int64 *first, int64 *count)
{
	int64		base = n / nthreads;
	int64		extra = n % nthreads;

	*first = thread * base + Min((int64) thread, extra);
	*count = base + (thread < extra ? 1 : 0);
}

int
aigc_blas_set_threads(int n)
{
	int			old = openblas_get_num_threads();

	n = Max(Min(n, aigc_cores()), 1);
	if (n != old)
		openblas_set_num_threads(n);
	return old;
}

/*
 * OpenBLAS's pthread build starts cores - 1 threads of its own when the
 * library loads, and after every multi-threaded call they spin on
 * sched_yield for about 2^28 cycles before they sleep.  A process that keeps
 * OpenBLAS on one thread (a parallel query's worker) has no use for them,
 * and their spinning takes the cores the query's other processes score on.
 * The symbol is weak: a BLAS without it (an OpenMP build) still loads.
 */
extern int	blas_thread_shutdown_(void) __attribute__((weak));

void
aigc_blas_stop_threads(void)
{
	if (blas_thread_shutdown_ != NULL)
		blas_thread_shutdown_();
}

int
aigc_cores(void)
{
	long		n = sysconf(_SC_NPROCESSORS_ONLN);

	return (int) Max(Min(n, (long) AIGC_MAX_THREADS), 1L);
}
