/*
 * generate.c
 *		Drawing synthetic rows from a model: the network's output for a
 *		batch of prior (VAE) or noise (GAN) draws, decoded by the column
 *		column encoder.
 */
#include "postgres.h"

#include "core/threads.h"
#include "sample/generate.h"
#include "store/model_cache.h"

void
aigc_generator_init(AigcGenerator *gen, AigcModel *model, AigcRng *rng,
					int batch)
{
	gen->model = model;
	gen->rng = rng;
	gen->batch = batch;
	gen->cond_col = -1;
	gen->cond_slot = 0;
	gen->kind_buf = model->ops->generator_init(model->net, batch);
	gen->act = palloc(sizeof(float) * (Size) batch * model->colenc.dim);
	gen->decoded = palloc(sizeof(AigcColumnData) * Max(model->colenc.ncols, 1));
	for (int c = 0; c < model->colenc.ncols; c++)
	{
		gen->decoded[c].value = palloc(sizeof(double) * batch);
		gen->decoded[c].isnull = palloc(sizeof(bool) * batch);
	}
}

void
aigc_generator_next(AigcGenerator *gen, int n)
{
	int			blas_threads;

	Assert(n <= gen->batch);
	blas_threads = aigc_model_pass_threads(n);
	gen->model->ops->generate(gen->model->net, gen->kind_buf, n, gen->cond_col,
							  gen->cond_slot, gen->rng, gen->act);
	aigc_blas_set_threads(blas_threads);
	aigc_column_encoder_decode(&gen->model->colenc, gen->act, n, gen->decoded, gen->rng);

	/*
	 * A continuous column that was NULL in every training row has a single
	 * placeholder mode besides its NULL slot; the network may still pick
	 * the mode, but no value was ever seen, so it is NULL.
	 */
	for (int c = 0; c < gen->model->colenc.ncols; c++)
	{
		const AigcColumn *col = &gen->model->colenc.cols[c];

		if (col->kind == AIGC_CONTINUOUS && col->has_nulls && col->null_frac >= 1.0)
			for (int r = 0; r < n; r++)
				gen->decoded[c].isnull[r] = true;
	}
}
