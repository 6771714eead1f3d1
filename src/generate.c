/*
 * generate.c
 *		Drawing synthetic rows from a model: the network's output for a
 *		batch of prior draws, decoded by the column transformer.
 */
#include "postgres.h"

#include "generate.h"

void
aigc_generator_init(AigcGenerator *gen, AigcModel *model, AigcRng *rng,
					int batch)
{
	gen->model = model;
	gen->rng = rng;
	gen->batch = batch;
	aigc_vae_buffers_init(&gen->buf, &model->vae, batch);
	gen->act = palloc(sizeof(float) * (Size) batch * model->tf.dim);
	gen->decoded = palloc(sizeof(AigcColumnData) * Max(model->tf.ncols, 1));
	for (int c = 0; c < model->tf.ncols; c++)
	{
		gen->decoded[c].value = palloc(sizeof(double) * batch);
		gen->decoded[c].isnull = palloc(sizeof(bool) * batch);
	}
}

void
aigc_generator_next(AigcGenerator *gen, int n)
{
	Assert(n <= gen->batch);
	aigc_vae_generate(&gen->model->vae, &gen->buf, n, gen->rng, gen->act);
	aigc_transformer_decode(&gen->model->tf, gen->act, n, gen->decoded, gen->rng);
}
