/*
 * threads.h
 *		A small pool of POSIX threads for data-parallel work inside one
 *		backend, and the bound on OpenBLAS's own threads.
 *
 * Only the calling backend thread may palloc, ereport or check for
 * interrupts: a task run on the pool's threads touches nothing but the
 * memory it is handed (allocated before the run).  The pool's threads block
 * every signal, so the backend's handlers run where PostgreSQL expects.
 */
#ifndef AIGC_THREADS_H
#define AIGC_THREADS_H

#include "postgres.h"

/* Most threads aigc.threads allows */
#define AIGC_MAX_THREADS 64

/* The setting aigc.threads (aigc_pg.c): threads training, sampling and scoring may use */
extern int	aigc_threads;

typedef struct AigcPool AigcPool;

/* One part of a run: thread is 0 (the caller) to nthreads - 1 */
typedef void (*AigcPoolTask) (void *arg, int thread, int nthreads);

/*
 * A pool of nthreads threads, the caller included (nthreads - 1 are
 * started), in CurrentMemoryContext: deleting or resetting the context
 * stops and joins them, on error too.  ERROR if a thread cannot start.
 */
extern AigcPool *aigc_pool_create(int nthreads);
extern int	aigc_pool_size(const AigcPool *pool);

/* task on every thread of the pool, the caller as thread 0; returns when all are done */
extern void aigc_pool_run(AigcPool *pool, AigcPoolTask task, void *arg);

/*
 * aigc_pool_run in two halves, so that the caller can do work of its own
 * (which may palloc or raise errors) while the workers run the task: start
 * sets threads 1 to nthreads - 1 going; join runs the task as thread 0 too
 * when help is true, then returns once every worker is done.  Every start
 * needs its join, on error too, before the task's memory may go.
 */
extern void aigc_pool_start(AigcPool *pool, AigcPoolTask task, void *arg);
extern void aigc_pool_join(AigcPool *pool, bool help);

/*
 * Instead of aigc_pool_join: the run begun by aigc_pool_start goes on after
 * the caller returns, while the backend runs other code (the executor
 * inserting the rows of the last batch, say).  At most one run of a backend
 * is left going; it is joined, the backend's thread helping with the task,
 * by aigc_pool_settle, and by the pool's context going.  blas_threads is
 * OpenBLAS's thread count to restore then (the run keeps it at one).
 *
 * So the task must be safe to run on the backend's thread whenever any
 * aigc_pool_settle is called, and everything it reads must stay until then:
 * code that may free or change it (the model cache freeing a model,
 * aigc_blas_set_threads) calls aigc_pool_settle first.
 */
extern void aigc_pool_leave(AigcPool *pool, int blas_threads);

/* Joins the run left going by aigc_pool_leave, if any */
extern void aigc_pool_settle(void);

/*
 * Inside a task: returns once every thread of the pool has called it (each
 * must, as often as the others, in every run)
 */
extern void aigc_pool_barrier(AigcPool *pool);

/*
 * Evicts the cache lines of [p, p + bytes) from every core's caches, where
 * the CPU allows it (a hint: no effect on the values).  After reading what
 * another thread wrote and will write again: its next stores then need not
 * wait for this core to give the lines up.
 */
extern void aigc_cache_evict(const void *p, Size bytes);

/* The share [*first, *first + *count) of n items that thread gets */
extern void aigc_split(int64 n, int thread, int nthreads, int64 *first,
					   int64 *count);

/*
 * Sets OpenBLAS's thread count (at most the machine's cores); returns the
 * old one.  A run left going is joined first: its threads are inside sgemm.
 */
extern int	aigc_blas_set_threads(int n);

/* Stops OpenBLAS's own threads for good, where a process never runs it on more than one */
extern void aigc_blas_stop_threads(void);

/* The machine's online cores, 1 if unknown */
extern int	aigc_cores(void);

#endif
