/*
 * gan.c
 *		CTGAN (Xu et al. 2019) in C over cblas_sgemm.
 *
 * Generator: noise and cond vector through residual blocks, each
 * Linear-BatchNorm-ReLU whose output is concatenated with its input, then a
 * Linear to the encoded row; tanh on scalars, Gumbel-softmax on one-hot
 * spans while training.  Discriminator: pac rows side by side, hidden
 * Linear-LeakyReLU-Dropout layers, a Linear to one score.  Loss: WGAN with
 * gradient penalty per pac group, plus the cross-entropy of the generator's
 * conditioned span against the cond vector.
 *
 * The penalty's gradient with respect to the discriminator's weights is
 * derived in closed form.  With every activation derivative piecewise
 * constant (LeakyReLU slopes times dropout masks, s_i), the gradient of the
 * score with respect to a group's input is
 *		g = u_0 W_0,  u_{i-1} = s_{i-1} * (u_i W_i),  u_{L-1} = s_{L-1} * w_out
 * (rows, * elementwise), a linear "gradient network" whose backward pass
 * gives d penalty / d W_i as u_i^T dv_{i-1} and d / d w_out as sum s * du.
 * Biases do not enter g.  gradcheck.c verifies all of it numerically.
 *
 * With option privacy the discriminator trains by DP-SGD instead ("DP-SGD
 * for the discriminator" below, docs/privacy.md): the same closed form,
 * kept per row, gives each row's penalty gradient as one outer product per
 * layer.
 */
#include "postgres.h"

#include <math.h>
#include <string.h>
#include <cblas.h>

#include "miscadmin.h"

#include "core/dp_sgd.h"
#include "core/fastmath.h"
#include "core/gan.h"
#include "core/threads.h"

#define GAN_DIM_MAX 1000000

static void
collect_params(AigcGan *gan)
{
	int			np = 0;

#define ADD(arr, n, p) ((arr)[(n)++] = (p))
	for (int i = 0; i < gan->cfg.n_gen; i++)
	{
		ADD(gan->gparams, np, gan->gen[i].weight);
		ADD(gan->gparams, np, gan->gen[i].bias);
		ADD(gan->gparams, np, gan->bn[i].gamma);
		ADD(gan->gparams, np, gan->bn[i].beta);
	}
	ADD(gan->gparams, np, gan->gen_out.weight);
	ADD(gan->gparams, np, gan->gen_out.bias);
	gan->n_gparams = np;
	np = 0;
	for (int i = 0; i <= gan->cfg.n_dis; i++)
	{
		ADD(gan->dparams, np, gan->dis[i].weight);
		ADD(gan->dparams, np, gan->dis[i].bias);
	}
	gan->n_dparams = np;
#undef ADD
}

/*
 * The cond vector covers every categorical column (a lone softmax span; a
 * continuous column's mode span follows its scalar and is left out, as
 * CTGAN leaves mode indicators out).
 */
static bool
is_cond_span(const AigcSpan *spans, int s)
{
	return !spans[s].is_scalar &&
		!(s > 0 && spans[s - 1].column == spans[s].column);
}

int
aigc_gan_cond_dim(const AigcSpan *spans, int nspans)
{
	int			width = 0;

	for (int s = 0; s < nspans; s++)
		if (is_cond_span(spans, s))
			width += spans[s].width;
	return width;
}

static void
find_cond_columns(AigcGan *gan)
{
	int			off = 0;

	gan->ncond = 0;
	gan->cond = palloc(sizeof(AigcCondColumn) * Max(gan->nspans, 1));
	for (int s = 0; s < gan->nspans; s++)
	{
		const AigcSpan *sp = &gan->spans[s];
		AigcCondColumn *cc;

		if (!is_cond_span(gan->spans, s))
			continue;
		cc = &gan->cond[gan->ncond++];
		cc->column = sp->column;
		cc->data_offset = sp->offset;
		cc->cond_offset = off;
		cc->width = sp->width;
		off += sp->width;
	}
	gan->cfg.cond_dim = off;
}

static int
gen_input_width(const AigcGanConfig *cfg)
{
	return cfg->noise_dim + cfg->cond_dim;
}

static int
dis_row_width(const AigcGanConfig *cfg)
{
	return cfg->data_dim + cfg->cond_dim;
}

void
aigc_gan_init(AigcGan *gan, const AigcGanConfig *cfg, const AigcSpan *spans,
			  int nspans, AigcRng *rng)
{
	int			prev;

	memset(gan, 0, sizeof(*gan));
	gan->cfg = *cfg;
	gan->spans = spans;
	gan->nspans = nspans;
	find_cond_columns(gan);
	gan->cond_freq = palloc0(sizeof(float) * Max(gan->cfg.cond_dim, 1));

	prev = gen_input_width(&gan->cfg);
	for (int i = 0; i < cfg->n_gen; i++)
	{
		aigc_linear_init(&gan->gen[i], prev, cfg->gen_dims[i], rng);
		aigc_batchnorm_init(&gan->bn[i], cfg->gen_dims[i]);
		prev += cfg->gen_dims[i];
	}
	aigc_linear_init(&gan->gen_out, prev, cfg->data_dim, rng);

	prev = cfg->pac * dis_row_width(&gan->cfg);
	for (int i = 0; i < cfg->n_dis; i++)
	{
		aigc_linear_init(&gan->dis[i], prev, cfg->dis_dims[i], rng);
		prev = cfg->dis_dims[i];
	}
	aigc_linear_init(&gan->dis[cfg->n_dis], prev, 1, rng);
	collect_params(gan);
}

void
aigc_gan_buffers_init(AigcGanBuffers *buf, const AigcGan *gan, int batch)
{
	const AigcGanConfig *cfg = &gan->cfg;
	int			groups = (batch + cfg->pac - 1) / cfg->pac;
	int			width = gen_input_width(cfg);
	int			widest = Max(width, cfg->data_dim);
	int64		dis_in = (int64) groups * cfg->pac * dis_row_width(cfg);
	int64		scratch;

	buf->batch = batch;
	for (int i = 0; i < cfg->n_gen; i++)
	{
		buf->gxhat[i] = palloc(sizeof(float) * batch * cfg->gen_dims[i]);
		width += cfg->gen_dims[i];
		widest = Max(widest, width);
	}
	buf->gx_width = width;
	buf->gx = palloc(sizeof(float) * batch * width);
	buf->gin = buf->gx + width - gen_input_width(cfg);
	buf->dgx = palloc(sizeof(float) * batch * Max(width - gen_input_width(cfg), 1));
	buf->gout = palloc(sizeof(float) * batch * cfg->data_dim);
	buf->fake = palloc(sizeof(float) * batch * cfg->data_dim);
	buf->dgout = palloc(sizeof(float) * batch * cfg->data_dim);
	buf->dfake = palloc(sizeof(float) * batch * cfg->data_dim);
	for (int i = 0; i < cfg->n_dis; i++)
	{
		buf->dact[i] = palloc(sizeof(float) * 3 * groups * cfg->dis_dims[i]);
		buf->deriv[i] = palloc(sizeof(float) * 3 * groups * cfg->dis_dims[i]);
		buf->du[i] = palloc(sizeof(float) * groups * cfg->dis_dims[i]);
		widest = Max(widest, cfg->dis_dims[i]);
	}
	buf->score = palloc(sizeof(float) * 3 * groups);
	buf->dscore = palloc(sizeof(float) * 3 * groups);
	buf->dinput = palloc(sizeof(float) * dis_in);
	scratch = Max((int64) Max(batch, 2 * groups) * widest, dis_in);
	buf->grad_a = palloc(sizeof(float) * scratch);
	buf->grad_b = palloc(sizeof(float) * scratch);
	buf->grad_c = palloc(sizeof(float) * scratch);
}

/* A generator tensor of n floats, with its running average when kept */
static double
gen_param_size(AigcSizeEstimate *e, double n, bool average)
{
	aigc_size_add_param(e, n);
	if (average)
		aigc_size_add(e, n, sizeof(float));
	return n;
}

/* Mirrors aigc_gan_init, aigc_gan_buffers_init and aigc_gan_trainer_init */
void
aigc_gan_train_size(const AigcGanConfig *cfg, int batch, bool average,
					bool dp, AigcSizeEstimate *e)
{
	double		b = batch;
	double		groups = (batch + cfg->pac - 1) / cfg->pac;
	double		D = cfg->data_dim;
	double		C = Max(cfg->cond_dim, 1);
	double		W = dis_row_width(cfg);
	double		dis_in = groups * cfg->pac * W;
	double		width = gen_input_width(cfg);
	double		widest = Max(width, D);
	double		prev;
	double		weights = 0.0;

	for (int i = 0; i < cfg->n_gen; i++)
	{
		double		h = cfg->gen_dims[i];

		weights += gen_param_size(e, width * h, average);
		weights += gen_param_size(e, h, average);
		/* batch norm: gamma and beta, running mean and variance, inv_std, scratch */
		weights += gen_param_size(e, h, average) + gen_param_size(e, h, average);
		for (int k = 0; k < 3; k++)
			aigc_size_add(e, h, sizeof(float));
		aigc_size_add(e, 3 * h, sizeof(float));
		aigc_size_add(e, b * h, sizeof(float)); /* gxhat */
		width += h;
		widest = Max(widest, width);
	}
	aigc_size_add(e, b * width, sizeof(float)); /* gx */
	aigc_size_add(e, b * Max(width - gen_input_width(cfg), 1), sizeof(float)); /* dgx */
	weights += gen_param_size(e, width * D, average);
	weights += gen_param_size(e, D, average);
	/* gout, fake, dgout, dfake */
	for (int k = 0; k < 4; k++)
		aigc_size_add(e, b * D, sizeof(float));

	prev = cfg->pac * W;
	for (int i = 0; i < cfg->n_dis; i++)
	{
		double		h = cfg->dis_dims[i];

		weights += aigc_size_add_linear(e, prev, h);
		prev = h;
		/* dact and deriv for three passes, du */
		for (int k = 0; k < 2; k++)
			aigc_size_add(e, 3 * groups * h, sizeof(float));
		aigc_size_add(e, groups * h, sizeof(float));
		widest = Max(widest, h);
	}
	weights += aigc_size_add_linear(e, prev, 1);
	aigc_size_add(e, 6 * groups, sizeof(float));	/* score, dscore */
	aigc_size_add(e, dis_in, sizeof(float));
	/* grad_a, grad_b, grad_c */
	for (int k = 0; k < 3; k++)
		aigc_size_add(e, Max(Max(b, 2 * groups) * widest, dis_in), sizeof(float));

	/* the trainer: colsel, slot, perm, cond, then real, fake and interp rows */
	aigc_size_add(e, b, sizeof(int));
	aigc_size_add(e, b, sizeof(int));
	aigc_size_add(e, b, sizeof(int64));
	aigc_size_add(e, b * C, sizeof(float));
	aigc_size_add(e, 3 * b * W, sizeof(float));
	/* cond frequencies, the sampler's slot starts, weights and fill */
	aigc_size_add(e, C, sizeof(float) * 2 + sizeof(int64) * 2);
	if (dp)
	{
		double		hidden = 0.0;

		for (int i = 0; i < cfg->n_dis; i++)
			hidden += cfg->dis_dims[i];
		/* act, delta and pv; norms, factors; counts; a clipped sum's scaled rows */
		aigc_size_add(e, b * (3.0 * hidden + 1.0 + W), sizeof(float));
		aigc_size_add(e, b, sizeof(double) + sizeof(float));
		aigc_size_add(e, C, sizeof(double) + sizeof(float));
		aigc_size_add(e, b * Max(widest, W), sizeof(float));
	}

	/*
	 * The stored model: a buffer that grows by doubling (to at most twice
	 * the weights, one allocation no larger than them when it must fit in
	 * MaxAllocSize), then its bytea.
	 */
	aigc_size_add(e, weights, sizeof(float));
	aigc_size_add(e, weights, sizeof(float));
	aigc_size_add(e, weights, sizeof(float));
}

/*
 * Output activations: tanh on scalars; Gumbel-softmax or plain softmax.
 * Training draws the noise for the whole n x D block in one vectorised
 * pass (the scalars' share is drawn and overwritten).
 */
static void
activate(const AigcGan *gan, const float *logits, float *out, int n,
		 bool training, AigcRng *rng, float *scratch)
{
	int			D = gan->cfg.data_dim;

	if (training)
		aigc_gumbel_noise(logits, out, (int64) n * D, gan->cfg.tau, rng);
	aigc_spans_activate(gan->spans, gan->nspans, D, n, training ? out : logits,
						logits, out, scratch);
}

void
aigc_gan_activation_backward(const AigcGan *gan, const float *fake,
							 const float *dfake, int n, float *dgout)
{
	int			D = gan->cfg.data_dim;

	for (int r = 0; r < n; r++)
	{
		const float *a = fake + (int64) r * D;
		const float *da = dfake + (int64) r * D;
		float	   *d = dgout + (int64) r * D;

		for (int s = 0; s < gan->nspans; s++)
		{
			int			off = gan->spans[s].offset;
			int			w = gan->spans[s].width;

			if (gan->spans[s].is_scalar)
				d[off] = da[off] * (1.0f - a[off] * a[off]);
			else
				aigc_gumbel_softmax_backward(a + off, da + off, d + off, w,
											 gan->cfg.tau);
		}
	}
}

/* dst rows = [a row (wa) | b row (wb)] */
static void
concat_rows(float *dst, const float *a, int wa, const float *b, int wb, int n)
{
	for (int r = 0; r < n; r++)
	{
		memcpy(dst + (int64) r * (wa + wb), a + (int64) r * wa, sizeof(float) * wa);
		memcpy(dst + (int64) r * (wa + wb) + wa, b + (int64) r * wb, sizeof(float) * wb);
	}
}

/* Columns [from, from + w) of an n x width matrix into a dense n x w one */
static void
take_columns(float *dst, const float *src, int width, int from, int w, int n)
{
	for (int r = 0; r < n; r++)
		memcpy(dst + (int64) r * w, src + (int64) r * width + from, sizeof(float) * w);
}

/*
 * The threads of a split pass meet here (pool NULL: one thread, no one to
 * wait for)
 */
static void
meet(AigcPool *pool)
{
	if (pool != NULL)
		aigc_pool_barrier(pool);
}

/*
 * Part `part` of nparts of the generator's forward pass: each block's
 * product and batch norm for its range of the block's units (the columns;
 * batch norm's statistics are per column), the parts meeting before the
 * next block reads them all; then the output layer and activations for its
 * range of the rows.  Part 0 draws from rng, the others from rngs[part].
 */
static void
generator_forward_part(AigcGan *gan, AigcGanBuffers *buf, int n,
					   bool training, AigcRng *rng, AigcRng *rngs,
					   AigcPool *pool, int part, int nparts)
{
	const AigcGanConfig *cfg = &gan->cfg;
	int			ld = buf->gx_width;
	int			at = ld - gen_input_width(cfg);
	int			D = cfg->data_dim;
	int64		first,
				count;

	Assert(n <= buf->batch);
	/* block i reads gx's columns [at, ld) and writes its ReLU just before */
	for (int i = 0; i < cfg->n_gen; i++)
	{
		AigcLinear *l = &gan->gen[i];
		int			hd = cfg->gen_dims[i];

		/* xhat[:, first:first + count] = x W[first:first + count]^T */
		aigc_split(hd, part, nparts, &first, &count);
		if (count > 0)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, (int) count,
						l->in, 1.0f, buf->gx + at, ld,
						l->weight.w + first * l->in, l->in, 0.0f,
						buf->gxhat[i] + first, hd);
		at -= hd;
		aigc_batchnorm_relu_forward(&gan->bn[i], buf->gxhat[i], l->bias.w, n,
									training, buf->gx + at, ld, (int) first,
									(int) count);
		meet(pool);
	}
	aigc_split(n, part, nparts, &first, &count);
	aigc_linear_forward_ld(&gan->gen_out, buf->gx + first * ld, ld, (int) count,
						   buf->gout + first * D, true);
	activate(gan, buf->gout + first * D, buf->fake + first * D, (int) count,
			 training, part == 0 ? rng : &rngs[part], buf->dfake + first * D);
}

void
aigc_gan_generator_forward(AigcGan *gan, AigcGanBuffers *buf, int n,
						   bool training, AigcRng *rng)
{
	generator_forward_part(gan, buf, n, training, rng, NULL, NULL, 0, 1);
}

/*
 * Part `part` of nparts of the generator's backward pass from buf->dgout.
 * dgx gets the gradient of gx's ReLU columns only (the noise and cond need
 * none): the output layer's product sets it, and each block, from the last
 * back, adds its input's share before the blocks below read theirs.  Split
 * as forward: batch norm and each block's weight gradient by the block's
 * units, the input gradients by rows, the output layer's weight gradient
 * by its columns, meeting between.
 */
static void
generator_backward_part(AigcGan *gan, AigcGanBuffers *buf, int n,
						AigcPool *pool, int part, int nparts)
{
	const AigcGanConfig *cfg = &gan->cfg;
	int			ld = buf->gx_width;
	int			hidden = ld - gen_input_width(cfg);
	int			at = 0;
	float	   *gc = buf->grad_c;
	int64		r0,
				nr;

	aigc_split(n, part, nparts, &r0, &nr);
	aigc_linear_param_grad_part(&gan->gen_out, buf->gx, ld, buf->dgout, n, true,
								part, nparts);
	if (hidden > 0)
		aigc_linear_input_grad_cols(&gan->gen_out,
									buf->dgout + r0 * cfg->data_dim, (int) nr,
									hidden, buf->dgx + r0 * hidden, hidden,
									false);
	for (int i = cfg->n_gen - 1; i >= 0; i--)
	{
		AigcLinear *l = &gan->gen[i];
		int			hd = cfg->gen_dims[i];
		int			in_at = at + hd;
		int64		first,
					count;

		/* batch norm's sums read every row of dgx */
		meet(pool);
		aigc_split(hd, part, nparts, &first, &count);
		aigc_batchnorm_relu_backward(&gan->bn[i], buf->gxhat[i], buf->gx + at, ld,
									 buf->dgx + at, hidden, n, gc, (int) first,
									 (int) count);
		/* W[first:first + count] += gc[:, first:first + count]^T x */
		if (count > 0)
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int) count,
						l->in, n, 1.0f, gc + first, hd, buf->gx + in_at, ld,
						1.0f, l->weight.g + first * l->in, l->in);
		if (in_at < hidden)
		{
			/* the input gradient reads every column of gc */
			meet(pool);
			aigc_linear_input_grad_cols(l, gc + r0 * hd, (int) nr,
										hidden - in_at,
										buf->dgx + r0 * hidden + in_at, hidden,
										true);
		}
		at = in_at;
	}
}

void
aigc_gan_generator_backward(AigcGan *gan, AigcGanBuffers *buf, int n)
{
	generator_backward_part(gan, buf, n, NULL, 0, 1);
}

/*
 * The critic's forward pass over groups [first, first + n) of x.  Groups
 * are independent, so threads each take a range, each with its own
 * dropout draws.
 */
static void
discriminator_forward_rows(const AigcGan *gan, AigcGanBuffers *buf,
						   const float *x, int64 first, int64 n, AigcRng *rng)
{
	const AigcGanConfig *cfg = &gan->cfg;
	const float *h = x + first * gan->dis[0].in;

	for (int i = 0; i < cfg->n_dis; i++)
	{
		int			d = cfg->dis_dims[i];
		float	   *a = buf->dact[i] + first * d;

		aigc_linear_forward_ld(&gan->dis[i], h, gan->dis[i].in, (int) n, a,
							   false);
		aigc_bias_leaky_dropout(a, gan->dis[i].bias.w, (int) n, d,
								(float) cfg->leaky_slope, cfg->dropout, rng,
								buf->deriv[i] + first * d);
		h = a;
	}
	aigc_linear_forward(&gan->dis[cfg->n_dis], h, (int) n, buf->score + first);
}

void
aigc_gan_discriminator_forward(AigcGan *gan, AigcGanBuffers *buf,
							   const float *x, int ngroups, AigcRng *rng)
{
	discriminator_forward_rows(gan, buf, x, 0, ngroups, rng);
}

/*
 * Back from buf->dscore over the first ngroups groups, split in part `part`
 * of nparts: the input gradients of its range of groups, and its share of
 * every weight gradient's columns over all the groups (no reduction).  The
 * parts meet (pool) before each hidden layer's weight gradient, which
 * reads every group's output gradient.
 */
static void
discriminator_backward_part(AigcGan *gan, AigcGanBuffers *buf, const float *x,
							int ngroups, float *dx, AigcPool *pool, int part,
							int nparts)
{
	const AigcGanConfig *cfg = &gan->cfg;
	int			L = cfg->n_dis;
	float	   *ga = buf->grad_a;
	float	   *gb = buf->grad_b;
	int64		first,
				n;

	Assert(L > 0);
	aigc_split(ngroups, part, nparts, &first, &n);
	aigc_linear_param_grad_part(&gan->dis[L], buf->dact[L - 1], gan->dis[L].in,
								buf->dscore, ngroups, true, part, nparts);
	aigc_linear_input_grad(&gan->dis[L], buf->dscore + first, (int) n,
						   ga + first * cfg->dis_dims[L - 1]);
	for (int i = L - 1; i >= 0; i--)
	{
		int			d = cfg->dis_dims[i];
		int			in = gan->dis[i].in;
		float	   *tmp;

		aigc_mul_inplace(ga + first * d, buf->deriv[i] + first * d, n * d);
		meet(pool);
		aigc_linear_param_grad_part(&gan->dis[i], i > 0 ? buf->dact[i - 1] : x,
									in, ga, ngroups, true, part, nparts);
		if (i > 0 || dx != NULL)
			aigc_linear_input_grad(&gan->dis[i], ga + first * d, (int) n,
								   (i > 0 ? gb : dx) + first * in);
		tmp = ga;
		ga = gb;
		gb = tmp;
	}
}

void
aigc_gan_discriminator_backward(AigcGan *gan, AigcGanBuffers *buf,
								const float *x, int ngroups, float *dx)
{
	discriminator_backward_part(gan, buf, x, ngroups, dx, NULL, 0, 1);
}

/* d score / d input of groups [first, first + n), as input_grad below */
static void
discriminator_input_grad_rows(const AigcGan *gan, AigcGanBuffers *buf,
							  int64 first, int64 n, float *dx)
{
	const AigcGanConfig *cfg = &gan->cfg;
	int			L = cfg->n_dis;
	float	   *ga = buf->grad_a;
	float	   *gb = buf->grad_b;

	Assert(L > 0);
	aigc_linear_input_grad(&gan->dis[L], buf->dscore + first, (int) n,
						   ga + first * cfg->dis_dims[L - 1]);
	for (int i = L - 1; i >= 0; i--)
	{
		int			d = cfg->dis_dims[i];
		float	   *tmp;

		aigc_mul_inplace(ga + first * d, buf->deriv[i] + first * d, n * d);
		aigc_linear_input_grad(&gan->dis[i], ga + first * d, (int) n,
							   (i > 0 ? gb : dx) + first * gan->dis[i].in);
		tmp = ga;
		ga = gb;
		gb = tmp;
	}
}

void
aigc_gan_discriminator_input_grad(const AigcGan *gan, AigcGanBuffers *buf,
								  int ngroups, float *dx)
{
	discriminator_input_grad_rows(gan, buf, 0, ngroups, dx);
}

/*
 * d activation / d pre-activation of hidden layer i, for the groups of the
 * last forward pass from `first` on
 */
static void
multiply_slopes(const AigcGan *gan, const AigcGanBuffers *buf, int i,
				float *v, int first, int ngroups)
{
	int			d = gan->cfg.dis_dims[i];

	aigc_mul_inplace(v, buf->deriv[i] + (int64) first * d, (int64) ngroups * d);
}

/*
 * Layer l's share of the penalty's weight gradient, sum over rows of the
 * outer products u_r v_r^T (u NULL: the score layer, u_r = 1): part `part`
 * of nparts of its columns into the gradient, or with save (one part), v
 * kept for DP-SGD's per-example clipping.
 */
static void
penalty_weight_grad(AigcLinear *l, const float *u, const float *v,
					int ngroups, float *save, int part, int nparts)
{
	int64		first,
				count;

	aigc_split(l->in, part, nparts, &first, &count);
	if (save != NULL)
	{
		Assert(nparts == 1);
		memcpy(save, v, sizeof(float) * ngroups * l->in);
	}
	else if (u == NULL)
	{
		for (int r = 0; r < ngroups; r++)
			for (int64 j = first; j < first + count; j++)
				l->weight.g[j] += v[(int64) r * l->in + j];
	}
	else if (count > 0)
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, l->out, (int) count,
					ngroups, 1.0f, u, l->out, v + first, l->in, 1.0f,
					l->weight.g + first, l->in);
}

/*
 * scale * sum over the last forward pass's groups [first, first + ngroups)
 * of (||d score / d x||_2 - 1)^2; with backward, its weight gradients, or
 * with save (aigc_gan_penalty_rows) their per-group vectors v.  Split as
 * discriminator_backward_part: part `part` of nparts takes its range of
 * the groups (and returns their terms) and its share of each weight
 * gradient's columns, the parts meeting before each.
 */
static double
penalty(AigcGan *gan, AigcGanBuffers *buf, int first, int ngroups,
		double scale, bool backward, float **save, AigcPool *pool, int part,
		int nparts)
{
	const AigcGanConfig *cfg = &gan->cfg;
	int			L = cfg->n_dis;
	int			in0 = gan->dis[0].in;
	const float *wout = gan->dis[L].weight.w;
	float	   *g = buf->grad_a;
	float	   *du = buf->grad_b;
	float	   *dv = buf->grad_c;
	double		total = 0.0;
	int64		r0,
				n;

	Assert(L > 0);
	aigc_split(ngroups, part, nparts, &r0, &n);
	/* forward through the gradient network: u_{L-1}, ..., u_0, then g */
	for (int64 r = r0; r < r0 + n; r++)
		memcpy(buf->du[L - 1] + r * cfg->dis_dims[L - 1], wout,
			   sizeof(float) * cfg->dis_dims[L - 1]);
	multiply_slopes(gan, buf, L - 1, buf->du[L - 1] + r0 * cfg->dis_dims[L - 1],
					first + r0, n);
	for (int i = L - 1; i >= 1; i--)
	{
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) n,
					gan->dis[i].in, gan->dis[i].out, 1.0f,
					buf->du[i] + r0 * gan->dis[i].out, gan->dis[i].out,
					gan->dis[i].weight.w, gan->dis[i].in, 0.0f,
					buf->du[i - 1] + r0 * gan->dis[i].in, gan->dis[i].in);
		multiply_slopes(gan, buf, i - 1, buf->du[i - 1] + r0 * gan->dis[i].in,
						first + r0, n);
	}
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) n, in0,
				gan->dis[0].out, 1.0f, buf->du[0] + r0 * gan->dis[0].out,
				gan->dis[0].out, gan->dis[0].weight.w, in0, 0.0f, g + r0 * in0,
				in0);

	/* the penalty, and d penalty / d g in place of g */
	for (int64 r = r0; r < r0 + n; r++)
	{
		float	   *gr = g + r * in0;
		double		norm = 0.0;
		double		k;

		for (int j = 0; j < in0; j++)
			norm += (double) gr[j] * gr[j];
		norm = sqrt(norm);
		total += (norm - 1.0) * (norm - 1.0);
		k = norm > 0.0 ? scale * 2.0 * (norm - 1.0) / norm : 0.0;
		for (int j = 0; j < in0; j++)
			gr[j] = (float) (k * gr[j]);
	}
	if (!backward)
		return scale * total;

	/* backward through the gradient network */
	meet(pool);
	penalty_weight_grad(&gan->dis[0], buf->du[0], g, ngroups,
						save != NULL ? save[0] : NULL, part, nparts);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int) n,
				gan->dis[0].out, in0, 1.0f, g + r0 * in0, in0,
				gan->dis[0].weight.w, in0, 0.0f, du + r0 * gan->dis[0].out,
				gan->dis[0].out);
	for (int i = 1; i < L; i++)
	{
		float	   *tmp;

		/* du holds d / d u_{i-1}; dv = s_{i-1} * du is d / d (u_i W_i) */
		multiply_slopes(gan, buf, i - 1, du + r0 * gan->dis[i].in, first + r0,
						n);
		meet(pool);
		penalty_weight_grad(&gan->dis[i], buf->du[i], du, ngroups,
							save != NULL ? save[i] : NULL, part, nparts);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int) n,
					gan->dis[i].out, gan->dis[i].in, 1.0f,
					du + r0 * gan->dis[i].in, gan->dis[i].in,
					gan->dis[i].weight.w, gan->dis[i].in, 0.0f,
					dv + r0 * gan->dis[i].out, gan->dis[i].out);
		tmp = du;
		du = dv;
		dv = tmp;
	}
	multiply_slopes(gan, buf, L - 1, du + r0 * gan->dis[L].in, first + r0, n);
	meet(pool);
	penalty_weight_grad(&gan->dis[L], NULL, du, ngroups,
						save != NULL ? save[L] : NULL, part, nparts);
	return scale * total;
}

double
aigc_gan_gradient_penalty(AigcGan *gan, AigcGanBuffers *buf, int ngroups,
						  double lambda, bool backward)
{
	return penalty(gan, buf, 0, ngroups, lambda / ngroups, backward, NULL,
				   NULL, 0, 1);
}

/* A backward pass of aigc_gan_backward_split */
typedef struct SplitBackward
{
	AigcGan    *gan;
	AigcGanBuffers *buf;
	AigcGanPass pass;
	const float *x;
	int			n;
	float	   *dx;
	double		lambda;
	AigcPool   *pool;
	double		penalty[AIGC_MAX_THREADS];
} SplitBackward;

static void
split_backward_part(void *arg, int part, int nparts)
{
	SplitBackward *b = arg;

	switch (b->pass)
	{
		case AIGC_GAN_CRITIC:
			discriminator_backward_part(b->gan, b->buf, b->x, b->n, b->dx,
										b->pool, part, nparts);
			break;
		case AIGC_GAN_PENALTY:
			b->penalty[part] = penalty(b->gan, b->buf, 0, b->n, b->lambda / b->n,
									   true, NULL, b->pool, part, nparts);
			break;
		case AIGC_GAN_GENERATOR:
			generator_backward_part(b->gan, b->buf, b->n, b->pool, part, nparts);
			break;
	}
}

double
aigc_gan_backward_split(AigcGan *gan, AigcGanBuffers *buf, AigcGanPass pass,
						const float *x, int n, float *dx, double lambda,
						AigcPool *pool)
{
	SplitBackward b = {gan, buf, pass, x, n, dx, lambda, pool};
	double		total = 0.0;
	int			blas_threads = aigc_blas_set_threads(1);

	aigc_pool_run(pool, split_backward_part, &b);
	aigc_blas_set_threads(blas_threads);
	for (int i = 0; i < aigc_pool_size(pool); i++)
		total += b.penalty[i];
	return total;
}

double
aigc_gan_penalty_rows(AigcGan *gan, AigcGanBuffers *buf, int nrows,
					  double lambda, float **v)
{
	Assert(gan->cfg.pac == 1);
	return penalty(gan, buf, 0, nrows, lambda, true, v, NULL, 0, 1);
}

void
aigc_gan_discriminator_deltas(AigcGan *gan, AigcGanBuffers *buf, int nrows,
							  float **delta)
{
	const AigcGanConfig *cfg = &gan->cfg;
	int			L = cfg->n_dis;

	Assert(cfg->pac == 1);
	memcpy(delta[L], buf->dscore, sizeof(float) * nrows);
	for (int i = L - 1; i >= 0; i--)
	{
		aigc_linear_input_grad(&gan->dis[i + 1], delta[i + 1], nrows, delta[i]);
		multiply_slopes(gan, buf, i, delta[i], 0, nrows);
	}
}

/* aigc_gan_cond_loss's terms of rows [first, first + count) of n */
static double
cond_loss_rows(const AigcGan *gan, const float *gout, const float *cond,
			   const int *colsel, int64 first, int64 count, int n,
			   float *dgout)
{
	int			D = gan->cfg.data_dim;
	int			C = gan->cfg.cond_dim;
	double		loss = 0.0;

	for (int64 r = first; r < first + count; r++)
	{
		const AigcCondColumn *cc = &gan->cond[colsel[r]];
		const float *o = gout + (int64) r * D + cc->data_offset;
		const float *c = cond + (int64) r * C + cc->cond_offset;
		float	   *d = dgout + (int64) r * D + cc->data_offset;
		float		mx = o[0],
					sum = 0.0f,
					inv;
		int			target = 0;

		for (int k = 0; k < cc->width; k++)
		{
			mx = Max(mx, o[k]);
			if (c[k] > c[target])
				target = k;
		}
		for (int k = 0; k < cc->width; k++)
			sum += aigc_expf(o[k] - mx);
		loss += mx + aigc_logf(sum) - o[target];
		inv = 1.0f / (sum * n);
		for (int k = 0; k < cc->width; k++)
			d[k] += aigc_expf(o[k] - mx) * inv;
		d[target] -= 1.0f / n;
	}
	return loss / n;
}

double
aigc_gan_cond_loss(const AigcGan *gan, const float *gout, const float *cond,
				   const int *colsel, int n, float *dgout)
{
	return cond_loss_rows(gan, gout, cond, colsel, 0, n, n, dgout);
}

/* Noise, then a cond vector per row (when there are cond columns), into gin */
static void
fill_generator_input(const AigcGan *gan, float *gin, int ld, int n,
					 const float *cond, AigcRng *rng)
{
	int			Z = gan->cfg.noise_dim;
	int			C = gan->cfg.cond_dim;

	for (int r = 0; r < n; r++)
	{
		float	   *row = gin + (int64) r * ld;

		aigc_rng_normals(rng, row, Z);
		if (C > 0)
			memcpy(row + Z, cond + (int64) r * C, sizeof(float) * C);
	}
}

void
aigc_gan_generator_init(AigcGanGenerator *g, const AigcGan *gan, int batch)
{
	const AigcGanConfig *cfg = &gan->cfg;
	int			width = gen_input_width(cfg);

	g->batch = batch;
	g->ld = gan->gen_out.in;
	g->gx = palloc(sizeof(float) * batch * g->ld);
	g->gin = g->gx + g->ld - width;
	g->cond = palloc(sizeof(float) * batch * Max(cfg->cond_dim, 1));
	for (int i = 0; i < cfg->n_gen; i++)
	{
		const AigcLinear *l = &gan->gen[i];
		const AigcBatchNorm *bn = &gan->bn[i];
		AigcLinear *f = &g->folded[i];

		/* relu((x W' + b - mean) gamma / sqrt(var + eps) + beta), in one layer */
		f->in = l->in;
		f->out = l->out;
		f->weight.n = l->weight.n;
		f->weight.w = palloc(sizeof(float) * l->weight.n);
		f->weight.g = NULL;
		f->bias.n = l->bias.n;
		f->bias.w = palloc(sizeof(float) * l->bias.n);
		f->bias.g = NULL;
		for (int j = 0; j < l->out; j++)
		{
			double		scale = bn->gamma.w[j] / sqrt(bn->running_var[j] + bn->eps);

			for (int k = 0; k < l->in; k++)
				f->weight.w[(int64) j * l->in + k] =
					(float) (l->weight.w[(int64) j * l->in + k] * scale);
			f->bias.w[j] = (float) ((l->bias.w[j] - bn->running_mean[j]) * scale +
									bn->beta.w[j]);
		}
	}
}

void
aigc_gan_generate(const AigcGan *gan, AigcGanGenerator *g, int n, int fixed_col,
				  int fixed_slot, AigcRng *rng, float *act)
{
	const AigcGanConfig *cfg = &gan->cfg;
	int			C = cfg->cond_dim;
	float	   *cond = g->cond;
	int			at = g->ld - gen_input_width(cfg);

	Assert(n <= g->batch);
	if (C > 0)
	{
		memset(cond, 0, sizeof(float) * n * C);
		for (int r = 0; r < n; r++)
		{
			int			col = fixed_col;
			int			slot = fixed_slot;
			const AigcCondColumn *cc;

			if (col < 0)
			{
				col = (int) aigc_rng_below(rng, gan->ncond);
				slot = aigc_rng_categorical(rng, gan->cond_freq + gan->cond[col].cond_offset,
											gan->cond[col].width);
			}
			cc = &gan->cond[col];
			cond[(int64) r * C + cc->cond_offset + slot] = 1.0f;
		}
	}
	fill_generator_input(gan, g->gin, g->ld, n, cond, rng);
	/* block i reads gx's columns [at, ld) and writes its ReLU just before */
	for (int i = 0; i < cfg->n_gen; i++)
	{
		int			hd = cfg->gen_dims[i];

		aigc_linear_relu_forward_ld(&g->folded[i], g->gx + at, g->ld, n,
									g->gx + at - hd, g->ld);
		at -= hd;
	}
	/* slot-major from the last product on: decoding works down the columns */
	aigc_linear_forward_t(&gan->gen_out, g->gx, n, act);
	aigc_spans_activate_t(gan->spans, gan->nspans, n, act);
}

/* Index of the largest of w values */
static int
argmax(const float *v, int w)
{
	int			best = 0;

	for (int k = 1; k < w; k++)
		if (v[k] > v[best])
			best = k;
	return best;
}

/*
 * The category a real row holds in a one-hot span, or -1 when the span is
 * all zero: under privacy a value only a few rows hold (a rare category,
 * NULLs without a noisy NULL slot) has no slot, and such a row counts for no
 * category rather than for the first.
 */
static int
held_slot(const float *v, int w)
{
	int			k = argmax(v, w);

	return v[k] > 0.0f ? k : -1;
}

void
aigc_gan_sampler_init(AigcGanSampler *s, AigcGan *gan, const float *x,
					  int64 nrows, bool log_frequency)
{
	int			C = gan->cfg.cond_dim;
	int			D = gan->cfg.data_dim;
	int64	   *fill;

	s->nrows = nrows;
	s->slot_start = palloc0(sizeof(int64) * (C + 1));
	s->weight = palloc(sizeof(float) * Max(C, 1));
	s->rows = MemoryContextAllocHuge(CurrentMemoryContext,
									 sizeof(int64) * Max(nrows * gan->ncond, 1));
	for (int64 r = 0; r < nrows; r++)
		for (int c = 0; c < gan->ncond; c++)
		{
			const AigcCondColumn *cc = &gan->cond[c];

			s->slot_start[cc->cond_offset +
						  argmax(x + r * D + cc->data_offset, cc->width) + 1]++;
		}
	for (int k = 0; k < C; k++)
	{
		int64		count = s->slot_start[k + 1];

		gan->cond_freq[k] = (float) count;
		s->weight[k] = (float) (log_frequency ? log((double) count + 1.0) : count);
		s->slot_start[k + 1] += s->slot_start[k];
	}
	fill = palloc(sizeof(int64) * Max(C, 1));
	memcpy(fill, s->slot_start, sizeof(int64) * C);
	for (int64 r = 0; r < nrows; r++)
	{
		if (r % 4096 == 0)
			CHECK_FOR_INTERRUPTS();
		for (int c = 0; c < gan->ncond; c++)
		{
			const AigcCondColumn *cc = &gan->cond[c];
			int			k = cc->cond_offset +
				argmax(x + r * D + cc->data_offset, cc->width);

			s->rows[fill[k]++] = r;
		}
	}
	pfree(fill);
}

static void dp_init(AigcGanTrainer *t, int64 nrows,
					const AigcPrivacyOptions *privacy);

void
aigc_gan_trainer_init(AigcGanTrainer *t, AigcGan *gan, const float *x,
					  int64 nrows, int batch, bool log_frequency,
					  double lambda, double average,
					  double gen_lr, double gen_decay, double dis_lr,
					  double dis_decay, const AigcPrivacyOptions *privacy,
					  int threads)
{
	int			W = dis_row_width(&gan->cfg);

	Assert(batch % gan->cfg.pac == 0);
	t->gan = gan;
	t->x = x;
	t->batch = batch;
	t->lambda = lambda;
	t->average = average;
	t->gen_avg = NULL;
	if (average > 0.0)
	{
		t->gen_avg = palloc(sizeof(float *) * gan->n_gparams);
		for (int p = 0; p < gan->n_gparams; p++)
		{
			t->gen_avg[p] = palloc(sizeof(float) * gan->gparams[p].n);
			memcpy(t->gen_avg[p], gan->gparams[p].w, sizeof(float) * gan->gparams[p].n);
		}
	}
	aigc_gan_buffers_init(&t->buf, gan, batch);
	t->dp = NULL;
	if (privacy != NULL)
		dp_init(t, nrows, privacy);
	else
		aigc_gan_sampler_init(&t->sampler, gan, x, nrows, log_frequency);
	/* betas 0.5 and 0.9, as CTGAN */
	aigc_adam_init(&t->gen_opt, gan->gparams, gan->n_gparams, gen_lr, 0.5, 0.9,
				   gen_decay);
	aigc_adam_init(&t->dis_opt, gan->dparams, gan->n_dparams, dis_lr, 0.5, 0.9,
				   dis_decay);
	t->colsel = palloc(sizeof(int) * batch);
	t->slot = palloc(sizeof(int) * batch);
	t->perm = palloc(sizeof(int64) * batch);
	t->cond = palloc(sizeof(float) * batch * Max(gan->cfg.cond_dim, 1));
	t->fake = palloc(sizeof(float) * 3 * batch * W);
	t->real = t->fake + (int64) batch * W;
	t->interp = t->real + (int64) batch * W;
	/* DP-SGD's critic steps stay on one thread */
	t->pool = NULL;
	t->rngs = NULL;
	if (threads > 1 && privacy == NULL)
	{
		t->pool = aigc_pool_create(threads);
		t->rngs = palloc(sizeof(AigcRng) * threads);
		/* the threads split the products; train.c restores the count */
		aigc_blas_set_threads(1);
	}
}

/*
 * Training by sampling: a cond column uniformly, a category with
 * probability proportional to log(frequency + 1) (or to the frequency
 * without log_frequency, as CTGAN's option).
 */
static void
sample_condvec(AigcGanTrainer *t, AigcRng *rng)
{
	AigcGan    *gan = t->gan;
	int			C = gan->cfg.cond_dim;

	if (C == 0)
		return;
	memset(t->cond, 0, sizeof(float) * t->batch * C);
	for (int r = 0; r < t->batch; r++)
	{
		int			col = (int) aigc_rng_below(rng, gan->ncond);
		const AigcCondColumn *cc = &gan->cond[col];

		t->colsel[r] = col;
		t->slot[r] = aigc_rng_categorical(rng, t->sampler.weight + cc->cond_offset,
										  cc->width);
		t->cond[(int64) r * C + cc->cond_offset + t->slot[r]] = 1.0f;
	}
}

/*
 * Discriminator input rows [first, first + n): the generator's activated
 * rows with their cond
 */
static void
fake_rows(AigcGanTrainer *t, int64 first, int64 n)
{
	int			D = t->gan->cfg.data_dim;
	int			C = t->gan->cfg.cond_dim;

	concat_rows(t->fake + first * (D + C), t->buf.fake + first * D, D,
				t->cond + first * C, C, (int) n);
}

static double
mean_score(const float *score, int ngroups)
{
	double		s = 0.0;

	for (int g = 0; g < ngroups; g++)
		s += score[g];
	return s / ngroups;
}

static void
set_dscore(float *dscore, int ngroups, double value)
{
	for (int g = 0; g < ngroups; g++)
		dscore[g] = (float) value;
}

/*
 * DP-SGD for the discriminator (docs/privacy.md, "GAN").  The real rows
 * reach the networks only here: a Poisson sample of them per discriminator
 * step, each row's contribution to the critic's gradient (its score and
 * its gradient penalty) clipped, Gaussian noise on the sum.  Each row also
 * contributes beta to the count of its category in every cond column, a
 * vector of norm max_grad_norm * DP_COUNT_SHARE released with the same
 * noise (its share of the clipping bound is taken from the gradient's), so
 * that the fake rows' cond vectors follow noisy category counts the
 * accountant already covers.  The generator sees the rows only through
 * the noisy critic: post-processing.
 */
#define DP_COUNT_SHARE 0.1

static void
dp_init(AigcGanTrainer *t, int64 nrows, const AigcPrivacyOptions *privacy)
{
	AigcGan    *gan = t->gan;
	AigcGanDp  *dp = palloc0(sizeof(AigcGanDp));
	int			B = t->batch;
	int			C = Max(gan->cfg.cond_dim, 1);
	double		share = gan->ncond > 0 ? DP_COUNT_SHARE : 0.0;

	Assert(gan->cfg.pac == 1);
	dp->privacy = privacy;
	dp->expected_rows = privacy->sample_rate * (double) nrows;
	dp->clip = privacy->max_grad_norm * sqrt(1.0 - share * share);
	dp->count_scale = gan->ncond > 0 ?
		privacy->max_grad_norm * share / sqrt((double) gan->ncond) : 0.0;
	for (int i = 0; i <= gan->cfg.n_dis; i++)
	{
		if (i < gan->cfg.n_dis)
			dp->act[i] = palloc(sizeof(float) * B * gan->dis[i].out);
		dp->delta[i] = palloc(sizeof(float) * B * gan->dis[i].out);
		dp->pv[i] = palloc(sizeof(float) * B * gan->dis[i].in);
	}
	dp->sq_norms = palloc(sizeof(double) * B);
	dp->factors = palloc(sizeof(float) * B);
	dp->step_counts = palloc(sizeof(float) * C);
	dp->counts = palloc0(sizeof(double) * C);
	t->dp = dp;

	/*
	 * No per-category index; until counts are released, uniform cond
	 * vectors (the column encoder's noisy counts could seed dp->counts).
	 */
	t->sampler.nrows = nrows;
	t->sampler.slot_start = NULL;
	t->sampler.rows = NULL;
	t->sampler.weight = palloc(sizeof(float) * C);
	for (int k = 0; k < C; k++)
		t->sampler.weight[k] = 1.0f;
}

/*
 * Category frequencies from the noisy counts released so far, an estimate
 * of each category's rows (counts summed over steps / (steps q)); a column
 * whose estimates are all at most 0 gets uniform ones.
 */
static void
dp_frequencies(const AigcGanTrainer *t, float *freq)
{
	const AigcGan *gan = t->gan;
	const AigcGanDp *dp = t->dp;
	double		per_step = Max(dp->steps, 1) * dp->privacy->sample_rate;

	for (int c = 0; c < gan->ncond; c++)
	{
		const AigcCondColumn *cc = &gan->cond[c];
		double		total = 0.0;

		for (int k = 0; k < cc->width; k++)
		{
			double		f = Max(dp->counts[cc->cond_offset + k], 0.0) / per_step;

			freq[cc->cond_offset + k] = (float) f;
			total += f;
		}
		if (!(total > 0.0))
			for (int k = 0; k < cc->width; k++)
				freq[cc->cond_offset + k] = 1.0f;
	}
}

/*
 * Each real row's interpolation partner for the penalty is a fake row drawn
 * with replacement and its weight uniform, independently per row: given
 * the fake batch (which depends on no real row) a row's removal changes its
 * own term only.
 */
static void
dp_interpolate(AigcGanTrainer *t, int n, AigcRng *rng)
{
	int			W = dis_row_width(&t->gan->cfg);

	for (int r = 0; r < n; r++)
	{
		const float *fake = t->fake + (int64) aigc_rng_below(rng, t->batch) * W;
		const float *real = t->real + (int64) r * W;
		float	   *out = t->interp + (int64) r * W;
		float		a = (float) aigc_rng_uniform(rng);

		for (int j = 0; j < W; j++)
			out[j] = a * real[j] + (1.0f - a) * fake[j];
	}
}

void
aigc_gan_dp_chunk(AigcGanTrainer *t, int n, AigcRng *rng, double *real_sum,
				  double *penalty_sum)
{
	AigcGan    *gan = t->gan;
	AigcGanBuffers *buf = &t->buf;
	AigcGanDp  *dp = t->dp;
	int			L = gan->cfg.n_dis;
	int			W = dis_row_width(&gan->cfg);

	/* the critic's score: row loss -score, so d loss / d score = -1 */
	aigc_gan_discriminator_forward(gan, buf, t->real, n, rng);
	for (int r = 0; r < n; r++)
	{
		*real_sum += buf->score[r];
		buf->dscore[r] = -1.0f;
	}
	for (int i = 0; i < L; i++)
		memcpy(dp->act[i], buf->dact[i], sizeof(float) * n * gan->dis[i].out);
	aigc_gan_discriminator_deltas(gan, buf, n, dp->delta);

	aigc_gan_discriminator_forward(gan, buf, t->interp, n, rng);
	*penalty_sum += aigc_gan_penalty_rows(gan, buf, n, t->lambda, dp->pv);

	memset(dp->sq_norms, 0, sizeof(double) * n);
	for (int i = 0; i <= L; i++)
		dp_linear_pair_sq_norms(i > 0 ? dp->act[i - 1] : t->real, dp->delta[i],
								i < L ? buf->du[i] : NULL, dp->pv[i], n,
								gan->dis[i].in, gan->dis[i].out, true,
								dp->sq_norms);
	dp_clip_factors(dp->sq_norms, n, dp->clip, dp->factors);
	for (int i = 0; i <= L; i++)
	{
		dp_linear_clipped_grad(&gan->dis[i], i > 0 ? dp->act[i - 1] : t->real,
							   dp->delta[i], dp->factors, n);
		dp_outer_clipped_sum(gan->dis[i].weight.g, i < L ? buf->du[i] : NULL,
							 dp->pv[i], dp->factors, n, gan->dis[i].out,
							 gan->dis[i].in);
	}

	/* each row: beta on its category of every cond column, unclipped */
	for (int r = 0; r < n; r++)
		for (int c = 0; c < gan->ncond; c++)
		{
			const AigcCondColumn *cc = &gan->cond[c];
			int			k = held_slot(t->real + (int64) r * W + cc->data_offset,
									  cc->width);

			if (k >= 0)
				dp->step_counts[cc->cond_offset + k] += (float) dp->count_scale;
		}
}

/*
 * Real rows for a DP step: row x with a cond vector of its own, the
 * category it holds in a cond column drawn uniformly.
 */
static void
dp_real_row(AigcGanTrainer *t, int64 row, int r, AigcRng *rng)
{
	AigcGan    *gan = t->gan;
	int			D = gan->cfg.data_dim;
	int			C = gan->cfg.cond_dim;
	float	   *dst = t->real + (int64) r * (D + C);

	memcpy(dst, t->x + row * D, sizeof(float) * D);
	if (C > 0)
	{
		const AigcCondColumn *cc = &gan->cond[aigc_rng_below(rng, gan->ncond)];
		int			k = held_slot(dst + cc->data_offset, cc->width);

		/* a row holding no category of the column drawn is unconditioned */
		memset(dst + D, 0, sizeof(float) * C);
		if (k >= 0)
			dst[D + cc->cond_offset + k] = 1.0f;
	}
}

/*
 * One noisy discriminator step: the fake rows' term is computed from the
 * generator alone and added without clipping or noise; the real rows'
 * clipped sum gets N(0, (noise_multiplier max_grad_norm)^2) per coordinate,
 * and both are divided by their batch sizes (the real one's expected).
 */
static void
dp_discriminator_step(AigcGanTrainer *t, AigcRng *rng, AigcGanStepLosses *losses,
					  int dis_steps)
{
	AigcGan    *gan = t->gan;
	AigcGanBuffers *buf = &t->buf;
	AigcGanDp  *dp = t->dp;
	const AigcPrivacyOptions *p = dp->privacy;
	double		stddev = p->noise_multiplier * p->max_grad_norm;
	float		scale = (float) (1.0 / dp->expected_rows);
	int			C = gan->cfg.cond_dim;
	double		real_sum = 0.0,
				penalty_sum = 0.0,
				fake_mean;
	int64		r = dp_poisson_next(rng, -1, p->sample_rate);

	dp_frequencies(t, t->sampler.weight);
	sample_condvec(t, rng);
	fill_generator_input(gan, buf->gin, buf->gx_width, t->batch, t->cond, rng);
	aigc_gan_generator_forward(gan, buf, t->batch, true, rng);
	fake_rows(t, 0, t->batch);

	memset(dp->step_counts, 0, sizeof(float) * Max(C, 1));
	while (r < t->sampler.nrows)
	{
		int			n = 0;

		CHECK_FOR_INTERRUPTS();
		for (; r < t->sampler.nrows && n < t->batch; r = dp_poisson_next(rng, r, p->sample_rate))
			dp_real_row(t, r, n++, rng);
		dp_interpolate(t, n, rng);
		aigc_gan_dp_chunk(t, n, rng, &real_sum, &penalty_sum);
	}
	for (int k = 0; k < gan->n_dparams; k++)
	{
		AigcParam  *prm = &gan->dparams[k];

		dp_add_noise(prm->g, prm->n, stddev, rng);
		for (int64 j = 0; j < prm->n; j++)
			prm->g[j] *= scale;
	}
	if (gan->ncond > 0)
	{
		dp_add_noise(dp->step_counts, C, stddev, rng);
		for (int k = 0; k < C; k++)
			dp->counts[k] += dp->step_counts[k] / dp->count_scale;
	}
	dp->steps++;

	aigc_gan_discriminator_forward(gan, buf, t->fake, t->batch, rng);
	fake_mean = mean_score(buf->score, t->batch);
	set_dscore(buf->dscore, t->batch, 1.0 / t->batch);
	aigc_gan_discriminator_backward(gan, buf, t->fake, t->batch, NULL);
	aigc_adam_step_zero(&t->dis_opt, NULL, 0.0);

	losses->penalty += penalty_sum / dp->expected_rows / dis_steps;
	losses->discriminator += (fake_mean - real_sum / dp->expected_rows) / dis_steps;
}

/*
 * A pass of a training step split across the trainer's threads: part
 * `part` of nparts runs on thread `part`, all of it on one thread without a
 * pool.  Part 0 draws from the run's stream, the others from streams
 * run_parts seeds from it first, so that one thread draws as before the
 * split.
 */
typedef struct GanPass
{
	AigcGanTrainer *t;
	AigcRng    *rng;			/* the run's stream: part 0's */
	int			nparts;
	double		penalty[AIGC_MAX_THREADS];	/* each part's penalty terms */
	double		ce[AIGC_MAX_THREADS];	/* and cross-entropy terms */
} GanPass;

static AigcRng *
part_rng(GanPass *p, int part)
{
	return part == 0 ? p->rng : &p->t->rngs[part];
}

static void
run_parts(AigcGanTrainer *t, AigcPoolTask task, GanPass *p, AigcRng *rng)
{
	p->t = t;
	p->rng = rng;
	if (t->pool == NULL)
	{
		p->nparts = 1;
		task(p, 0, 1);
		return;
	}
	p->nparts = aigc_pool_size(t->pool);
	for (int i = 1; i < p->nparts; i++)
		aigc_rng_seed(&t->rngs[i], aigc_rng_next(rng));
	aigc_pool_run(t->pool, task, p);
}

/*
 * The generator's fake rows and the critic's input rows from them, for the
 * critic's update
 */
static void
fake_part(void *arg, int part, int nparts)
{
	GanPass    *p = arg;
	AigcGanTrainer *t = p->t;
	int64		first,
				n;

	generator_forward_part(t->gan, &t->buf, t->batch, true, p->rng, t->rngs,
						   t->pool, part, nparts);
	aigc_split(t->batch, part, nparts, &first, &n);
	fake_rows(t, first, n);
}

/*
 * The critic's update: forward over the fake, real and interpolated groups
 * (consecutive blocks of G, buf->dscore set), back from the first two, the
 * penalty at the third, then Adam; split by groups and by the weight
 * gradients' columns.
 */
static void
critic_update_part(void *arg, int part, int nparts)
{
	GanPass    *p = arg;
	AigcGanTrainer *t = p->t;
	int			groups = t->batch / t->gan->cfg.pac;
	int64		first,
				n;

	aigc_split(3 * groups, part, nparts, &first, &n);
	discriminator_forward_rows(t->gan, &t->buf, t->fake, first, n,
							   part_rng(p, part));
	/* the weight gradients read every group's activations */
	meet(t->pool);
	discriminator_backward_part(t->gan, &t->buf, t->fake, 2 * groups, NULL,
								t->pool, part, nparts);
	/* the penalty's first products overwrite the backward's scratch */
	meet(t->pool);
	p->penalty[part] = penalty(t->gan, &t->buf, 2 * groups, groups,
							   t->lambda / groups, true, NULL, t->pool, part,
							   nparts);
	meet(t->pool);
	aigc_adam_step_zero_part(&t->dis_opt, NULL, 0.0, part, nparts);
}

/*
 * The generator's update (buf->gin and t->cond drawn, buf->dscore set):
 * forward through both networks, the critic back to its input only, the
 * generator back, then Adam; split as the parts above, the activations'
 * gradients and the cross-entropy by rows.
 */
static void
generator_update_part(void *arg, int part, int nparts)
{
	GanPass    *p = arg;
	AigcGanTrainer *t = p->t;
	AigcGan    *gan = t->gan;
	AigcGanBuffers *buf = &t->buf;
	int			n = t->batch;
	int			D = gan->cfg.data_dim;
	int			groups = n / gan->cfg.pac;
	int64		first,
				count;

	fake_part(p, part, nparts);
	meet(t->pool);
	aigc_split(groups, part, nparts, &first, &count);
	{
		/* one OpenBLAS thread for the critic's 50-row products (one part) */
		int			blas_threads = aigc_blas_set_threads(1);

		discriminator_forward_rows(gan, buf, t->fake, first, count,
								   part_rng(p, part));
		discriminator_input_grad_rows(gan, buf, first, count, buf->dinput);
		aigc_blas_set_threads(blas_threads);
	}
	meet(t->pool);
	aigc_split(n, part, nparts, &first, &count);
	take_columns(buf->dfake + first * D,
				 buf->dinput + first * (D + gan->cfg.cond_dim),
				 D + gan->cfg.cond_dim, 0, D, (int) count);
	aigc_gan_activation_backward(gan, buf->fake + first * D,
								 buf->dfake + first * D, (int) count,
								 buf->dgout + first * D);
	p->ce[part] = gan->cfg.cond_dim > 0 ?
		cond_loss_rows(gan, buf->gout, t->cond, t->colsel, first, count, n,
					   buf->dgout) : 0.0;
	/* the output layer's weight gradient reads every row of dgout */
	meet(t->pool);
	generator_backward_part(gan, buf, n, t->pool, part, nparts);
	/* Adam's ranges of the gradients are not the backward's */
	meet(t->pool);
	aigc_adam_step_zero_part(&t->gen_opt, t->gen_avg, t->average, part, nparts);
}

static void
discriminator_step(AigcGanTrainer *t, AigcRng *rng, AigcGanStepLosses *losses,
				   int dis_steps)
{
	AigcGan    *gan = t->gan;
	AigcGanBuffers *buf = &t->buf;
	int			n = t->batch;
	int			D = gan->cfg.data_dim;
	int			C = gan->cfg.cond_dim;
	int			W = D + C;
	int			groups = n / gan->cfg.pac;
	int64		group_width = (int64) gan->cfg.pac * W;
	double		real_mean,
				fake_mean;
	GanPass		pass;
	int			blas_threads;

	sample_condvec(t, rng);
	fill_generator_input(gan, buf->gin, buf->gx_width, n, t->cond, rng);
	run_parts(t, fake_part, &pass, rng);

	/* real rows of the sampled categories, paired with a shuffled cond */
	for (int r = 0; r < n; r++)
		t->perm[r] = r;
	aigc_rng_shuffle(rng, t->perm, n);
	for (int r = 0; r < n; r++)
	{
		int			src = (int) t->perm[r];
		int64		row;

		if (C > 0)
		{
			int			k = gan->cond[t->colsel[src]].cond_offset + t->slot[src];
			int64		first = t->sampler.slot_start[k];
			int64		count = t->sampler.slot_start[k + 1] - first;

			row = t->sampler.rows[first + (int64) aigc_rng_below(rng, count)];
			memcpy(t->real + (int64) r * W + D, t->cond + (int64) src * C,
				   sizeof(float) * C);
		}
		else
			row = (int64) aigc_rng_below(rng, t->sampler.nrows);
		memcpy(t->real + (int64) r * W, t->x + row * D, sizeof(float) * D);
	}

	/* one interpolation weight per pac group */
	for (int g = 0; g < groups; g++)
	{
		float		a = (float) aigc_rng_uniform(rng);

		for (int64 j = g * group_width; j < (g + 1) * group_width; j++)
			t->interp[j] = a * t->real[j] + (1.0f - a) * t->fake[j];
	}

	/* the critic on fake, real and interpolated groups */
	set_dscore(buf->dscore, groups, 1.0 / groups);
	set_dscore(buf->dscore + groups, groups, -1.0 / groups);
	t->dis_opt.step++;
	/* the critic's 50-150-row products on one OpenBLAS thread (one part) */
	blas_threads = aigc_blas_set_threads(1);
	run_parts(t, critic_update_part, &pass, rng);
	aigc_blas_set_threads(blas_threads);
	fake_mean = mean_score(buf->score, groups);
	real_mean = mean_score(buf->score + groups, groups);
	for (int i = 0; i < pass.nparts; i++)
		losses->penalty += pass.penalty[i] / dis_steps;
	losses->discriminator += (fake_mean - real_mean) / dis_steps;
}

void
aigc_gan_train_step(AigcGanTrainer *t, int dis_steps, AigcRng *rng,
					AigcGanStepLosses *losses)
{
	AigcGan    *gan = t->gan;
	AigcGanBuffers *buf = &t->buf;
	int			n = t->batch;
	int			groups = n / gan->cfg.pac;
	GanPass		pass;

	memset(losses, 0, sizeof(*losses));
	for (int d = 0; d < dis_steps; d++)
		if (t->dp != NULL)
			dp_discriminator_step(t, rng, losses, dis_steps);
		else
			discriminator_step(t, rng, losses, dis_steps);

	sample_condvec(t, rng);
	fill_generator_input(gan, buf->gin, buf->gx_width, n, t->cond, rng);
	set_dscore(buf->dscore, groups, -1.0 / groups);
	t->gen_opt.step++;
	run_parts(t, generator_update_part, &pass, rng);
	losses->generator = -mean_score(buf->score, groups);
	for (int i = 0; i < pass.nparts; i++)
		losses->cross_entropy += pass.ce[i];
	losses->generator += losses->cross_entropy;
}

#define BN_REESTIMATE_BATCHES 20

void
aigc_gan_trainer_finish(AigcGanTrainer *t, AigcRng *rng)
{
	AigcGan    *gan = t->gan;

	/* the stored frequencies (generation, conditions): the noisy counts */
	if (t->dp != NULL)
		dp_frequencies(t, gan->cond_freq);
	if (t->gen_avg == NULL)
		return;
	for (int p = 0; p < gan->n_gparams; p++)
		memcpy(gan->gparams[p].w, t->gen_avg[p], sizeof(float) * gan->gparams[p].n);
	/* a cumulative average over the batches: momentum 1 / (k + 1) */
	for (int k = 0; k < BN_REESTIMATE_BATCHES; k++)
	{
		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < gan->cfg.n_gen; i++)
			gan->bn[i].momentum = 1.0 / (k + 1);
		sample_condvec(t, rng);
		fill_generator_input(gan, t->buf.gin, t->buf.gx_width, t->batch, t->cond, rng);
		aigc_gan_generator_forward(gan, &t->buf, t->batch, true, rng);
	}
	for (int i = 0; i < gan->cfg.n_gen; i++)
		gan->bn[i].momentum = 0.1;
}

int
aigc_gan_linears(AigcGan *gan, int batch, AigcLinear **layers, int *rows,
				 bool *need_dx)
{
	int			n = 0;
	int			groups = batch / gan->cfg.pac;

	for (int i = 0; i < gan->cfg.n_gen; i++)
	{
		layers[n] = &gan->gen[i];
		rows[n] = batch;
		need_dx[n++] = i > 0;
	}
	layers[n] = &gan->gen_out;
	rows[n] = batch;
	need_dx[n++] = gan->cfg.n_gen > 0;
	for (int i = 0; i <= gan->cfg.n_dis; i++)
	{
		layers[n] = &gan->dis[i];
		rows[n] = groups;
		need_dx[n++] = true;
	}
	return n;
}

/*
 * Per step: the discriminator update runs the generator forward, the
 * discriminator forward and backward on fake and real rows, forward on
 * the interpolation and the gradient network (forward and backward, three
 * products per hidden layer); the generator update runs both networks
 * forward, the discriminator back to its input only (no weight gradients)
 * and the generator back (input gradients only for its ReLU outputs, not
 * the noise and cond).
 */
double
aigc_gan_step_flops(AigcGan *gan, int batch, int dis_steps)
{
	AigcLinear *layers[AIGC_GAN_MAX_LINEARS];
	int			rows[AIGC_GAN_MAX_LINEARS];
	bool		need_dx[AIGC_GAN_MAX_LINEARS];
	int			nl = aigc_gan_linears(gan, batch, layers, rows, need_dx);
	int			ngen = gan->cfg.n_gen + 1;
	int			noise_cond = gen_input_width(&gan->cfg);
	double		gen_fwd = 0.0,
				gen_step = 0.0,
				dis_fb = 0.0,
				dis_fwd = 0.0,
				dis_input = 0.0,
				penalty = 0.0;

	for (int i = 0; i < nl; i++)
	{
		double		fwd = 2.0 * rows[i] * layers[i]->in * layers[i]->out;

		if (i < ngen)
		{
			gen_fwd += fwd;
			gen_step += 2.0 * fwd +
				2.0 * rows[i] * layers[i]->out * (layers[i]->in - noise_cond);
		}
		else
		{
			dis_fwd += fwd;
			dis_fb += aigc_linear_flops(layers[i], rows[i], i > ngen);
			dis_input += 2.0 * fwd;
			if (i < nl - 1)
				penalty += 3.0 * fwd;
		}
	}
	return dis_steps * (gen_fwd + 2.0 * dis_fb + dis_fwd + penalty) +
		gen_step + dis_input;
}

void
aigc_gan_write(const AigcGan *gan, StringInfo buf)
{
	const AigcGanConfig *cfg = &gan->cfg;

	aigc_write_u32(buf, cfg->data_dim);
	aigc_write_u32(buf, cfg->cond_dim);
	aigc_write_u32(buf, cfg->noise_dim);
	aigc_write_u32(buf, cfg->n_gen);
	for (int i = 0; i < cfg->n_gen; i++)
		aigc_write_u32(buf, cfg->gen_dims[i]);
	aigc_write_u32(buf, cfg->n_dis);
	for (int i = 0; i < cfg->n_dis; i++)
		aigc_write_u32(buf, cfg->dis_dims[i]);
	aigc_write_u32(buf, cfg->pac);
	aigc_write_f64(buf, cfg->leaky_slope);
	aigc_write_f64(buf, cfg->dropout);
	aigc_write_f64(buf, cfg->tau);
	aigc_write_floats(buf, gan->cond_freq, cfg->cond_dim);
	for (int p = 0; p < gan->n_gparams; p++)
		aigc_write_floats(buf, gan->gparams[p].w, gan->gparams[p].n);
	for (int p = 0; p < gan->n_dparams; p++)
		aigc_write_floats(buf, gan->dparams[p].w, gan->dparams[p].n);
	for (int i = 0; i < cfg->n_gen; i++)
	{
		aigc_write_floats(buf, gan->bn[i].running_mean, cfg->gen_dims[i]);
		aigc_write_floats(buf, gan->bn[i].running_var, cfg->gen_dims[i]);
	}
}

/* Weights present in full, checked before allocating them */
static bool
gan_config_plausible(const AigcGanConfig *cfg, Size remaining)
{
	double		floats = cfg->cond_dim;
	/* in doubles: a corrupted pac times a width must not overflow */
	double		prev = (double) cfg->noise_dim + cfg->cond_dim;

	if (cfg->data_dim == 0 || cfg->noise_dim == 0 || cfg->pac == 0 ||
		cfg->n_dis == 0 || !(cfg->tau > 0.0) ||
		!(cfg->dropout >= 0.0 && cfg->dropout < 1.0))
		return false;
	for (int i = 0; i < cfg->n_gen; i++)
	{
		if (cfg->gen_dims[i] == 0)
			return false;
		floats += (prev + 5) * cfg->gen_dims[i];
		prev += cfg->gen_dims[i];
	}
	floats += (prev + 1) * cfg->data_dim;
	prev = (double) cfg->pac * ((double) cfg->data_dim + cfg->cond_dim);
	for (int i = 0; i < cfg->n_dis; i++)
	{
		if (cfg->dis_dims[i] == 0)
			return false;
		floats += (prev + 1) * cfg->dis_dims[i];
		prev = cfg->dis_dims[i];
	}
	floats += prev + 1;
	return floats * 4.0 <= (double) remaining;
}

void
aigc_gan_read(AigcGan *gan, AigcReader *r, const AigcSpan *spans, int nspans,
			  int ncols)
{
	AigcGanConfig cfg;
	AigcRng		unused;
	int			stored_cond;

	memset(&cfg, 0, sizeof(cfg));
	cfg.data_dim = aigc_read_count(r, GAN_DIM_MAX, "output columns");
	cfg.cond_dim = aigc_read_count(r, GAN_DIM_MAX, "conditional vector width");
	cfg.noise_dim = aigc_read_count(r, GAN_DIM_MAX, "noise dimensions");
	cfg.n_gen = aigc_read_count(r, AIGC_MAX_HIDDEN, "generator layers");
	for (int i = 0; i < cfg.n_gen; i++)
		cfg.gen_dims[i] = aigc_read_count(r, GAN_DIM_MAX, "layer units");
	cfg.n_dis = aigc_read_count(r, AIGC_MAX_HIDDEN, "discriminator layers");
	for (int i = 0; i < cfg.n_dis; i++)
		cfg.dis_dims[i] = aigc_read_count(r, GAN_DIM_MAX, "layer units");
	cfg.pac = aigc_read_count(r, GAN_DIM_MAX, "pac");
	cfg.leaky_slope = aigc_read_f64(r);
	cfg.dropout = aigc_read_f64(r);
	cfg.tau = aigc_read_f64(r);
	if (!gan_config_plausible(&cfg, r->len - r->pos))
		aigc_corrupt("The network's shape does not match the stored weights.");

	stored_cond = cfg.cond_dim;
	aigc_rng_seed(&unused, 0);
	aigc_gan_init(gan, &cfg, spans, nspans, &unused);
	if (gan->cfg.cond_dim != stored_cond)
		aigc_corrupt("The conditional vector does not match the column encoding.");
	aigc_read_floats(r, gan->cond_freq, cfg.cond_dim);
	for (int p = 0; p < gan->n_gparams; p++)
		aigc_read_floats(r, gan->gparams[p].w, gan->gparams[p].n);
	for (int p = 0; p < gan->n_dparams; p++)
		aigc_read_floats(r, gan->dparams[p].w, gan->dparams[p].n);
	for (int i = 0; i < cfg.n_gen; i++)
	{
		aigc_read_floats(r, gan->bn[i].running_mean, cfg.gen_dims[i]);
		aigc_read_floats(r, gan->bn[i].running_var, cfg.gen_dims[i]);
	}
	/* a column of the conditional vector must exist */
	for (int c = 0; c < gan->ncond; c++)
		if (gan->cond[c].column >= ncols)
			aigc_corrupt("The conditional vector names a column the model lacks.");
}
