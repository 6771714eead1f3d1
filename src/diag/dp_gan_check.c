/*
 * dp_gan_check.c
 *		Part of aigc.dp_sgd_check(): the GAN discriminator's DP-SGD chunk
 *		(core/gan.c's aigc_gan_dp_chunk) against per-row gradients
 *		materialised by the ordinary critic and gradient-penalty backward
 *		passes (those are proven by aigc.gradient_check()), one row at a time.
 *
 * A row's gradient is that of -score(real row) + lambda (||d score /
 * d interp|| - 1)^2, both terms through every discriminator layer, so its
 * norm has the cross terms the ghost norms must get right.  Dropout is 0
 * here so that one-row passes draw the same (no) masks as the batched one;
 * in training a mask is a per-row constant factor of the slopes, as the
 * LeakyReLU's are.
 */
#include "postgres.h"

#include <math.h>
#include <string.h>

#include "core/gan.h"
#include "diag/diag.h"

#define GAN_N 9
#define GAN_D 5
#define GAN_LAMBDA 10.0

static double
rel_err(double x, double ref)
{
	return fabs(x - ref) / Max(fabs(ref), 1e-300);
}

/* Every discriminator parameter's gradient as one vector */
static int64
dis_gather(const AigcGan *gan, double *g)
{
	int64		k = 0;

	for (int p = 0; p < gan->n_dparams; p++)
		for (int64 j = 0; j < gan->dparams[p].n; j++)
		{
			if (g != NULL)
				g[k] = gan->dparams[p].g[j];
			k++;
		}
	return k;
}

void
aigc_dp_check_gan(ReturnSetInfo *rsinfo, AigcRng *rng)
{
	static const AigcSpan spans[] = {
		{.offset = 0, .width = 1, .is_scalar = true, .column = 0},
		{.offset = 1, .width = 3, .is_scalar = false, .column = 1},
		{.offset = 4, .width = 1, .is_scalar = true, .column = 2},
	};
	AigcGanConfig cfg = {.data_dim = GAN_D, .noise_dim = 4, .n_gen = 1,
		.gen_dims = {6}, .n_dis = 2, .dis_dims = {7, 5}, .pac = 1,
		.leaky_slope = 0.2, .dropout = 0.0, .tau = 0.2};
	AigcPrivacyOptions privacy = {.enabled = true, .noise_multiplier = 1.0,
		.delta = 1e-5, .max_grad_norm = 1.0, .sample_rate = 1.0, .steps = 1};
	AigcGan		gan;
	AigcGanTrainer t;
	AigcGanBuffers one;
	float		x[GAN_N * GAN_D];
	double		norms[GAN_N],
				real_sum = 0.0,
				penalty_sum = 0.0,
				err = 0.0,
				count_err = 0.0;
	double	   *per_row,
			   *ghost;
	int64		np;
	int			W;

	aigc_gan_init(&gan, &cfg, spans, lengthof(spans), rng);
	W = GAN_D + gan.cfg.cond_dim;
	for (int r = 0; r < GAN_N; r++)
	{
		float	   *row = x + r * GAN_D;

		aigc_diag_fill_uniform(row, GAN_D, rng, -1.0, 1.0);
		row[1] = row[2] = row[3] = 0.0f;
		row[1 + r % 3] = 1.0f;
	}
	aigc_gan_trainer_init(&t, &gan, x, GAN_N, GAN_N, false, GAN_LAMBDA, 0.0,
						  1e-3, 0.0, 1e-3, 0.0, &privacy, 1);
	aigc_gan_buffers_init(&one, &gan, 1);
	/* real rows with their own cond vectors, fake rows anywhere */
	for (int r = 0; r < GAN_N; r++)
	{
		float	   *real = t.real + r * W;

		memcpy(real, x + r * GAN_D, sizeof(float) * GAN_D);
		memset(real + GAN_D, 0, sizeof(float) * gan.cfg.cond_dim);
		real[GAN_D + r % 3] = 1.0f;
		aigc_diag_fill_uniform(t.fake + r * W, W, rng, -1.0, 1.0);
	}
	for (int r = 0; r < GAN_N; r++)
	{
		double		a = (r + 0.5) / GAN_N;

		for (int j = 0; j < W; j++)
			t.interp[r * W + j] = (float) (a * t.real[r * W + j] +
										   (1.0 - a) * t.fake[((r + 4) % GAN_N) * W + j]);
	}
	np = dis_gather(&gan, NULL);
	per_row = palloc(sizeof(double) * np * GAN_N);
	ghost = palloc(sizeof(double) * np);

	/* materialised: each row's critic and penalty terms, alone */
	for (int r = 0; r < GAN_N; r++)
	{
		double		sq = 0.0;

		aigc_params_zero_grad(gan.dparams, gan.n_dparams);
		aigc_gan_discriminator_forward(&gan, &one, t.real + r * W, 1, rng);
		one.dscore[0] = -1.0f;
		aigc_gan_discriminator_backward(&gan, &one, t.real + r * W, 1, NULL);
		aigc_gan_discriminator_forward(&gan, &one, t.interp + r * W, 1, rng);
		aigc_gan_gradient_penalty(&gan, &one, 1, GAN_LAMBDA, true);
		dis_gather(&gan, per_row + r * np);
		for (int64 k = 0; k < np; k++)
			sq += per_row[r * np + k] * per_row[r * np + k];
		norms[r] = sqrt(sq);
	}

	/* the chunk, clipping at the median norm */
	t.dp->clip = aigc_diag_median(norms, GAN_N);
	aigc_params_zero_grad(gan.dparams, gan.n_dparams);
	memset(t.dp->step_counts, 0, sizeof(float) * gan.cfg.cond_dim);
	aigc_gan_dp_chunk(&t, GAN_N, rng, &real_sum, &penalty_sum);
	dis_gather(&gan, ghost);
	for (int r = 0; r < GAN_N; r++)
		err = Max(err, rel_err(sqrt(t.dp->sq_norms[r]), norms[r]));
	/* three rows per category, one cond column: 3 beta each */
	for (int k = 0; k < gan.cfg.cond_dim; k++)
		count_err = Max(count_err, rel_err(t.dp->step_counts[k], 3.0 * t.dp->count_scale));
	aigc_diag_emit(rsinfo, "gan per-example norms", "max relative error, critic and penalty", err, GAN_N);
	aigc_diag_emit(rsinfo, "gan per-example norms", "clipped sum at the median norm, relative error",
				   aigc_diag_clipped_sum_error(per_row, norms, GAN_N, np, t.dp->clip, ghost),
				   (int) np);
	aigc_diag_emit(rsinfo, "gan per-example norms", "category counts, max relative error", count_err, gan.cfg.cond_dim);
}
