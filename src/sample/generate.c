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
	/* parallel query's workers stay on one thread each, as everywhere */
	gen->nthreads = IsInParallelMode() ? 1 : Max(Min(aigc_threads, chunks), 1);
	gen->kind_bufs = palloc(sizeof(void *) * gen->nthreads);
	for (int t = 0; t < gen->nthreads; t++)
		gen->kind_bufs[t] = model->ops->generator_init(model->net,
													   Min(batch, AIGC_GENERATE_CHUNK));
	gen->chunk_rngs = palloc(sizeof(AigcRng) * Max(chunks, 1));
	gen->failed = palloc(sizeof(bool) * Max(chunks, 1));
	gen->act = palloc(sizeof(float) * (Size) batch * model->colenc.dim);
	gen->decoded = palloc(sizeof(AigcColumnData) * Max(ncols, 1));
	for (int c = 0; c < ncols; c++)
	{
		gen->decoded[c].value = palloc(sizeof(double) * batch);
		gen->decoded[c].isnull = palloc(sizeof(bool) * batch);
	}
	gen->chunk_decoded = palloc(sizeof(AigcColumnData) * Max(chunks * ncols, 1));
	for (int k = 0; k < chunks; k++)
		for (int c = 0; c < ncols; c++)
		{
			gen->chunk_decoded[k * ncols + c].value =
				gen->decoded[c].value + k * AIGC_GENERATE_CHUNK;
			gen->chunk_decoded[k * ncols + c].isnull =
				gen->decoded[c].isnull + k * AIGC_GENERATE_CHUNK;
		}
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
 * Chunks thread, thread + nthreads, ... of the call: generate, then
 * decode with the chunk's own stream.  A thread whose generate fails stops,
 * so its buffers still say why.
 */
static void
generate_chunks(void *arg, int thread, int nthreads)
{
	AigcGenerator *gen = arg;
	const AigcModel *model = gen->model;
	const AigcColumnEncoder *colenc = &model->colenc;

	for (int k = thread; k < gen->nchunks; k += nthreads)
	{
		int			first = k * AIGC_GENERATE_CHUNK;
		int			n = Min(AIGC_GENERATE_CHUNK, gen->rows - first);
		float	   *act = gen->act + (Size) first * colenc->dim;
		AigcColumnData *out = gen->chunk_decoded + k * colenc->ncols;

		gen->failed[k] = !model->ops->generate(model->net, gen->kind_bufs[thread], n,
											   gen->cond_col, gen->cond_slot,
											   &gen->chunk_rngs[k], act);
		if (gen->failed[k])
			return;
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

void
aigc_generator_next(AigcGenerator *gen, int n)
{
	int			blas_threads;

	Assert(n <= gen->batch);
	gen->rows = n;
	gen->nchunks = (n + AIGC_GENERATE_CHUNK - 1) / AIGC_GENERATE_CHUNK;
	for (int k = 0; k < gen->nchunks; k++)
	{
		aigc_rng_seed(&gen->chunk_rngs[k], aigc_rng_next(gen->rng));
		gen->failed[k] = false;
	}

	/* each thread multiplies its own chunks: OpenBLAS stays on one thread */
	blas_threads = aigc_blas_set_threads(1);
	if (gen->pool != NULL && gen->nchunks > 1)
		aigc_pool_run(gen->pool, generate_chunks, gen);
	else
		generate_chunks(gen, 0, 1);
	aigc_blas_set_threads(blas_threads);

	for (int k = 0; k < gen->nchunks; k++)
		if (gen->failed[k])
			gen->model->ops->generate_error(gen->model->net,
											gen->kind_bufs[k % gen->nthreads]);
}
