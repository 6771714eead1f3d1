/*
 * generate.h
 *		Synthetic rows from a trained model, batch by batch, as the column
 *		values (numbers or category indices) that the column encoder decodes.
 *		Shared by aigc_sample() and aigc_evaluate().
 *
 * A batch is made in chunks of AIGC_GENERATE_CHUNK rows, spread over up to
 * aigc.threads threads (each takes the next chunk left); each chunk draws
 * from a stream of its own, seeded from the run's stream in chunk order, so
 * a seed gives the same rows at any thread count.  The next batch can be
 * made while the caller turns the last one into tuples and uses them.
 */
#ifndef AIGC_GENERATE_H
#define AIGC_GENERATE_H

#include "postgres.h"

#include <stdatomic.h>

#include "core/model.h"
#include "core/threads.h"

/* Rows of one chunk: a thread's unit of work and random stream */
#define AIGC_GENERATE_CHUNK 250

typedef struct AigcGenerator
{
	AigcModel  *model;
	AigcRng    *rng;			/* the run's stream: seeds the chunks' */
	int			batch;			/* most rows one call produces */
	int			cond_col;		/* GAN: conditional vector fixed to this */
	int			cond_slot;		/* category of this column, or -1 for none */
	int			nthreads;
	AigcPool   *pool;			/* NULL on one thread */
	void	  **kind_bufs;		/* (nthreads) the kind's generator buffers */
	AigcColumnData **views;		/* (nthreads) a chunk's rows of the set written */
	AigcColumnData *decoded;	/* the rows of the last aigc_generator_next */
	AigcColumnData *sets[2];	/* each colenc.ncols arrays of batch values */
	int			writing;		/* the set being (or last) generated */
	int			ahead;			/* rows generated ahead into sets[writing], or 0 */
	int			nchunks;		/* chunks of the batch being generated */
	int			rows;			/* rows of the batch being generated */
	_Atomic int next_chunk;		/* the next chunk a thread takes */
	AigcRng    *chunk_rngs;		/* (chunks of a batch) */
	bool	   *failed;			/* (chunks of a batch) generate returned false */
	int		   *chunk_thread;	/* (chunks of a batch) the thread that made it */
	float	   *act;			/* (batch x dim) activated output, each chunk dim x rows */
} AigcGenerator;

/*
 * A generator of any kind of model, unconditioned (cond_col -1), for calls
 * of at most batch rows; its threads stop when CurrentMemoryContext goes
 */
extern void aigc_generator_init(AigcGenerator *gen, AigcModel *model,
								AigcRng *rng, int batch);

/* The kind's conditions (AigcKindOps.condition), if it has them */
extern void aigc_generator_condition(AigcGenerator *gen,
									 const AigcCondition *conds, int nconds);

/*
 * Fills gen->decoded[c] rows [0, n) with n new rows, n <= gen->batch: the
 * ones aigc_generator_ahead made, if it was asked for n
 */
extern void aigc_generator_next(AigcGenerator *gen, int n);

/*
 * Runs meanwhile(arg) on the backend's thread (it may palloc and raise
 * errors, but must not touch the generator) while the pool's other threads
 * make the next n rows, and returns with them still at it
 * (aigc_pool_leave): they go on while the caller's query uses the rows
 * meanwhile made (a CREATE TABLE AS inserting them).  gen->decoded stays as
 * it is until aigc_generator_next(gen, n) helps them finish and takes the
 * new rows.  On one thread, just meanwhile(arg).
 */
extern void aigc_generator_ahead(AigcGenerator *gen, int n,
								 void (*meanwhile) (void *arg), void *arg);

/*
 * Waits for the rows aigc_generator_ahead is making, if any: before
 * gen->model is changed (the threads read it)
 */
extern void aigc_generator_settle(AigcGenerator *gen);

#endif
