/*
 * vae_train.c
 *		Training a VAE, as train/train.c's epoch loop drives it through the
 *		kind's operations: shuffled mini-batches over every row, once per
 *		epoch, with Adam; then, with option calibrate, the prior-shift
 *		calibration of category shares.
 */
#include "postgres.h"

#include <string.h>

#include "miscadmin.h"

#include "core/optimizer.h"
#include "core/vae.h"

/* Prior-shift calibration: a few passes of 10000 samples cost under an epoch */
#define CALIBRATE_ITERATIONS 5
#define CALIBRATE_SAMPLES 10000

typedef struct VaeRun
{
	AigcVae    *vae;
	AigcVaeBuffers buf;
	AigcAdam	adam;
	const float *x;				/* (nrows, dim) encoded training rows */
	int64		nrows;
	int			dim;
	int			batch;
	int64		nbatches;
	int64	   *perm;			/* (nrows) this epoch's order of the rows */
	float	   *xb;				/* (batch, dim) the rows of one step */
	AigcRng    *rng;
	bool		calibrate;
} VaeRun;

void *
aigc_vae_train_begin(void *net, const float *x, int64 nrows,
					 const AigcTrainOptions *opts, AigcRng *rng)
{
	AigcVae    *vae = net;
	VaeRun	   *run = palloc(sizeof(VaeRun));

	run->vae = vae;
	run->x = x;
	run->nrows = nrows;
	run->dim = vae->cfg.data_dim;
	run->batch = (int) Min((int64) opts->batch_size, nrows);
	run->nbatches = (nrows + run->batch - 1) / run->batch;
	run->perm = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * nrows);
	run->xb = palloc(sizeof(float) * (Size) run->batch * run->dim);
	run->rng = rng;
	run->calibrate = opts->calibrate;
	aigc_vae_buffers_init(&run->buf, vae, run->batch);
	aigc_adam_init(&run->adam, vae->params, vae->nparams, opts->learning_rate,
				   0.9, 0.999, opts->weight_decay);
	for (int64 i = 0; i < nrows; i++)
		run->perm[i] = i;
	return run;
}

/* losses: total, reconstruction, KL, each the mean over the epoch's batches */
void
aigc_vae_train_epoch(void *state, double *losses, AigcTrainWork *work)
{
	VaeRun	   *run = state;
	double		recon_sum = 0.0,
				kl_sum = 0.0;

	aigc_rng_shuffle(run->rng, run->perm, run->nrows);
	for (int64 b = 0; b < run->nbatches; b++)
	{
		int64		first = b * run->batch;
		int			n = (int) Min((int64) run->batch, run->nrows - first);
		double		recon,
					kl;

		CHECK_FOR_INTERRUPTS();
		for (int r = 0; r < n; r++)
			memcpy(run->xb + (Size) r * run->dim,
				   run->x + (Size) run->perm[first + r] * run->dim,
				   sizeof(float) * run->dim);
		aigc_vae_forward_backward(run->vae, &run->buf, run->xb, n, run->rng,
								  true, &recon, &kl);
		aigc_adam_step(&run->adam);
		aigc_vae_clamp_sigma(run->vae);
		recon_sum += recon / run->nbatches;
		kl_sum += kl / run->nbatches;
		work->gemm_flops += aigc_vae_step_flops(run->vae, n);
		work->steps++;
	}
	losses[0] = recon_sum + kl_sum;
	losses[1] = recon_sum;
	losses[2] = kl_sum;
}

void
aigc_vae_train_end(void *state, StringInfo stats)
{
	VaeRun	   *run = state;
	double		gap_before,
				gap_after;

	if (!run->calibrate)
		return;
	aigc_vae_calibrate_marginals(run->vae, &run->buf, run->x, run->nrows,
								 run->rng, CALIBRATE_ITERATIONS,
								 CALIBRATE_SAMPLES, &gap_before, &gap_after);
	appendStringInfo(stats, ", \"share_gap_before_calibration\": %.6g, "
					 "\"share_gap_after_calibration\": %.6g",
					 gap_before, gap_after);
}

void
aigc_vae_describe_losses(StringInfo buf, const double *losses)
{
	appendStringInfo(buf, "loss %.4f (reconstruction %.4f, KL %.4f)",
					 losses[0], losses[1], losses[2]);
}
