/*
 * vae_train.c
 *		Training a VAE, as train/train.c's epoch loop drives it through the
 *		kind's operations: shuffled mini-batches over every row, once per
 *		epoch, with Adam; then, with option calibrate, the prior-shift
 *		calibration of category shares.  With option privacy, DP-SGD
 *		instead: Poisson-sampled batches, per-row clipping and Gaussian
 *		noise (docs/privacy.md).
 *
 * With aigc.threads above 1 every batch is split across the threads
 * (threads.h): each runs forward and backward on its slice, into a replica
 * of the network that shares the weights and keeps its own gradients and
 * buffers, with single-threaded OpenBLAS and its own random stream (seeded
 * from the run's at every step).  Once every slice is done the threads meet
 * and each updates its own range of the parameters: the replicas' gradients
 * there, weighted by their share of the batch, summed in thread order, then
 * Adam and the sigma clamp, element by element; so a seed gives the same
 * weights at the same thread count.
 */
#include "postgres.h"

#include <string.h>

#include "miscadmin.h"

#include "core/dp_sgd.h"
#include "core/fastmath.h"
#include "core/optimizer.h"
#include "core/threads.h"
#include "core/vae.h"

/* Prior-shift calibration: a few passes of 10000 samples cost under an epoch */
#define CALIBRATE_ITERATIONS 5
#define CALIBRATE_SAMPLES 10000

/*
 * One thread's share of a data-parallel step; thread 0's is the run's own
 * network and buffers
 */
typedef struct VaeReplica
{
	AigcVae		vae;			/* the run's weights, its own gradients */
	AigcVaeBuffers buf;			/* for ceil(batch / threads) rows */
	AigcRng		rng;
	int64		part_first;		/* the parameters it updates: block elements */
	int64		part_count;		/* [part_first, part_first + part_count) */
	int			n;				/* its rows of this step's batch */
	double		recon;
	double		kl;
} VaeReplica;

typedef struct VaeRun VaeRun;

/* A step's batch: rows perm[first, first + n) of x */
typedef struct VaeStep
{
	VaeRun	   *run;
	int64		first;
	int			n;
} VaeStep;

struct VaeRun
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
	int64		sparse_steps;	/* steps whose first layer ran sparse */
	double		sparse_saved_flops; /* the GEMM flops those did not do */
	const AigcPrivacyOptions *privacy;	/* NULL without DP-SGD */
	AigcVaeDpBuffers dp;
	AigcPool   *pool;			/* NULL on one thread */
	VaeReplica *replicas;		/* (threads) */
	int64		part_lead;		/* block elements before the weights' first 64-byte line */
};

/*
 * What data-parallel training on `threads` threads adds to
 * aigc_vae_train_size: the gradients and buffers of each replica but
 * thread 0's, which are the run's own.
 */
void
aigc_vae_replicas_size(const AigcVaeConfig *cfg, int batch, int threads,
					   AigcSizeEstimate *e)
{
	double		b = (batch + threads - 1) / threads;
	int			prev = cfg->data_dim;
	int			widest = Max(cfg->data_dim, cfg->latent_dim);

	for (int t = 1; t < threads; t++)
	{
		prev = cfg->data_dim;
		for (int i = 0; i < cfg->n_enc; i++)
		{
			aigc_size_add(e, (double) prev * cfg->enc_dims[i], sizeof(float));
			aigc_size_add(e, cfg->enc_dims[i], sizeof(float));
			aigc_size_add(e, b * cfg->enc_dims[i], sizeof(float));
			prev = cfg->enc_dims[i];
			widest = Max(widest, cfg->enc_dims[i]);
		}
		for (int i = 0; i < 2; i++)
		{
			aigc_size_add(e, (double) prev * cfg->latent_dim, sizeof(float));
			aigc_size_add(e, cfg->latent_dim, sizeof(float));
		}
		prev = cfg->latent_dim;
		for (int i = 0; i <= cfg->n_dec; i++)
		{
			int			out = i < cfg->n_dec ? cfg->dec_dims[i] : cfg->data_dim;

			aigc_size_add(e, (double) prev * out, sizeof(float));
			aigc_size_add(e, out, sizeof(float));
			aigc_size_add(e, b * out, sizeof(float));
			prev = out;
			widest = Max(widest, out);
		}
		aigc_size_add(e, cfg->data_dim, sizeof(float));	/* sigma */
		/* mu, logvar, std, eps, z, dmu, dlogvar; grad_a, grad_b */
		for (int i = 0; i < 7; i++)
			aigc_size_add(e, b * cfg->latent_dim, sizeof(float));
		aigc_size_add(e, b * widest, sizeof(float));
		aigc_size_add(e, b * widest, sizeof(float));
	}
}

/* Elements of the parameters one thread's update sums at a time */
#define UPDATE_CHUNK 256

/*
 * out = share g, the first term of a weighted sum (fused or not alike
 * whatever the chunk's length and address: see aigc_adam_update_part)
 */
static AIGC_VECTOR_CLONES AIGC_NO_FP_CONTRACT void
scale_into(float *restrict out, const float *restrict g, float share, int n)
{
	for (int j = 0; j < n; j++)
		out[j] = share * g[j];
}

/* out += share g, the next term */
static AIGC_VECTOR_CLONES AIGC_NO_FP_CONTRACT void
add_scaled(float *restrict out, const float *restrict g, float share, int n)
{
	for (int j = 0; j < n; j++)
		out[j] += share * g[j];
}

/*
 * Thread t's range of the parameters, once every slice is done, a chunk at
 * a time: each gradient the replicas' gradients (each the mean over its
 * slice) weighted by their slices' share of the batch, summed in thread
 * order; then Adam and the sigma clamp there.  The other replicas' lines
 * read are evicted: their threads write them again next step.
 */
static void
update_part(VaeRun *run, int n, int t, int nthreads)
{
	const VaeReplica *own = &run->replicas[t];
	int64		end = own->part_first + own->part_count;
	float		g[UPDATE_CHUNK];

	for (int64 first = own->part_first; first < end;)
	{
		/* chunks end on the weights' cache lines (see aigc_vae_train_begin) */
		int64		next = first < run->part_lead ? run->part_lead :
			run->part_lead + ((first - run->part_lead) / UPDATE_CHUNK + 1) * UPDATE_CHUNK;
		int			count = (int) (Min(next, end) - first);

		/* thread 0 always has rows: aigc_split gives it the first extra one */
		scale_into(g, run->replicas[0].vae.block.g + first,
				   (float) run->replicas[0].n / (float) n, count);
		for (int i = 1; i < nthreads; i++)
		{
			const VaeReplica *rep = &run->replicas[i];

			if (rep->n > 0)
				add_scaled(g, rep->vae.block.g + first, (float) rep->n / (float) n,
						   count);
		}
		for (int i = 0; i < nthreads; i++)
			if (i != t)
				aigc_cache_evict(run->replicas[i].vae.block.g + first,
								 sizeof(float) * count);
		aigc_adam_update_part(&run->adam, g, first, count);
		first += count;
	}
	aigc_vae_clamp_sigma_part(run->vae, own->part_first, own->part_count);
}

/*
 * Thread t's part of a step: its slice's rows gathered, forward and
 * backward; then, once every thread's slice is done, its parameters' update
 */
static void
replica_step(void *arg, int t, int nthreads)
{
	VaeStep    *step = arg;
	VaeRun	   *run = step->run;
	VaeReplica *rep = &run->replicas[t];
	int64		first,
				n;

	aigc_split(step->n, t, nthreads, &first, &n);
	rep->n = (int) n;
	rep->recon = rep->kl = 0.0;
	if (n > 0)
	{
		float	   *xb = run->xb + first * run->dim;

		for (int64 r = 0; r < n; r++)
			memcpy(xb + r * run->dim,
				   run->x + (Size) run->perm[step->first + first + r] * run->dim,
				   sizeof(float) * run->dim);
		aigc_vae_forward_backward(&rep->vae, &rep->buf, xb, (int) n, &rep->rng,
								  true, &rep->recon, &rep->kl);
	}
	aigc_pool_barrier(run->pool);
	update_part(run, step->n, t, nthreads);
}

/*
 * A step over the n rows from perm[first] on, split across the pool,
 * parameters updated; the batch means of the losses
 */
static void
parallel_step(VaeRun *run, int64 first, int n, double *recon, double *kl)
{
	VaeStep		step = {run, first, n};
	int			nthreads = aigc_pool_size(run->pool);

	for (int t = 0; t < nthreads; t++)
		aigc_rng_seed(&run->replicas[t].rng, aigc_rng_next(run->rng));
	/* the threads' aigc_adam_update_part take this step's count */
	run->adam.step++;
	aigc_pool_run(run->pool, replica_step, &step);
	*recon = *kl = 0.0;
	for (int t = 0; t < nthreads; t++)
	{
		*recon += run->replicas[t].recon * run->replicas[t].n / n;
		*kl += run->replicas[t].kl * run->replicas[t].n / n;
	}
}

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
	run->sparse_steps = 0;
	run->sparse_saved_flops = 0.0;
	aigc_vae_buffers_init(&run->buf, vae, run->batch);
	run->privacy = opts->privacy.enabled ? &opts->privacy : NULL;
	if (run->privacy)
		aigc_vae_dp_buffers_init(&run->dp, vae, &run->buf);
	aigc_adam_init(&run->adam, &vae->block, 1, opts->learning_rate,
				   0.9, 0.999, opts->weight_decay);
	for (int64 i = 0; i < nrows; i++)
		run->perm[i] = i;
	run->pool = NULL;
	run->replicas = NULL;
	/* DP-SGD's per-row clipping stays on one thread */
	if (opts->threads > 1 && !run->privacy)
	{
		int			slice = (run->batch + opts->threads - 1) / opts->threads;
		int64		lines;

		/*
		 * The threads' ranges of the parameters split the weights at their
		 * 64-byte cache lines (16 floats): none writes another's lines
		 */
		run->part_lead = Min(vae->block.n,
							 (int64) ((64 - (uintptr_t) vae->block.w % 64) % 64 / sizeof(float)));
		lines = (vae->block.n - run->part_lead + 15) / 16;
		run->replicas = palloc(sizeof(VaeReplica) * opts->threads);
		for (int t = 0; t < opts->threads; t++)
		{
			VaeReplica *rep = &run->replicas[t];
			int64		first,
						count,
						end;

			aigc_split(lines, t, opts->threads, &first, &count);
			end = t == opts->threads - 1 ? vae->block.n :
				Min(run->part_lead + 16 * (first + count), vae->block.n);
			rep->part_first = t == 0 ? 0 : Min(run->part_lead + 16 * first, vae->block.n);
			rep->part_count = Max(end - rep->part_first, 0);
		}
		run->replicas[0].vae = *vae;
		run->replicas[0].buf = run->buf;
		for (int t = 1; t < opts->threads; t++)
		{
			aigc_vae_replica(vae, &run->replicas[t].vae);
			aigc_vae_buffers_init(&run->replicas[t].buf, vae, slice);
		}
		run->pool = aigc_pool_create(opts->threads);
		/* train.c restores OpenBLAS's count when the run ends */
		aigc_blas_set_threads(1);
	}
	return run;
}

/*
 * GEMM flops of a pass over n rows, those the sparse first layer replaced
 * counted apart so that the achieved GFLOP/s stay those of real products
 */
static void
count_flops(VaeRun *run, int n, bool backward, AigcTrainWork *work)
{
	double		saved = aigc_vae_sparse_saved_flops(run->vae, &run->buf, n,
													backward);

	work->gemm_flops += aigc_vae_step_flops(run->vae, n) - saved;
	run->sparse_saved_flops += saved;
	run->sparse_steps += saved > 0.0;
}

/*
 * One DP-SGD step: a Poisson sample of the rows (each row with probability
 * sample_rate, so the batch size varies), in chunks of at most run->batch
 * rows since clipping is per row; the sum of the clipped gradients plus
 * N(0, (noise_multiplier max_grad_norm)^2) per coordinate, divided by the
 * expected batch size, goes to Adam.  Adds the rows' loss sums and count.
 */
static void
dp_step(VaeRun *run, double *recon_sum, double *kl_sum, int64 *rows,
		AigcTrainWork *work)
{
	const AigcPrivacyOptions *p = run->privacy;
	AigcVae    *vae = run->vae;
	int64		r = dp_poisson_next(run->rng, -1, p->sample_rate);
	float		scale = (float) (1.0 / run->batch);

	aigc_params_zero_grad(&vae->block, 1);
	while (r < run->nrows)
	{
		int			n = 0;
		double		recon,
					kl;

		CHECK_FOR_INTERRUPTS();
		for (; r < run->nrows && n < run->batch; r = dp_poisson_next(run->rng, r, p->sample_rate))
			memcpy(run->xb + (Size) n++ * run->dim, run->x + (Size) r * run->dim,
				   sizeof(float) * run->dim);
		aigc_vae_dp_accumulate(vae, &run->buf, &run->dp, run->xb, n, run->rng,
							   p->max_grad_norm, &recon, &kl);
		*recon_sum += recon * n;
		*kl_sum += kl * n;
		*rows += n;
		/* DP's per-row gradients read the dense rows: only the forward is spared */
		count_flops(run, n, false, work);
	}
	for (int k = 0; k < vae->nparams; k++)
	{
		AigcParam  *prm = &vae->params[k];

		dp_add_noise(prm->g, prm->n, p->noise_multiplier * p->max_grad_norm, run->rng);
		for (int64 j = 0; j < prm->n; j++)
			prm->g[j] *= scale;
	}
	aigc_adam_step(&run->adam);
	aigc_vae_clamp_sigma(vae);
	work->steps++;
}

/* losses: total, reconstruction, KL, each the mean over the epoch's batches */
void
aigc_vae_train_epoch(void *state, double *losses, AigcTrainWork *work)
{
	VaeRun	   *run = state;
	double		recon_sum = 0.0,
				kl_sum = 0.0;

	if (run->privacy)
	{
		int64		rows = 0;

		/* 1 / sample_rate steps an epoch, rows * sample_rate rows each */
		for (int64 b = 0; b < run->nbatches; b++)
			dp_step(run, &recon_sum, &kl_sum, &rows, work);
		recon_sum /= Max(rows, 1);
		kl_sum /= Max(rows, 1);
		losses[0] = recon_sum + kl_sum;
		losses[1] = recon_sum;
		losses[2] = kl_sum;
		return;
	}

	aigc_rng_shuffle(run->rng, run->perm, run->nrows);
	for (int64 b = 0; b < run->nbatches; b++)
	{
		int64		first = b * run->batch;
		int			n = (int) Min((int64) run->batch, run->nrows - first);
		double		recon,
					kl;

		CHECK_FOR_INTERRUPTS();
		if (run->pool)
			parallel_step(run, first, n, &recon, &kl);
		else
		{
			for (int r = 0; r < n; r++)
				memcpy(run->xb + (Size) r * run->dim,
					   run->x + (Size) run->perm[first + r] * run->dim,
					   sizeof(float) * run->dim);
			aigc_vae_forward_backward(run->vae, &run->buf, run->xb, n, run->rng,
									  true, &recon, &kl);
			aigc_adam_step(&run->adam);
			aigc_vae_clamp_sigma(run->vae);
		}
		recon_sum += recon / run->nbatches;
		kl_sum += kl / run->nbatches;
		count_flops(run, n, true, work);
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

	appendStringInfo(stats, ", \"sparse_input_steps\": " INT64_FORMAT
					 ", \"sparse_input_gemm_flops_avoided\": %.6g",
					 run->sparse_steps, run->sparse_saved_flops);
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
