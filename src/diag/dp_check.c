/*
 * dp_check.c
 *		aigc.dp_sgd_check(): the DP-SGD building blocks of core/dp_sgd.c
 *		against explicit computations on small fixed-seed problems.
 *
 * Per-example norms and the clipped sum are compared with per-example
 * gradients materialised by running the ordinary backward pass on one
 * example at a time, for a small network and for a tiny VAE (every linear
 * layer and the decoder's sigma), a GAN's discriminator (dp_gan_check.c)
 * and a tiny transformer (one example a row of tokens: every projection,
 * LayerNorm, embedding and the head); the ghost and the materialised norms
 * of a linear layer over a row's positions against explicit sums; noise and
 * Poisson sampling report sample statistics.
 * The test (test/pgtap/22_dp_sgd.sql) holds the bounds.
 */
#include "postgres.h"

#include <math.h>
#include <string.h>

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

#include "core/dp_sgd.h"
#include "core/tf_model.h"
#include "core/vae.h"
#include "diag/diag.h"

PG_FUNCTION_INFO_V1(aigc_dp_sgd_check);

/* A two-layer network x -> Linear -> ReLU -> Linear, summed loss c . y */
#define NET_N 7
#define NET_IN 6
#define NET_HIDDEN 8
#define NET_OUT 3
#define NET_PARAMS (NET_HIDDEN * NET_IN + NET_HIDDEN + NET_OUT * NET_HIDDEN + NET_OUT)

static void
zero_grads(AigcLinear *l)
{
	memset(l->weight.g, 0, sizeof(float) * l->weight.n);
	memset(l->bias.g, 0, sizeof(float) * l->bias.n);
}

/* Both layers' gradients as one vector: W1, b1, W2, b2 */
static void
gather_grads(const AigcLinear *l1, const AigcLinear *l2, double *g)
{
	const AigcParam *p[4] = {&l1->weight, &l1->bias, &l2->weight, &l2->bias};
	int			k = 0;

	for (int t = 0; t < 4; t++)
		for (int64 j = 0; j < p[t]->n; j++)
			g[k++] = p[t]->g[j];
}

/*
 * Forward and backward of rows [first, first + n) of x: h = relu(x W1^T +
 * b1), delta2 = c, delta1 = relu'(h) . (delta2 W2); parameter gradients
 * accumulate as in training.
 */
static void
net_pass(AigcLinear *l1, AigcLinear *l2, const float *x, const float *c,
		 int first, int n, float *h, float *y, float *delta1)
{
	x += first * NET_IN;
	c += first * NET_OUT;
	h += first * NET_HIDDEN;
	y += first * NET_OUT;
	delta1 += first * NET_HIDDEN;
	aigc_linear_forward(l1, x, n, h);
	aigc_relu_forward(h, (int64) n * NET_HIDDEN);
	aigc_linear_forward(l2, h, n, y);
	aigc_linear_backward(l2, h, c, n, delta1);
	aigc_relu_backward(h, delta1, (int64) n * NET_HIDDEN);
	aigc_linear_backward(l1, x, delta1, n, NULL);
}

static double
rel_err(double x, double ref)
{
	return fabs(x - ref) / Max(fabs(ref), 1e-300);
}

static void
check_clipping(ReturnSetInfo *rsinfo, AigcRng *rng)
{
	AigcLinear	l1,
				l2;
	float		x[NET_N * NET_IN],
				c[NET_N * NET_OUT],
				h[NET_N * NET_HIDDEN],
				y[NET_N * NET_OUT],
				delta1[NET_N * NET_HIDDEN],
				factors[NET_N];
	double		per_example[NET_N][NET_PARAMS],
				sq_l1[NET_N] = {0},
				sq_l2[NET_N] = {0},
				sq_net[NET_N] = {0},
				norms[NET_N],
				clipped[NET_PARAMS] = {0},
				ghost[NET_PARAMS],
				err_l1 = 0.0,
				err_l2 = 0.0,
				err_net = 0.0,
				max_clipped = 0.0,
				diff = 0.0,
				ref = 0.0,
				max_grad_norm;
	int			n_clipped = 0;
	const int	l1_params = NET_HIDDEN * NET_IN + NET_HIDDEN;

	aigc_linear_init(&l1, NET_IN, NET_HIDDEN, rng);
	aigc_linear_init(&l2, NET_HIDDEN, NET_OUT, rng);
	aigc_diag_fill_uniform(x, NET_N * NET_IN, rng, -1.0, 1.0);
	aigc_diag_fill_uniform(c, NET_N * NET_OUT, rng, -1.0, 1.0);

	/* explicit per-example gradients: one example per backward pass */
	for (int i = 0; i < NET_N; i++)
	{
		zero_grads(&l1);
		zero_grads(&l2);
		net_pass(&l1, &l2, x, c, i, 1, h, y, delta1);
		gather_grads(&l1, &l2, per_example[i]);
	}

	/* the batched pass leaves the activations and output gradients */
	net_pass(&l1, &l2, x, c, 0, NET_N, h, y, delta1);
	dp_linear_sq_norms(x, delta1, NET_N, NET_IN, NET_HIDDEN, true, sq_l1);
	dp_linear_sq_norms(h, c, NET_N, NET_HIDDEN, NET_OUT, true, sq_l2);
	for (int i = 0; i < NET_N; i++)
	{
		double		e1 = 0.0,
					e2 = 0.0;

		for (int k = 0; k < NET_PARAMS; k++)
		{
			double		g2 = per_example[i][k] * per_example[i][k];

			if (k < l1_params)
				e1 += g2;
			else
				e2 += g2;
		}
		sq_net[i] = sq_l1[i] + sq_l2[i];
		err_l1 = Max(err_l1, rel_err(sqrt(sq_l1[i]), sqrt(e1)));
		err_l2 = Max(err_l2, rel_err(sqrt(sq_l2[i]), sqrt(e2)));
		err_net = Max(err_net, rel_err(sqrt(sq_net[i]), sqrt(e1 + e2)));
		norms[i] = sqrt(e1 + e2);
	}
	aigc_diag_emit(rsinfo, "per-example norms", "max relative error, first linear layer", err_l1, NET_N);
	aigc_diag_emit(rsinfo, "per-example norms", "max relative error, second linear layer", err_l2, NET_N);
	aigc_diag_emit(rsinfo, "per-example norms", "max relative error, whole network", err_net, NET_N);

	/* clip at the median norm, so that some examples are clipped and some not */
	max_grad_norm = aigc_diag_median(norms, NET_N);
	dp_clip_factors(sq_net, NET_N, max_grad_norm, factors);
	for (int i = 0; i < NET_N; i++)
	{
		double		norm = 0.0;

		for (int k = 0; k < NET_PARAMS; k++)
		{
			clipped[k] += factors[i] * per_example[i][k];
			norm += per_example[i][k] * per_example[i][k];
		}
		max_clipped = Max(max_clipped, factors[i] * sqrt(norm) / max_grad_norm);
		if (factors[i] < 1.0f)
			n_clipped++;
	}
	zero_grads(&l1);
	zero_grads(&l2);
	dp_linear_clipped_grad(&l1, x, delta1, factors, NET_N);
	dp_linear_clipped_grad(&l2, h, c, factors, NET_N);
	gather_grads(&l1, &l2, ghost);
	for (int k = 0; k < NET_PARAMS; k++)
	{
		diff += (ghost[k] - clipped[k]) * (ghost[k] - clipped[k]);
		ref += clipped[k] * clipped[k];
	}
	aigc_diag_emit(rsinfo, "clipping", "examples clipped", n_clipped, NET_N);
	aigc_diag_emit(rsinfo, "clipping", "largest clipped norm / max_grad_norm", max_clipped, NET_N);
	aigc_diag_emit(rsinfo, "clipping", "relative error of the clipped sum", sqrt(diff / ref), NET_PARAMS);
}

/*
 * A tiny VAE: a scalar, a 3-slot one-hot, another scalar; two encoder and
 * two decoder layers, so every branch of the per-row backward pass runs.
 */
#define VAE_N 9
#define VAE_D 5

/* Every parameter's gradient of the VAE as one vector, in vae->params order */
static int64
vae_gather(const AigcVae *vae, double *g)
{
	int64		k = 0;

	for (int p = 0; p < vae->nparams; p++)
		for (int64 j = 0; j < vae->params[p].n; j++)
		{
			if (g != NULL)
				g[k] = vae->params[p].g[j];
			k++;
		}
	return k;
}

static void
check_vae_norms(ReturnSetInfo *rsinfo, AigcRng *rng)
{
	static const AigcSpan spans[] = {
		{.offset = 0, .width = 1, .is_scalar = true, .column = 0},
		{.offset = 1, .width = 3, .is_scalar = false, .column = 1},
		{.offset = 4, .width = 1, .is_scalar = true, .column = 2},
	};
	AigcVaeConfig cfg = {.data_dim = VAE_D, .latent_dim = 3, .n_enc = 2,
		.enc_dims = {6, 4}, .n_dec = 2, .dec_dims = {4, 7}, .loss_factor = 2.0};
	AigcVae		vae;
	AigcVaeBuffers buf,
				one;
	AigcVaeDpBuffers dp;
	float		x[VAE_N * VAE_D];
	double		norms[VAE_N],
				recon,
				kl,
				err = 0.0,
				err_sigma = 0.0,
				max_grad_norm;
	double	   *per_row,
			   *ghost;
	int64		np;

	aigc_vae_init(&vae, &cfg, spans, lengthof(spans), rng);
	/* sigma away from its initial 0.1 so that its gradient is not uniform */
	for (int j = 0; j < VAE_D; j++)
		vae.sigma.w[j] = 0.2f + 0.15f * j;
	for (int r = 0; r < VAE_N; r++)
	{
		float	   *row = x + r * VAE_D;

		aigc_diag_fill_uniform(row, VAE_D, rng, -1.0, 1.0);
		row[1] = row[2] = row[3] = 0.0f;
		row[1 + r % 3] = 1.0f;
	}
	aigc_vae_buffers_init(&buf, &vae, VAE_N);
	aigc_vae_buffers_init(&one, &vae, 1);
	aigc_vae_dp_buffers_init(&dp, &vae, &buf);
	np = vae_gather(&vae, NULL);
	per_row = palloc(sizeof(double) * np * VAE_N);
	ghost = palloc(sizeof(double) * np);

	/* one seed for both: row r draws the same posterior noise either way */
	aigc_rng_seed(rng, 99);
	aigc_vae_dp_norms(&vae, &buf, &dp, x, VAE_N, rng, &recon, &kl);
	aigc_rng_seed(rng, 99);
	for (int r = 0; r < VAE_N; r++)
	{
		double		sq = 0.0,
					sq_sigma = 0.0,
					ghost_sigma = 0.0;
		double	   *g = per_row + r * np;

		/* a one-row pass is that row's own loss, its gradient unscaled */
		aigc_vae_forward_backward(&vae, &one, x + r * VAE_D, 1, rng, true,
								  &recon, &kl);
		vae_gather(&vae, g);
		for (int64 k = 0; k < np; k++)
			sq += g[k] * g[k];
		for (int j = 0; j < VAE_D; j++)
		{
			sq_sigma += (double) vae.sigma.g[j] * vae.sigma.g[j];
			ghost_sigma += (double) dp.dsigma[r * VAE_D + j] * dp.dsigma[r * VAE_D + j];
		}
		err = Max(err, rel_err(sqrt(dp.sq_norms[r]), sqrt(sq)));
		err_sigma = Max(err_sigma, rel_err(sqrt(ghost_sigma), sqrt(sq_sigma)));
		norms[r] = sqrt(sq);
	}
	aigc_diag_emit(rsinfo, "vae per-example norms", "max relative error, every parameter", err, VAE_N);
	aigc_diag_emit(rsinfo, "vae per-example norms", "max relative error, sigma alone", err_sigma, VAE_N);

	/* the clipped sum at the median norm against the materialised gradients */
	max_grad_norm = aigc_diag_median(norms, VAE_N);
	aigc_params_zero_grad(vae.params, vae.nparams);
	aigc_rng_seed(rng, 99);
	aigc_vae_dp_accumulate(&vae, &buf, &dp, x, VAE_N, rng, max_grad_norm,
						   &recon, &kl);
	vae_gather(&vae, ghost);
	aigc_diag_emit(rsinfo, "vae per-example norms", "clipped sum at the median norm, relative error",
				   aigc_diag_clipped_sum_error(per_row, norms, VAE_N, np, max_grad_norm, ghost),
				   (int) np);
}

/* A linear layer over each of SEQ_T positions of SEQ_N examples */
#define SEQ_N 5
#define SEQ_T 7
#define SEQ_IN 6
#define SEQ_OUT 9

static void
check_seq_linear(ReturnSetInfo *rsinfo, AigcRng *rng)
{
	float		a[SEQ_N * SEQ_T * SEQ_IN],
				d[SEQ_N * SEQ_T * SEQ_OUT],
				scratch[Max(2 * SEQ_T * SEQ_T, SEQ_IN * SEQ_OUT)];
	double		ghost[SEQ_N] = {0},
				dense[SEQ_N] = {0},
				err_ghost = 0.0,
				err_dense = 0.0;

	aigc_diag_fill_uniform(a, lengthof(a), rng, -1.0, 1.0);
	aigc_diag_fill_uniform(d, lengthof(d), rng, -1.0, 1.0);
	dp_seq_linear_sq_norms(a, d, SEQ_N, SEQ_T, SEQ_IN, SEQ_OUT, true, true,
						   scratch, ghost);
	dp_seq_linear_sq_norms(a, d, SEQ_N, SEQ_T, SEQ_IN, SEQ_OUT, true, false,
						   scratch, dense);
	for (int i = 0; i < SEQ_N; i++)
	{
		double		sq = 0.0;

		/* the example's weight and bias gradients, summed position by position */
		for (int o = 0; o < SEQ_OUT; o++)
		{
			double		gb = 0.0;

			for (int j = 0; j < SEQ_IN; j++)
			{
				double		g = 0.0;

				for (int t = 0; t < SEQ_T; t++)
					g += (double) d[(i * SEQ_T + t) * SEQ_OUT + o] *
						a[(i * SEQ_T + t) * SEQ_IN + j];
				sq += g * g;
			}
			for (int t = 0; t < SEQ_T; t++)
				gb += d[(i * SEQ_T + t) * SEQ_OUT + o];
			sq += gb * gb;
		}
		err_ghost = Max(err_ghost, rel_err(sqrt(ghost[i]), sqrt(sq)));
		err_dense = Max(err_dense, rel_err(sqrt(dense[i]), sqrt(sq)));
	}
	aigc_diag_emit(rsinfo, "sequence linear per-example norms", "max relative error, ghost (Gram matrices)", err_ghost, SEQ_N);
	aigc_diag_emit(rsinfo, "sequence linear per-example norms", "max relative error, materialised", err_dense, SEQ_N);
}

/*
 * A tiny transformer: 2 layers of width 8, 10 positions, so that the
 * attention projection's norms are materialised and the other projections'
 * are ghost norms (dp_seq_linear_ghost); parameters drawn wide so that
 * every layer's gradient counts in the norms.
 */
#define TF_N 7
#define TF_T 10

static void
check_transformer(ReturnSetInfo *rsinfo, AigcRng *rng)
{
	static const int first[TF_T + 1] = {0, 3, 5, 9, 11, 14, 16, 21, 23, 26, 28};
	AigcTfConfig cfg = {.n_layer = 2, .d_model = 8, .n_head = 2,
	.seq_len = TF_T, .first = first};
	AigcTfModel m;
	AigcTfActs	acts,
				one;
	AigcTfDpBuffers dp;
	int32		tokens[TF_N * TF_T];
	double		norms[TF_N],
				err = 0.0,
				max_grad_norm;
	double	   *per_row,
			   *ghost;
	int64		np;

	aigc_tf_init(&m, &cfg, true, rng);
	np = m.nparams;
	aigc_diag_fill_uniform(m.params, np, rng, -0.3, 0.3);
	for (int r = 0; r < TF_N; r++)
		for (int t = 0; t < TF_T; t++)
			tokens[r * TF_T + t] = first[t] +
				(int) aigc_rng_below(rng, first[t + 1] - first[t]);
	aigc_tf_acts_init(&acts, &m, TF_N);
	aigc_tf_acts_init(&one, &m, 1);
	aigc_tf_dp_buffers_init(&dp, &m, TF_N);
	per_row = palloc(sizeof(double) * np * TF_N);
	ghost = palloc(sizeof(double) * np);

	/* a one-row pass's gradient is that row's own, -log p(row) unscaled */
	for (int r = 0; r < TF_N; r++)
	{
		double		sq = 0.0;

		aigc_tf_forward(&m, &one, tokens + r * TF_T, NULL, 1);
		aigc_tf_backward(&m, &one, tokens + r * TF_T, 1);
		for (int64 k = 0; k < np; k++)
		{
			per_row[r * np + k] = m.grads[k];
			sq += (double) m.grads[k] * m.grads[k];
		}
		norms[r] = sqrt(sq);
	}
	aigc_tf_forward(&m, &acts, tokens, NULL, TF_N);
	aigc_tf_dp_norms(&m, &acts, &dp, tokens, TF_N);
	for (int r = 0; r < TF_N; r++)
		err = Max(err, rel_err(sqrt(dp.sq_norms[r]), norms[r]));
	aigc_diag_emit(rsinfo, "transformer per-example norms", "max relative error, every parameter", err, TF_N);

	/* the clipped sum at the median norm against the materialised gradients */
	max_grad_norm = aigc_diag_median(norms, TF_N);
	memset(m.grads, 0, sizeof(float) * np);
	aigc_tf_dp_accumulate(&m, &acts, &dp, tokens, TF_N, max_grad_norm);
	for (int64 k = 0; k < np; k++)
		ghost[k] = m.grads[k];
	aigc_diag_emit(rsinfo, "transformer per-example norms", "clipped sum at the median norm, relative error",
				   aigc_diag_clipped_sum_error(per_row, norms, TF_N, np, max_grad_norm, ghost),
				   (int) np);
}

#define NOISE_N 200000
#define NOISE_STDDEV 0.7

static void
check_noise(ReturnSetInfo *rsinfo)
{
	float	   *g = palloc0(sizeof(float) * NOISE_N),
			   *again = palloc0(sizeof(float) * NOISE_N);
	AigcRng		rng;
	double		sum = 0.0,
				sum2 = 0.0,
				maxdiff = 0.0,
				mean;

	aigc_rng_seed(&rng, 7);
	dp_add_noise(g, NOISE_N, NOISE_STDDEV, &rng);
	aigc_rng_seed(&rng, 7);
	dp_add_noise(again, NOISE_N, NOISE_STDDEV, &rng);
	for (int k = 0; k < NOISE_N; k++)
	{
		sum += g[k];
		sum2 += (double) g[k] * g[k];
		maxdiff = Max(maxdiff, fabs(g[k] - again[k]));
	}
	mean = sum / NOISE_N;
	aigc_diag_emit(rsinfo, "noise", "mean in standard errors",
		 mean / (NOISE_STDDEV / sqrt(NOISE_N)), NOISE_N);
	aigc_diag_emit(rsinfo, "noise", "sample stddev / stddev",
		 sqrt(sum2 / NOISE_N - mean * mean) / NOISE_STDDEV, NOISE_N);
	aigc_diag_emit(rsinfo, "noise", "largest difference between two runs of one seed", maxdiff, NOISE_N);
}

#define POISSON_ROWS 100000
#define POISSON_BATCHES 20
#define POISSON_RATE 0.02

static void
check_poisson(ReturnSetInfo *rsinfo)
{
	AigcRng		rng;
	int64		total = 0,
				first_half = 0,
				bad = 0,
				all = 0,
				trials = (int64) POISSON_ROWS * POISSON_BATCHES;
	double		p = POISSON_RATE;

	aigc_rng_seed(&rng, 11);
	for (int b = 0; b < POISSON_BATCHES; b++)
	{
		int64		prev = -1;

		for (int64 r = dp_poisson_next(&rng, -1, p); r < POISSON_ROWS;
			 r = dp_poisson_next(&rng, r, p))
		{
			if (r <= prev)
				bad++;
			total++;
			if (r < POISSON_ROWS / 2)
				first_half++;
			prev = r;
		}
	}
	for (int64 r = dp_poisson_next(&rng, -1, 1.0); r < POISSON_ROWS;
		 r = dp_poisson_next(&rng, r, 1.0))
		all += (r == all);
	aigc_diag_emit(rsinfo, "poisson sampling", "rows selected, in standard deviations from the expectation",
		 (total - trials * p) / sqrt(trials * p * (1 - p)), (int) trials);
	/* given the total, the first half holds Binomial(total, 1/2) of them */
	aigc_diag_emit(rsinfo, "poisson sampling", "first half minus expectation, in standard deviations",
		 (first_half - total / 2.0) / sqrt(total / 4.0), (int) total);
	aigc_diag_emit(rsinfo, "poisson sampling", "rows out of order", bad, (int) total);
	aigc_diag_emit(rsinfo, "poisson sampling", "rows selected at rate 1, in order", all, POISSON_ROWS);
}

Datum
aigc_dp_sgd_check(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo;
	AigcRng		rng;

	InitMaterializedSRF(fcinfo, 0);
	rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	aigc_rng_seed(&rng, 20261202);
	check_clipping(rsinfo, &rng);
	check_vae_norms(rsinfo, &rng);
	aigc_dp_check_gan(rsinfo, &rng);
	check_seq_linear(rsinfo, &rng);
	check_transformer(rsinfo, &rng);
	check_noise(rsinfo);
	check_poisson(rsinfo);
	return (Datum) 0;
}
