/*
 * threads.c
 *		The thread pool of threads.h.  The threads meet through counters that
 *		only grow (runs begun, parts finished, barrier arrivals): a thread
 *		waiting for one to reach a value spins on it briefly, then sleeps on
 *		a condition variable; whoever moves it there wakes the sleepers.
 *		Spinning first matters: a training step is a millisecond or two, and
 *		waking a sleeping thread can take tens of microseconds (more in a
 *		virtual machine) at each of a step's meetings.
 */
#include "postgres.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <cblas.h>

#include "utils/memutils.h"

#include "core/threads.h"

/*
 * How long a waiting thread spins before it sleeps: longer than a step's
 * usual waits (a few microseconds between runs, slices' uneven ends), short
 * enough that a partner the machine has descheduled costs little CPU
 */
#define SPIN_NS 50000
/* Pauses between looks at the clock while spinning */
#define SPINS_PER_CLOCK 32

struct AigcPool
{
	int			nthreads;
	int			started;		/* workers running */
	pthread_t  *workers;		/* (nthreads - 1) */
	_Atomic uint64 runs;		/* runs begun (and 1 more for shutdown) */
	_Atomic uint64 finished;	/* workers' parts finished, over all runs */
	_Atomic uint64 arrivals;	/* arrivals at barriers, over all runs */
	bool		shutdown;
	AigcPoolTask task;
	void	   *arg;
	pthread_mutex_t lock;		/* for sleeping: the waits and the wake-ups */
	pthread_cond_t moved;		/* a counter moved */
	MemoryContextCallback cleanup;
};

/* The run aigc_pool_leave left going, and OpenBLAS's count to restore after */
static AigcPool *left_pool = NULL;
static int	left_blas_threads = 1;

/* OpenBLAS's thread count to n, without the library's work when it is n already */
static void
blas_set(int n)
{
	if (openblas_get_num_threads() != n)
		openblas_set_num_threads(n);
}

typedef struct WorkerStart
{
	AigcPool   *pool;
	int			thread;
} WorkerStart;

/* A pause in a spin loop, easing the core for its sibling hyperthread */
static inline void
spin_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static uint64
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * Returns once *counter >= target: spinning up to SPIN_NS, then asleep.
 * The loads acquire: what the threads wrote before moving the counter is
 * seen after.
 */
static void
await(AigcPool *pool, _Atomic uint64 *counter, uint64 target)
{
	uint64		deadline = 0;

	for (int i = 1; atomic_load_explicit(counter, memory_order_acquire) < target; i++)
	{
		if (i % SPINS_PER_CLOCK == 0)
		{
			uint64		t = now_ns();

			if (deadline == 0)
				deadline = t + SPIN_NS;
			else if (t >= deadline)
			{
				pthread_mutex_lock(&pool->lock);
				while (atomic_load_explicit(counter, memory_order_acquire) < target)
					pthread_cond_wait(&pool->moved, &pool->lock);
				pthread_mutex_unlock(&pool->lock);
				break;
			}
		}
		spin_pause();
	}
}

/*
 * Adds 1 to *counter; wakes the sleepers if it reached target (or always,
 * with target 0).  The lock orders the increment before a sleeper's check:
 * one that saw the old value is waiting by the time the broadcast comes.
 */
static void
advance(AigcPool *pool, _Atomic uint64 *counter, uint64 target)
{
	uint64		now = atomic_fetch_add(counter, 1) + 1;

	if (target == 0 || now == target)
	{
		pthread_mutex_lock(&pool->lock);
		pthread_cond_broadcast(&pool->moved);
		pthread_mutex_unlock(&pool->lock);
	}
}

static void *
worker_main(void *p)
{
	WorkerStart *ws = p;
	AigcPool   *pool = ws->pool;
	int			thread = ws->thread;
	int			nworkers = pool->nthreads - 1;

	for (uint64 run = 1;; run++)
	{
		await(pool, &pool->runs, run);
		if (pool->shutdown)
			break;
		pool->task(pool->arg, thread, pool->nthreads);
		advance(pool, &pool->finished, run * nworkers);
	}
	return NULL;
}

static void
pool_stop(void *p)
{
	AigcPool   *pool = p;

	/* a worker inside a run left going finishes it before it sees this */
	pool->shutdown = true;
	advance(pool, &pool->runs, 0);
	for (int i = 0; i < pool->started; i++)
		pthread_join(pool->workers[i], NULL);
	pool->started = 0;
	if (left_pool == pool)
	{
		left_pool = NULL;
		blas_set(left_blas_threads);
	}
	pthread_mutex_destroy(&pool->lock);
	pthread_cond_destroy(&pool->moved);
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
	atomic_init(&pool->runs, 0);
	atomic_init(&pool->finished, 0);
	atomic_init(&pool->arrivals, 0);
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->moved, NULL);
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
aigc_pool_start(AigcPool *pool, AigcPoolTask task, void *arg)
{
	pool->task = task;
	pool->arg = arg;
	if (pool->nthreads == 1)
		return;
	/* sequentially consistent: the workers see task and arg once they see the run */
	advance(pool, &pool->runs, 0);
}

void
aigc_pool_join(AigcPool *pool, bool help)
{
	if (help)
		pool->task(pool->arg, 0, pool->nthreads);
	if (pool->nthreads > 1)
		await(pool, &pool->finished,
			  atomic_load(&pool->runs) * (pool->nthreads - 1));
}

void
aigc_pool_leave(AigcPool *pool, int blas_threads)
{
	if (left_pool != NULL && left_pool != pool)
		aigc_pool_settle();
	left_pool = pool;
	left_blas_threads = blas_threads;
}

void
aigc_pool_settle(void)
{
	AigcPool   *pool = left_pool;

	if (pool == NULL)
		return;
	left_pool = NULL;
	aigc_pool_join(pool, true);
	blas_set(left_blas_threads);
}

void
aigc_pool_run(AigcPool *pool, AigcPoolTask task, void *arg)
{
	aigc_pool_start(pool, task, arg);
	aigc_pool_join(pool, true);
}

void
aigc_pool_barrier(AigcPool *pool)
{
	uint64		n = pool->nthreads;
	uint64		before,
				target;

	if (n == 1)
		return;
	/* every thread arrives at one barrier before any can at the next */
	before = atomic_fetch_add(&pool->arrivals, 1);
	target = (before / n + 1) * n;
	if (before + 1 == target)
	{
		/* the last to arrive: wake any that sleep */
		pthread_mutex_lock(&pool->lock);
		pthread_cond_broadcast(&pool->moved);
		pthread_mutex_unlock(&pool->lock);
	}
	else
		await(pool, &pool->arrivals, target);
}

void
aigc_cache_evict(const void *p, Size bytes)
{
#ifdef __SSE2__
	const char *c = p;

	if (bytes == 0)
		return;
	for (Size i = 0; i < bytes; i += 64)
		_mm_clflush(c + i);
	/* the last line, if p is not at a line's start */
	_mm_clflush(c + bytes - 1);
#endif
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
	int			old;

	aigc_pool_settle();
	old = openblas_get_num_threads();

	/* one thread needs no count of the cores: scoring sets it for every row */
	n = n > 1 ? Min(n, aigc_cores()) : 1;
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
