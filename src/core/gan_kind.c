/*
 * gan_kind.c
 *		The GAN's row of the kinds table (kind.h): its operations over the
 *		functions of gan.c (network and trainer) and gan_score.c.
 */
#include "postgres.h"

#include <string.h>

#include "miscadmin.h"

#include "core/gan.h"
#include "core/kind.h"
#include "core/gan_score.h"

static void *
gan_config_from_options(const AigcTrainOptions *opts, int data_dim)
{
	AigcGanConfig *cfg = palloc0(sizeof(AigcGanConfig));

	cfg->data_dim = data_dim;
	cfg->noise_dim = opts->noise_dim;
	cfg->n_gen = opts->n_gen;
	memcpy(cfg->gen_dims, opts->gen_dims, sizeof(cfg->gen_dims));
	cfg->n_dis = opts->n_dis;
	memcpy(cfg->dis_dims, opts->dis_dims, sizeof(cfg->dis_dims));
	cfg->pac = opts->pac;
	/* CTGAN's, not options */
	cfg->leaky_slope = 0.2;
	cfg->dropout = 0.5;
	cfg->tau = opts->gumbel_tau;
	return cfg;
}

static void
gan_train_size(const void *cfg, const AigcTrainOptions *opts,
			   const AigcSpan *spans, int nspans, int64 nrows,
			   AigcSizeEstimate *e)
{
	AigcGanConfig sized = *(const AigcGanConfig *) cfg;

	sized.cond_dim = spans != NULL ? aigc_gan_cond_dim(spans, nspans) : 0;
	/* CTGAN draws batch_size rows with replacement, however few there are */
	aigc_gan_train_size(&sized, opts->batch_size, opts->generator_average > 0.0,
						opts->privacy.enabled, e);
}

static void *
gan_init(const void *cfg, const AigcColumnEncoder *colenc, AigcRng *rng)
{
	AigcGan    *gan = palloc0(sizeof(AigcGan));

	aigc_gan_init(gan, cfg, colenc->spans, colenc->nspans, rng);
	return gan;
}

/*
 * CTGAN's epoch is max(rows / batch, 1) steps, each of discriminator_steps
 * discriminator updates and one generator update on batches drawn by
 * training-by-sampling.  With option privacy an epoch is as many noisy
 * discriminator updates as batches cover the rows (train.c's accounting),
 * Poisson-sampled, a generator update after every discriminator_steps of
 * them and after the last.
 */
typedef struct GanRun
{
	AigcGanTrainer trainer;
	int64		steps_per_epoch;	/* generator updates */
	int64		dis_updates;	/* discriminator updates an epoch */
	int			dis_steps;
	double		step_flops;
	AigcRng    *rng;
} GanRun;

static void *
gan_train_begin(void *net, const float *x, int64 nrows,
				const AigcTrainOptions *opts, AigcRng *rng)
{
	GanRun	   *run = palloc(sizeof(GanRun));

	int64		batch = Min((int64) opts->batch_size, nrows);

	aigc_gan_trainer_init(&run->trainer, net, x, nrows, opts->batch_size,
						  opts->log_frequency, opts->gradient_penalty,
						  opts->generator_average,
						  opts->learning_rate, opts->weight_decay,
						  opts->dis_learning_rate, opts->dis_weight_decay,
						  opts->privacy.enabled ? &opts->privacy : NULL,
						  opts->threads);
	run->dis_steps = opts->dis_steps;
	run->dis_updates = opts->privacy.enabled ?
		(nrows + batch - 1) / batch :
		Max(nrows / opts->batch_size, 1) * opts->dis_steps;
	run->steps_per_epoch = (run->dis_updates + run->dis_steps - 1) / run->dis_steps;
	run->step_flops = aigc_gan_step_flops(net, opts->batch_size, opts->dis_steps);
	run->rng = rng;
	return run;
}

/* losses: generator, discriminator, gradient penalty, cross-entropy */
static void
gan_train_epoch(void *state, double *losses, AigcTrainWork *work)
{
	GanRun	   *run = state;

	memset(losses, 0, sizeof(double) * 4);
	for (int64 s = 0; s < run->steps_per_epoch; s++)
	{
		AigcGanStepLosses l;

		CHECK_FOR_INTERRUPTS();
		aigc_gan_train_step(&run->trainer,
							(int) Min((int64) run->dis_steps,
									  run->dis_updates - s * run->dis_steps),
							run->rng, &l);
		losses[0] += l.generator / run->steps_per_epoch;
		losses[1] += l.discriminator / run->steps_per_epoch;
		losses[2] += l.penalty / run->steps_per_epoch;
		losses[3] += l.cross_entropy / run->steps_per_epoch;
		work->gemm_flops += run->step_flops;
		work->steps++;
	}
}

static void
gan_train_end(void *state, StringInfo stats)
{
	GanRun	   *run = state;

	aigc_gan_trainer_finish(&run->trainer, run->rng);
}

static void
gan_describe_losses(StringInfo buf, const double *losses)
{
	appendStringInfo(buf, "generator loss %.4f, discriminator loss %.4f (gradient penalty %.4f, cross-entropy %.4f)",
					 losses[0], losses[1], losses[2], losses[3]);
}

static void *
gan_generator_init(void *net, int batch)
{
	AigcGanGenerator *g = palloc(sizeof(AigcGanGenerator));

	aigc_gan_generator_init(g, net, batch);
	return g;
}

static bool
gan_generate(void *net, void *gen, int n, int cond_col, int cond_slot,
			 AigcRng *rng, float *act)
{
	aigc_gan_generate(net, gen, n, cond_col, cond_slot, rng, act);
	return true;
}

static void *
gan_scorer_init(void *net, int rows, int ncols)
{
	AigcGanScorer *s = palloc(sizeof(AigcGanScorer));

	aigc_gan_scorer_init(s, net, rows);
	return s;
}

static void
gan_score(void *net, void *scorer, const float *x, int n, int ncols,
		  double *scores, double *terms)
{
	aigc_gan_score_rows(net, scorer, x, n, scores, terms, ncols);
}

/* A GAN reconstructs nothing: it has no expected values */
static bool
gan_explain(void *net, void *scorer, float *act)
{
	return false;
}

static void
gan_write(const void *net, StringInfo buf)
{
	aigc_gan_write(net, buf);
}

static void *
gan_read(AigcReader *r, const AigcColumnEncoder *colenc, uint32 version)
{
	AigcGan    *gan = palloc0(sizeof(AigcGan));

	aigc_gan_read(gan, r, colenc->spans, colenc->nspans, colenc->ncols);
	return gan;
}

static int
gan_data_dim(const void *net)
{
	return ((const AigcGan *) net)->cfg.data_dim;
}

static int
gan_linears(void *net, int batch, AigcLinear **layers, int *rows,
			bool *need_dx)
{
	return aigc_gan_linears(net, batch, layers, rows, need_dx);
}

/* The discriminator multiplies batch / pac groups of pac rows each */
static int
gan_batch_multiple(const void *net)
{
	return ((const AigcGan *) net)->cfg.pac;
}

StaticAssertDecl(AIGC_GAN_MAX_LINEARS <= AIGC_KIND_MAX_LINEARS,
				 "AIGC_KIND_MAX_LINEARS must hold the GAN's layers");

static const char *const gan_loss_names[] = {
	"generator", "discriminator", "gradient_penalty", "cross_entropy"
};

const AigcKindOps aigc_gan_ops = {
	.name = "gan",
	.id = AIGC_KIND_GAN,
	.format_version = 2,
	.write_version = 2,
	.config_from_options = gan_config_from_options,
	.init = gan_init,
	.train_size = gan_train_size,
	.nlosses = lengthof(gan_loss_names),
	.loss_names = gan_loss_names,
	.train_begin = gan_train_begin,
	.train_epoch = gan_train_epoch,
	.train_end = gan_train_end,
	.describe_losses = gan_describe_losses,
	.generator_init = gan_generator_init,
	.generate = gan_generate,
	.scorer_init = gan_scorer_init,
	.score = gan_score,
	.explain = gan_explain,
	.encode = NULL,				/* no encoder, so rows have no latent code */
	.column_term = "critic",
	.last_term = "critic biases",
	.write = gan_write,
	.read = gan_read,
	.data_dim = gan_data_dim,
	.linears = gan_linears,
	.batch_multiple = gan_batch_multiple,
	.batch_multiple_name = "pac",
};
