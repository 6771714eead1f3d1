/*
 * generate.c
 *		Drawing synthetic rows from a model: the network's output for a
 *		batch of prior (VAE), noise (GAN) or token (transformer) draws,
 *		decoded by the column encoder, in chunks spread over a pool of
 *		threads (generate.h).
 */
#include "postgres.h"

#include "access/xact.h"

#include "sample/generate.h"

static AigcColumnData *
column_set(int ncols, int batch)
{
	AigcColumnData *set = palloc(sizeof(AigcColumnData) * Max(ncols, 1));

	for (int c = 0; c < ncols; c++)
	{
		set[c].value = palloc(sizeof(double) * batch);
		set[c].isnull = palloc(sizeof(bool) * batch);
	}
	return set;
}

void
aigc_generator_init(AigcGenerator *gen, AigcModel *model, AigcRng *rng,
					int batch)
{
	int			ncols = model->colenc.ncols;
	int			chunks = (batch + AIGC_GENERATE_CHUNK - 1) / AIGC_GENERATE_CHUNK;

	gen->model = model;
	gen->rng = rng;
	gen->batch = batch;
	gen->cond_col = -1;
	gen->cond_slot = 0;
	gen->nchunks = 0;
	gen->rows = 0;
	gen->ahead = 0;
	/* parallel query's workers stay on one thread each, as everywhere */
	gen->nthreads = IsInParallelMode() ? 1 : Max(Min(aigc_threads, chunks), 1);
	gen->kind_bufs = palloc(sizeof(void *) * gen->nthreads);
	gen->views = palloc(sizeof(AigcColumnData *) * gen->nthreads);
	for (int t = 0; t < gen->nthreads; t++)
	{
		gen->kind_bufs[t] = model->ops->generator_init(model->net,
													   Min(batch, AIGC_GENERATE_CHUNK));
		gen->views[t] = palloc(sizeof(AigcColumnData) * Max(ncols, 1));
	}
	gen->chunk_rngs = palloc(sizeof(AigcRng) * Max(chunks, 1));
	gen->failed = palloc(sizeof(bool) * Max(chunks, 1));
	gen->chunk_thread = palloc(sizeof(int) * Max(chunks, 1));
	gen->act = palloc(sizeof(float) * (Size) batch * model->colenc.dim);
	gen->sets[0] = column_set(ncols, batch);
	/* a second set only where a batch can be made while the last is read */
	gen->sets[1] = gen->nthreads > 1 ? column_set(ncols, batch) : gen->sets[0];
	gen->writing = 0;
	gen->decoded = gen->sets[0];
	gen->pool = gen->nthreads > 1 ? aigc_pool_create(gen->nthreads) : NULL;
}

void
aigc_generator_condition(AigcGenerator *gen, const AigcCondition *conds,
						 int nconds)
{
	if (gen->model->ops->condition == NULL)
		return;
	for (int t = 0; t < gen->nthreads; t++)
		gen->model->ops->condition(gen->model->net, gen->kind_bufs[t], conds,
								   nconds);
}

/*
 * Each thread takes the next chunk left: generate, then decode with the
 * chunk's own stream into the set being written.  A failed generate leaves
 * its thread's buffers saying why, so that thread takes no more chunks.
 */
static void
generate_chunks(void *arg, int thread, int nthreads)
{
	AigcGenerator *gen = arg;
	const AigcModel *model = gen->model;
	const AigcColumnEncoder *colenc = &model->colenc;
	const AigcColumnData *set = gen->sets[gen->writing];
	AigcColumnData *out = gen->views[thread];
	int			k;

	while ((k = atomic_fetch_add(&gen->next_chunk, 1)) < gen->nchunks)
	{
		int			first = k * AIGC_GENERATE_CHUNK;
		int			n = Min(AIGC_GENERATE_CHUNK, gen->rows - first);
		float	   *act = gen->act + (Size) first * colenc->dim;

		gen->chunk_thread[k] = thread;
		gen->failed[k] = !model->ops->generate(model->net, gen->kind_bufs[thread], n,
											   gen->cond_col, gen->cond_slot,
											   &gen->chunk_rngs[k], act);
		if (gen->failed[k])
			return;
		for (int c = 0; c < colenc->ncols; c++)
		{
			out[c].value = set[c].value + first;
			out[c].isnull = set[c].isnull + first;
		}
		aigc_column_encoder_decode_rows(colenc, act, n, n, out, &gen->chunk_rngs[k]);

		/*
		 * A continuous column that was NULL in every training row has a
		 * single placeholder mode besides its NULL slot; the network may
		 * still pick the mode, but no value was ever seen, so it is NULL.
		 */
		for (int c = 0; c < colenc->ncols; c++)
		{
			const AigcColumn *col = &colenc->cols[c];

			if (col->kind == AIGC_CONTINUOUS && col->has_nulls && col->null_frac >= 1.0)
				memset(out[c].isnull, true, sizeof(bool) * n);
		}
	}
}

/* Seeds the chunks of a batch of n rows, in chunk order, for generate_chunks */
static void
begin_batch(AigcGenerator *gen, int n)
{
	Assert(n <= gen->batch);
	gen->rows = n;
	gen->nchunks = (n + AIGC_GENERATE_CHUNK - 1) / AIGC_GENERATE_CHUNK;
	for (int k = 0; k < gen->nchunks; k++)
	{
		aigc_rng_seed(&gen->chunk_rngs[k], aigc_rng_next(gen->rng));
		gen->failed[k] = false;
		gen->chunk_thread[k] = 0;
	}
	atomic_store(&gen->next_chunk, 0);
}

/* The batch generated into sets[writing] becomes gen->decoded */
static void
end_batch(AigcGenerator *gen)
{
	for (int k = 0; k < gen->nchunks; k++)
		if (gen->failed[k])
			gen->model->ops->generate_error(gen->model->net,
											gen->kind_bufs[gen->chunk_thread[k]]);
	gen->decoded = gen->sets[gen->writing];
}

void
aigc_generator_settle(AigcGenerator *gen)
{
	if (gen->ahead > 0)
		aigc_pool_settle();
}

void
aigc_generator_next(AigcGenerator *gen, int n)
{
	int			blas_threads;

	if (gen->ahead > 0)
	{
		Assert(n == gen->ahead);
		aigc_generator_settle(gen);
		gen->ahead = 0;
		end_batch(gen);
		return;
	}
	begin_batch(gen, n);
	/* each thread multiplies its own chunks: OpenBLAS stays on one thread */
	blas_threads = aigc_blas_set_threads(1);
	if (gen->pool != NULL && gen->nchunks > 1)
		aigc_pool_run(gen->pool, generate_chunks, gen);
	else
		generate_chunks(gen, 0, 1);
	aigc_blas_set_threads(blas_threads);
	end_batch(gen);
}

void
aigc_generator_ahead(AigcGenerator *gen, int n,
					 void (*meanwhile) (void *arg), void *arg)
{
	int			blas_threads;

	Assert(gen->ahead == 0);
	if (gen->pool == NULL)
	{
		meanwhile(arg);
		return;
	}
	/* write the set gen->decoded is not */
	gen->writing = gen->decoded == gen->sets[0] ? 1 : 0;
	begin_batch(gen, n);
	blas_threads = aigc_blas_set_threads(1);
	aigc_pool_start(gen->pool, generate_chunks, gen);

	/*
	 * Left going from the start: whatever meanwhile or the rest of the query
	 * does that could disturb the workers (a model freed, OpenBLAS's count
	 * changed) joins them first, and aigc_generator_next does otherwise.
	 */
	aigc_pool_leave(gen->pool, blas_threads);
	gen->ahead = n;
	PG_TRY();
	{
		meanwhile(arg);
	}
	PG_CATCH();
	{
		/* the workers write memory an error may free: let them finish first */
		aigc_pool_settle();
		PG_RE_THROW();
	}
	PG_END_TRY();
}
