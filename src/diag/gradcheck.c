/*
 * gradcheck.c
 *		aigc.gradient_check(): every backward pass against central finite
 *		differences of its forward pass, on small fixed-seed problems.
 *
 * The error of a tensor is ||analytic - numeric|| / (||analytic|| +
 * ||numeric||), which is robust to the float32 round-off of single entries.
 * Gradients that are zero in exact arithmetic (a bias feeding batch norm)
 * are compared absolutely: the denominator is at least GRAD_FLOOR.
 */
#include "postgres.h"

#include <math.h>
#include <string.h>

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

#include "core/dp_sgd.h"
#include "core/gan.h"
#include "core/layers.h"
#include "core/tf_layers.h"
#include "core/tf_model.h"
#include "core/threads.h"
#include "core/vae.h"
#include "diag/diag.h"

PG_FUNCTION_INFO_V1(aigc_gradient_check);

#define FD_EPS 1e-3
#define GRAD_FLOOR 1e-2

typedef double (*LossFn) (void *ctx);

typedef struct CheckOutput
{
	ReturnSetInfo *rsinfo;
} CheckOutput;

static void
emit(CheckOutput *out, const char *component, const char *parameter,
	 double error, int checked)
{
	aigc_diag_emit(out->rsinfo, component, parameter, error, checked);
}

/* Compare analytic gradient g of p[0..n) with central differences of loss */
static void
check_tensor(CheckOutput *out, const char *component, const char *parameter,
			 float *p, const float *g, int64 n, LossFn loss, void *ctx)
{
	double		diff = 0.0,
				na = 0.0,
				nn = 0.0;

	for (int64 i = 0; i < n; i++)
	{
		float		saved = p[i];
		double		plus,
					minus,
					numeric;

		p[i] = saved + (float) FD_EPS;
		plus = loss(ctx);
		p[i] = saved - (float) FD_EPS;
		minus = loss(ctx);
		p[i] = saved;
		numeric = (plus - minus) / (2.0 * FD_EPS);
		diff += (g[i] - numeric) * (g[i] - numeric);
		na += (double) g[i] * g[i];
		nn += numeric * numeric;
	}
	emit(out, component, parameter,
		 sqrt(diff) / Max(sqrt(na) + sqrt(nn), GRAD_FLOOR), (int) n);
}

/* ---- linear: loss = sum(c * (x W^T + b)) ---- */
typedef struct LinearCtx
{
	AigcLinear	l;
	float	   *x;
	float	   *y;
	float	   *c;
	int			n;
} LinearCtx;

static double
linear_loss(void *arg)
{
	LinearCtx  *ctx = arg;
	double		s = 0.0;

	aigc_linear_forward(&ctx->l, ctx->x, ctx->n, ctx->y);
	for (int i = 0; i < ctx->n * ctx->l.out; i++)
		s += (double) ctx->c[i] * ctx->y[i];
	return s;
}

static void
check_linear(CheckOutput *out, AigcRng *rng)
{
	LinearCtx	ctx;
	float	   *dx;

	ctx.n = 3;
	aigc_linear_init(&ctx.l, 5, 4, rng);
	ctx.x = palloc(sizeof(float) * 15);
	ctx.y = palloc(sizeof(float) * 12);
	ctx.c = palloc(sizeof(float) * 12);
	dx = palloc(sizeof(float) * 15);
	aigc_diag_fill_uniform(ctx.x, 15, rng, -1, 1);
	aigc_diag_fill_uniform(ctx.c, 12, rng, -1, 1);
	aigc_linear_backward(&ctx.l, ctx.x, ctx.c, ctx.n, dx);
	check_tensor(out, "linear", "weight", ctx.l.weight.w, ctx.l.weight.g,
				 ctx.l.weight.n, linear_loss, &ctx);
	check_tensor(out, "linear", "bias", ctx.l.bias.w, ctx.l.bias.g,
				 ctx.l.bias.n, linear_loss, &ctx);
	check_tensor(out, "linear", "input", ctx.x, dx, 15, linear_loss, &ctx);
}

/* ---- elementwise layers: loss = sum(c * f(x)) ---- */
typedef enum ElementwiseKind
{
	EW_RELU,
	EW_LEAKY_DROPOUT
} ElementwiseKind;

/* the fused kernel is checked as a layer of EW_ROWS rows: input and bias */
#define EW_ROWS 4

typedef struct ElementwiseCtx
{
	ElementwiseKind kind;
	float	   *x;
	float	   *y;
	float	   *c;
	float	   *bias;			/* n / EW_ROWS */
	float	   *mask;
	int			n;
} ElementwiseCtx;

static double
elementwise_loss(void *arg)
{
	ElementwiseCtx *ctx = arg;
	AigcRng		fixed;
	double		s = 0.0;

	memcpy(ctx->y, ctx->x, sizeof(float) * ctx->n);
	if (ctx->kind == EW_RELU)
		aigc_relu_forward(ctx->y, ctx->n);
	else
	{
		/* the same mask on every evaluation */
		aigc_rng_seed(&fixed, 3);
		aigc_bias_leaky_dropout(ctx->y, ctx->bias, EW_ROWS, ctx->n / EW_ROWS,
								0.2f, 0.5, &fixed, ctx->mask);
	}
	for (int i = 0; i < ctx->n; i++)
		s += (double) ctx->c[i] * ctx->y[i];
	return s;
}

static void
check_elementwise(CheckOutput *out, AigcRng *rng, ElementwiseKind kind)
{
	static const char *const names[] = {"relu", "bias, leaky relu and dropout"};
	ElementwiseCtx ctx;
	float	   *dx;
	float	   *dbias;

	ctx.kind = kind;
	ctx.n = 16;
	ctx.x = palloc(sizeof(float) * ctx.n);
	ctx.y = palloc(sizeof(float) * ctx.n);
	ctx.c = palloc(sizeof(float) * ctx.n);
	/* small, so that x + bias keeps x's sign, away from the kink */
	ctx.bias = palloc(sizeof(float) * ctx.n / EW_ROWS);
	aigc_diag_fill_uniform(ctx.bias, ctx.n / EW_ROWS, rng, -0.05, 0.05);
	ctx.mask = palloc(sizeof(float) * ctx.n);
	dx = palloc(sizeof(float) * ctx.n);
	dbias = palloc0(sizeof(float) * ctx.n / EW_ROWS);
	/* keep inputs away from the kink, where the derivative is undefined */
	for (int i = 0; i < ctx.n; i++)
		ctx.x[i] = (float) ((i % 2 ? 1 : -1) * (0.1 + aigc_rng_uniform(rng)));
	aigc_diag_fill_uniform(ctx.c, ctx.n, rng, -1, 1);
	elementwise_loss(&ctx);
	memcpy(dx, ctx.c, sizeof(float) * ctx.n);
	if (kind == EW_RELU)
		aigc_relu_backward(ctx.y, dx, ctx.n);
	else
	{
		/* the kernel's deriv, d y / d (x + bias): the bias sums it over rows */
		aigc_mul_inplace(dx, ctx.mask, ctx.n);
		for (int i = 0; i < ctx.n; i++)
			dbias[i % (ctx.n / EW_ROWS)] += dx[i];
	}
	check_tensor(out, names[kind], "input", ctx.x, dx, ctx.n, elementwise_loss, &ctx);
	if (kind == EW_LEAKY_DROPOUT)
		check_tensor(out, names[kind], "bias", ctx.bias, dbias, ctx.n / EW_ROWS,
					 elementwise_loss, &ctx);
}

/* A small encoded layout: scalar, 3-way softmax, scalar, 4-way softmax */
static const AigcSpan test_spans[] = {
	{0, 1, true, 0}, {1, 3, false, 0}, {4, 1, true, 1}, {5, 4, false, 2}
};
#define TEST_NSPANS 4
#define TEST_DIM 9

static void
fill_encoded(float *x, int n, AigcRng *rng)
{
	memset(x, 0, sizeof(float) * n * TEST_DIM);
	for (int r = 0; r < n; r++)
		for (int s = 0; s < TEST_NSPANS; s++)
		{
			float	   *xr = x + r * TEST_DIM + test_spans[s].offset;

			if (test_spans[s].is_scalar)
				xr[0] = (float) (1.8 * aigc_rng_uniform(rng) - 0.9);
			else
				xr[aigc_rng_below(rng, test_spans[s].width)] = 1.0f;
		}
}

/* ---- reconstruction loss ---- */
typedef struct ReconCtx
{
	float	   *x;
	float	   *o;
	float	   *sigma;
	float	   *dout;
	float	   *dsigma;
	int			n;
} ReconCtx;

static double
recon_loss(void *arg)
{
	ReconCtx   *ctx = arg;

	memset(ctx->dsigma, 0, sizeof(float) * TEST_DIM);
	return aigc_vae_recon_loss(test_spans, TEST_NSPANS, TEST_DIM, ctx->x, ctx->o,
							   ctx->sigma, ctx->n, 2.0, ctx->dout, ctx->dsigma);
}

static void
check_recon(CheckOutput *out, AigcRng *rng)
{
	ReconCtx	ctx;
	float	   *dout,
			   *dsigma;
	int			count;

	ctx.n = 4;
	count = ctx.n * TEST_DIM;
	ctx.x = palloc(sizeof(float) * count);
	ctx.o = palloc(sizeof(float) * count);
	ctx.sigma = palloc(sizeof(float) * TEST_DIM);
	ctx.dout = palloc(sizeof(float) * count);
	ctx.dsigma = palloc(sizeof(float) * TEST_DIM);
	fill_encoded(ctx.x, ctx.n, rng);
	aigc_diag_fill_uniform(ctx.o, count, rng, -1.5, 1.5);
	aigc_diag_fill_uniform(ctx.sigma, TEST_DIM, rng, 0.2, 0.6);
	recon_loss(&ctx);
	dout = palloc(sizeof(float) * count);
	dsigma = palloc(sizeof(float) * TEST_DIM);
	memcpy(dout, ctx.dout, sizeof(float) * count);
	memcpy(dsigma, ctx.dsigma, sizeof(float) * TEST_DIM);
	check_tensor(out, "vae reconstruction loss", "decoder output", ctx.o, dout,
				 count, recon_loss, &ctx);
	check_tensor(out, "vae reconstruction loss", "sigma", ctx.sigma, dsigma,
				 TEST_DIM, recon_loss, &ctx);
}

/* ---- KL term ---- */
typedef struct KlCtx
{
	float	   *mu;
	float	   *logvar;
	float	   *dmu;
	float	   *dlogvar;
	int			n;
	int			latent;
} KlCtx;

static double
kl_loss(void *arg)
{
	KlCtx	   *ctx = arg;

	return aigc_vae_kl_loss(ctx->mu, ctx->logvar, ctx->n, ctx->latent,
							ctx->dmu, ctx->dlogvar);
}

static void
check_kl(CheckOutput *out, AigcRng *rng)
{
	KlCtx		ctx;
	int			count;
	float	   *dmu,
			   *dlogvar;

	ctx.n = 3;
	ctx.latent = 4;
	count = ctx.n * ctx.latent;
	ctx.mu = palloc(sizeof(float) * count);
	ctx.logvar = palloc(sizeof(float) * count);
	ctx.dmu = palloc(sizeof(float) * count);
	ctx.dlogvar = palloc(sizeof(float) * count);
	dmu = palloc(sizeof(float) * count);
	dlogvar = palloc(sizeof(float) * count);
	aigc_diag_fill_uniform(ctx.mu, count, rng, -1, 1);
	aigc_diag_fill_uniform(ctx.logvar, count, rng, -1, 1);
	kl_loss(&ctx);
	memcpy(dmu, ctx.dmu, sizeof(float) * count);
	memcpy(dlogvar, ctx.dlogvar, sizeof(float) * count);
	check_tensor(out, "vae kl loss", "mu", ctx.mu, dmu, count, kl_loss, &ctx);
	check_tensor(out, "vae kl loss", "logvar", ctx.logvar, dlogvar, count,
				 kl_loss, &ctx);
}

/* Every parameter tensor against the loss, with the gradients as they are */
static void
check_params(CheckOutput *out, const char *component, AigcParam *params,
			 int nparams, const char *const *names, LossFn loss, void *ctx)
{
	for (int p = 0; p < nparams; p++)
	{
		float	   *g = palloc(sizeof(float) * params[p].n);

		memcpy(g, params[p].g, sizeof(float) * params[p].n);
		check_tensor(out, component, names[p], params[p].w, g, params[p].n,
					 loss, ctx);
	}
}

/* ---- whole VAE, reparameterisation included, with fixed noise ---- */
typedef struct VaeCtx
{
	AigcVae		vae;
	AigcVaeBuffers buf;
	float	   *x;
	int			n;
	uint64		noise_seed;
} VaeCtx;

static double
vae_loss(void *arg)
{
	VaeCtx	   *ctx = arg;
	AigcRng		noise;
	double		recon,
				kl;

	aigc_rng_seed(&noise, ctx->noise_seed);
	aigc_vae_forward_backward(&ctx->vae, &ctx->buf, ctx->x, ctx->n, &noise,
							  false, &recon, &kl);
	return recon + kl;
}

static void
check_vae(CheckOutput *out, AigcRng *rng)
{
	VaeCtx		ctx;
	AigcVaeConfig cfg;
	AigcRng		noise;
	double		recon,
				kl;
	static const char *const names[] = {
		"encoder 1 weight", "encoder 1 bias", "encoder 2 weight", "encoder 2 bias",
		"mu weight", "mu bias", "logvar weight", "logvar bias",
		"decoder 1 weight", "decoder 1 bias", "decoder 2 weight", "decoder 2 bias",
		"decoder output weight", "decoder output bias", "sigma"
	};

	memset(&cfg, 0, sizeof(cfg));
	cfg.data_dim = TEST_DIM;
	cfg.latent_dim = 3;
	cfg.n_enc = 2;
	cfg.enc_dims[0] = 7;
	cfg.enc_dims[1] = 6;
	cfg.n_dec = 2;
	cfg.dec_dims[0] = 6;
	cfg.dec_dims[1] = 7;
	cfg.loss_factor = 2.0;
	ctx.n = 5;
	ctx.noise_seed = 7;
	aigc_vae_init(&ctx.vae, &cfg, test_spans, TEST_NSPANS, rng);
	aigc_diag_fill_uniform(ctx.vae.sigma.w, TEST_DIM, rng, 0.2, 0.6);
	aigc_vae_buffers_init(&ctx.buf, &ctx.vae, ctx.n);
	ctx.x = palloc(sizeof(float) * ctx.n * TEST_DIM);
	fill_encoded(ctx.x, ctx.n, rng);

	/* the dense first layer (the rows are 4 non-zeros in 9) */
	ctx.buf.sparse_max_density = 0.0;
	aigc_rng_seed(&noise, ctx.noise_seed);
	aigc_vae_forward_backward(&ctx.vae, &ctx.buf, ctx.x, ctx.n, &noise, true,
							  &recon, &kl);
	Assert(ctx.vae.nparams == lengthof(names) && !ctx.buf.x_sparse);
	check_params(out, "vae end to end", ctx.vae.params, ctx.vae.nparams, names,
				 vae_loss, &ctx);

	/*
	 * The sparse first layer (gather forward, scatter-add weight gradient):
	 * its parameters are the first two, the rest is computed alike.
	 */
	ctx.buf.sparse_max_density = 1.0;
	ctx.buf.sparse_min_rows = 1;
	aigc_sparse_rows_init(&ctx.buf.sparse, ctx.n, TEST_DIM, cfg.enc_dims[0], 1.0);
	aigc_rng_seed(&noise, ctx.noise_seed);
	aigc_vae_forward_backward(&ctx.vae, &ctx.buf, ctx.x, ctx.n, &noise, true,
							  &recon, &kl);
	Assert(ctx.buf.x_sparse);
	check_params(out, "vae end to end, sparse input", ctx.vae.params, 2, names,
				 vae_loss, &ctx);
}

/*
 * ---- batch norm then ReLU (training mode), the output's rows wider than
 * the layer: loss = sum(c * relu(bn(x))) ----
 */
#define BN_LDY 7

typedef struct BatchNormCtx
{
	AigcBatchNorm bn;
	float	   *x;
	float	   *xhat;
	float	   *bias;
	float	   *y;				/* (n, BN_LDY) */
	float	   *c;
	int			n;
} BatchNormCtx;

static double
batchnorm_loss(void *arg)
{
	BatchNormCtx *ctx = arg;
	double		s = 0.0;

	memcpy(ctx->xhat, ctx->x, sizeof(float) * ctx->n * ctx->bn.dim);
	/* in two ranges of columns, as threads split it */
	aigc_batchnorm_relu_forward(&ctx->bn, ctx->xhat, ctx->bias, ctx->n, true,
								ctx->y, BN_LDY, 0, 1);
	aigc_batchnorm_relu_forward(&ctx->bn, ctx->xhat, ctx->bias, ctx->n, true,
								ctx->y, BN_LDY, 1, ctx->bn.dim - 1);
	for (int r = 0; r < ctx->n; r++)
		for (int j = 0; j < ctx->bn.dim; j++)
			s += (double) ctx->c[r * ctx->bn.dim + j] * ctx->y[r * BN_LDY + j];
	return s;
}

static void
check_batchnorm(CheckOutput *out, AigcRng *rng)
{
	BatchNormCtx ctx;
	int			count;
	float	   *dx;

	ctx.n = 6;
	aigc_batchnorm_init(&ctx.bn, 4);
	count = ctx.n * 4;
	aigc_diag_fill_uniform(ctx.bn.gamma.w, 4, rng, 0.5, 1.5);
	aigc_diag_fill_uniform(ctx.bn.beta.w, 4, rng, -0.5, 0.5);
	ctx.x = palloc(sizeof(float) * count);
	ctx.xhat = palloc(sizeof(float) * count);
	ctx.bias = palloc0(sizeof(float) * 4);
	ctx.y = palloc0(sizeof(float) * ctx.n * BN_LDY);
	ctx.c = palloc(sizeof(float) * count);
	dx = palloc(sizeof(float) * count);
	aigc_diag_fill_uniform(ctx.x, count, rng, -2, 2);
	aigc_diag_fill_uniform(ctx.c, count, rng, -1, 1);
	batchnorm_loss(&ctx);
	aigc_batchnorm_relu_backward(&ctx.bn, ctx.xhat, ctx.y, BN_LDY, ctx.c, 4,
								 ctx.n, dx, 0, 3);
	aigc_batchnorm_relu_backward(&ctx.bn, ctx.xhat, ctx.y, BN_LDY, ctx.c, 4,
								 ctx.n, dx, 3, 1);
	check_tensor(out, "batch norm and relu", "gamma", ctx.bn.gamma.w, ctx.bn.gamma.g, 4,
				 batchnorm_loss, &ctx);
	check_tensor(out, "batch norm and relu", "beta", ctx.bn.beta.w, ctx.bn.beta.g, 4,
				 batchnorm_loss, &ctx);
	check_tensor(out, "batch norm and relu", "input", ctx.x, dx, count, batchnorm_loss, &ctx);
}

/* ---- Gumbel-softmax with fixed noise: loss = sum(c * y) ---- */
typedef struct GumbelCtx
{
	float		logits[5];
	float		y[5];
	float		c[5];
} GumbelCtx;

static double
gumbel_loss(void *arg)
{
	GumbelCtx  *ctx = arg;
	AigcRng		fixed;
	double		s = 0.0;

	aigc_rng_seed(&fixed, 5);
	aigc_gumbel_softmax_forward(ctx->logits, ctx->y, 5, 0.2, &fixed);
	for (int k = 0; k < 5; k++)
		s += (double) ctx->c[k] * ctx->y[k];
	return s;
}

static void
check_gumbel(CheckOutput *out, AigcRng *rng)
{
	GumbelCtx	ctx;
	float		dlogits[5];

	aigc_diag_fill_uniform(ctx.logits, 5, rng, -0.3, 0.3);
	aigc_diag_fill_uniform(ctx.c, 5, rng, -1, 1);
	gumbel_loss(&ctx);
	aigc_gumbel_softmax_backward(ctx.y, ctx.c, dlogits, 5, 0.2);
	check_tensor(out, "gumbel softmax", "logits", ctx.logits, dlogits, 5,
				 gumbel_loss, &ctx);
}

/* ---- the GAN on the test layout, with fixed noise and masks ---- */
typedef struct GanCtx
{
	AigcGan		gan;
	AigcGanBuffers buf;
	int			n;				/* rows */
	int			groups;
	float	   *c;				/* weights of the generator's outputs */
	float	   *cond;
	int		   *colsel;
	float	   *dgout;			/* scratch for the cross-entropy */
	float	   *x;				/* discriminator input */
	float	   *cscore;
} GanCtx;

static void
gan_ctx_init(GanCtx *ctx, AigcRng *rng)
{
	AigcGanConfig cfg;
	int			Z,
				C,
				W;

	memset(&cfg, 0, sizeof(cfg));
	cfg.data_dim = TEST_DIM;
	cfg.noise_dim = 3;
	cfg.n_gen = 2;
	cfg.gen_dims[0] = 5;
	cfg.gen_dims[1] = 4;
	cfg.n_dis = 2;
	cfg.dis_dims[0] = 6;
	cfg.dis_dims[1] = 5;
	cfg.pac = 2;
	cfg.leaky_slope = 0.2;
	cfg.dropout = 0.5;
	cfg.tau = 0.5;
	ctx->n = 6;
	ctx->groups = 3;
	aigc_gan_init(&ctx->gan, &cfg, test_spans, TEST_NSPANS, rng);
	aigc_gan_buffers_init(&ctx->buf, &ctx->gan, ctx->n);
	Z = cfg.noise_dim;
	C = ctx->gan.cfg.cond_dim;
	W = TEST_DIM + C;
	for (int i = 0; i < cfg.n_gen; i++)
	{
		aigc_diag_fill_uniform(ctx->gan.bn[i].gamma.w, cfg.gen_dims[i], rng, 0.5, 1.5);
		aigc_diag_fill_uniform(ctx->gan.bn[i].beta.w, cfg.gen_dims[i], rng, -0.5, 0.5);
	}
	ctx->c = palloc(sizeof(float) * ctx->n * TEST_DIM);
	ctx->cond = palloc0(sizeof(float) * ctx->n * C);
	ctx->colsel = palloc0(sizeof(int) * ctx->n);
	ctx->dgout = palloc(sizeof(float) * ctx->n * TEST_DIM);
	ctx->x = palloc(sizeof(float) * ctx->n * W);
	ctx->cscore = palloc(sizeof(float) * ctx->groups);
	aigc_diag_fill_uniform(ctx->c, ctx->n * TEST_DIM, rng, -1, 1);
	aigc_diag_fill_uniform(ctx->x, ctx->n * W, rng, -1, 1);
	aigc_diag_fill_uniform(ctx->cscore, ctx->groups, rng, -1, 1);
	for (int r = 0; r < ctx->n; r++)
	{
		float	   *row = ctx->buf.gin + r * ctx->buf.gx_width;

		for (int j = 0; j < Z; j++)
			row[j] = (float) aigc_rng_normal(rng);
		memset(row + Z, 0, sizeof(float) * C);
		row[Z + r % C] = 1.0f;
		ctx->cond[r * C + r % C] = 1.0f;
	}
}

/* Generator: sum(c * activated output) + conditional cross-entropy */
static double
gan_generator_loss(void *arg)
{
	GanCtx	   *ctx = arg;
	AigcRng		fixed;
	double		s = 0.0;

	aigc_rng_seed(&fixed, 9);
	aigc_gan_generator_forward(&ctx->gan, &ctx->buf, ctx->n, true, &fixed);
	for (int i = 0; i < ctx->n * TEST_DIM; i++)
		s += (double) ctx->c[i] * ctx->buf.fake[i];
	return s + aigc_gan_cond_loss(&ctx->gan, ctx->buf.gout, ctx->cond,
								  ctx->colsel, ctx->n, ctx->dgout);
}

static double
gan_cond_loss_only(void *arg)
{
	GanCtx	   *ctx = arg;

	return aigc_gan_cond_loss(&ctx->gan, ctx->buf.gout, ctx->cond, ctx->colsel,
							  ctx->n, ctx->dgout);
}

/* Discriminator: sum(cscore * score), fixed dropout masks */
static double
gan_discriminator_loss(void *arg)
{
	GanCtx	   *ctx = arg;
	AigcRng		fixed;
	double		s = 0.0;

	aigc_rng_seed(&fixed, 19);
	aigc_gan_discriminator_forward(&ctx->gan, &ctx->buf, ctx->x, ctx->groups, &fixed);
	for (int g = 0; g < ctx->groups; g++)
		s += (double) ctx->cscore[g] * ctx->buf.score[g];
	return s;
}

static double
gan_penalty_loss(void *arg)
{
	GanCtx	   *ctx = arg;
	AigcRng		fixed;

	aigc_rng_seed(&fixed, 13);
	aigc_gan_discriminator_forward(&ctx->gan, &ctx->buf, ctx->x, ctx->groups, &fixed);
	return aigc_gan_gradient_penalty(&ctx->gan, &ctx->buf, ctx->groups, 10.0, false);
}

static void
check_gan(CheckOutput *out, AigcRng *rng)
{
	GanCtx		ctx;
	AigcGan    *gan = &ctx.gan;
	AigcRng		fixed;
	int			W;
	float	   *dgout,
			   *dx;
	AigcPool   *pool;
	static const char *const gen_names[] = {
		"residual 1 weight", "residual 1 bias", "residual 1 bn gamma", "residual 1 bn beta",
		"residual 2 weight", "residual 2 bias", "residual 2 bn gamma", "residual 2 bn beta",
		"output weight", "output bias"
	};
	static const char *const dis_names[] = {
		"hidden 1 weight", "hidden 1 bias", "hidden 2 weight", "hidden 2 bias",
		"score weight", "score bias"
	};

	gan_ctx_init(&ctx, rng);
	W = TEST_DIM + gan->cfg.cond_dim;

	/* conditional cross-entropy against the logits */
	gan_generator_loss(&ctx);
	dgout = palloc0(sizeof(float) * ctx.n * TEST_DIM);
	aigc_gan_cond_loss(gan, ctx.buf.gout, ctx.cond, ctx.colsel, ctx.n, dgout);
	check_tensor(out, "gan conditional cross-entropy", "generator logits",
				 ctx.buf.gout, dgout, ctx.n * TEST_DIM, gan_cond_loss_only, &ctx);

	/* generator end to end, Gumbel-softmax and batch norm included */
	gan_generator_loss(&ctx);
	aigc_gan_activation_backward(gan, ctx.buf.fake, ctx.c, ctx.n, ctx.buf.dgout);
	aigc_gan_cond_loss(gan, ctx.buf.gout, ctx.cond, ctx.colsel, ctx.n, ctx.buf.dgout);
	aigc_params_zero_grad(gan->gparams, gan->n_gparams);
	aigc_gan_generator_backward(gan, &ctx.buf, ctx.n);
	Assert(gan->n_gparams == lengthof(gen_names));
	check_params(out, "gan generator", gan->gparams, gan->n_gparams, gen_names,
				 gan_generator_loss, &ctx);
	/* its backward split across three threads as training splits it */
	pool = aigc_pool_create(3);
	gan_generator_loss(&ctx);
	aigc_gan_activation_backward(gan, ctx.buf.fake, ctx.c, ctx.n, ctx.buf.dgout);
	aigc_gan_cond_loss(gan, ctx.buf.gout, ctx.cond, ctx.colsel, ctx.n, ctx.buf.dgout);
	aigc_params_zero_grad(gan->gparams, gan->n_gparams);
	aigc_gan_backward_split(gan, &ctx.buf, AIGC_GAN_GENERATOR, NULL, ctx.n, NULL,
							0.0, pool);
	check_params(out, "gan generator, 3 threads", gan->gparams, gan->n_gparams,
				 gen_names, gan_generator_loss, &ctx);

	/* discriminator, parameters and input */
	dx = palloc(sizeof(float) * ctx.n * W);
	aigc_rng_seed(&fixed, 19);
	aigc_gan_discriminator_forward(gan, &ctx.buf, ctx.x, ctx.groups, &fixed);
	memcpy(ctx.buf.dscore, ctx.cscore, sizeof(float) * ctx.groups);
	aigc_params_zero_grad(gan->dparams, gan->n_dparams);
	aigc_gan_discriminator_backward(gan, &ctx.buf, ctx.x, ctx.groups, dx);
	Assert(gan->n_dparams == lengthof(dis_names));
	check_params(out, "gan discriminator", gan->dparams, gan->n_dparams,
				 dis_names, gan_discriminator_loss, &ctx);
	check_tensor(out, "gan discriminator", "input", ctx.x, dx, ctx.n * W,
				 gan_discriminator_loss, &ctx);
	/* the input's gradient alone, as the generator's update takes it */
	aigc_rng_seed(&fixed, 19);
	aigc_gan_discriminator_forward(gan, &ctx.buf, ctx.x, ctx.groups, &fixed);
	aigc_gan_discriminator_input_grad(gan, &ctx.buf, ctx.groups, dx);
	check_tensor(out, "gan discriminator, input gradient only", "input", ctx.x,
				 dx, ctx.n * W, gan_discriminator_loss, &ctx);

	/* gradient penalty through the closed-form double backward */
	aigc_rng_seed(&fixed, 13);
	aigc_gan_discriminator_forward(gan, &ctx.buf, ctx.x, ctx.groups, &fixed);
	aigc_params_zero_grad(gan->dparams, gan->n_dparams);
	aigc_gan_gradient_penalty(gan, &ctx.buf, ctx.groups, 10.0, true);
	check_params(out, "gan gradient penalty", gan->dparams, gan->n_dparams,
				 dis_names, gan_penalty_loss, &ctx);

	/*
	 * both split across three threads as training splits them (ranges of
	 * the groups and of the weights' columns, uneven where they do not
	 * divide by three)
	 */
	aigc_rng_seed(&fixed, 19);
	aigc_gan_discriminator_forward(gan, &ctx.buf, ctx.x, ctx.groups, &fixed);
	memcpy(ctx.buf.dscore, ctx.cscore, sizeof(float) * ctx.groups);
	aigc_params_zero_grad(gan->dparams, gan->n_dparams);
	aigc_gan_backward_split(gan, &ctx.buf, AIGC_GAN_CRITIC, ctx.x, ctx.groups, dx,
							0.0, pool);
	check_params(out, "gan discriminator, 3 threads", gan->dparams,
				 gan->n_dparams, dis_names, gan_discriminator_loss, &ctx);
	check_tensor(out, "gan discriminator, 3 threads", "input", ctx.x, dx,
				 ctx.n * W, gan_discriminator_loss, &ctx);
	aigc_rng_seed(&fixed, 13);
	aigc_gan_discriminator_forward(gan, &ctx.buf, ctx.x, ctx.groups, &fixed);
	aigc_params_zero_grad(gan->dparams, gan->n_dparams);
	aigc_gan_backward_split(gan, &ctx.buf, AIGC_GAN_PENALTY, ctx.x, ctx.groups,
							NULL, 10.0, pool);
	check_params(out, "gan gradient penalty, 3 threads", gan->dparams,
				 gan->n_dparams, dis_names, gan_penalty_loss, &ctx);
}

/* ---- transformer layers: loss = sum(c * layer(x)) unless stated ---- */

typedef struct TfLayerNormCtx
{
	float	   *x;
	float	   *w;
	float	   *b;
	float	   *y;
	float	   *c;
	float	   *mean;
	float	   *rstd;
	int			R;
	int			C;
} TfLayerNormCtx;

static double
tf_layernorm_loss(void *arg)
{
	TfLayerNormCtx *ctx = arg;

	aigc_tf_layernorm_forward(ctx->y, ctx->mean, ctx->rstd, ctx->x, ctx->w,
							  ctx->b, ctx->R, ctx->C);
	return dp_dot(ctx->c, ctx->y, ctx->R * ctx->C);
}

static void
check_tf_layernorm(CheckOutput *out, AigcRng *rng)
{
	TfLayerNormCtx ctx;
	int			count;
	float	   *dx,
			   *dw,
			   *db;

	ctx.R = 5;
	ctx.C = 6;
	count = ctx.R * ctx.C;
	ctx.x = palloc(sizeof(float) * count);
	ctx.y = palloc(sizeof(float) * count);
	ctx.c = palloc(sizeof(float) * count);
	ctx.w = palloc(sizeof(float) * ctx.C);
	ctx.b = palloc(sizeof(float) * ctx.C);
	ctx.mean = palloc(sizeof(float) * ctx.R);
	ctx.rstd = palloc(sizeof(float) * ctx.R);
	dx = palloc0(sizeof(float) * count);
	dw = palloc0(sizeof(float) * ctx.C);
	db = palloc0(sizeof(float) * ctx.C);
	aigc_diag_fill_uniform(ctx.x, count, rng, -2, 2);
	aigc_diag_fill_uniform(ctx.c, count, rng, -1, 1);
	aigc_diag_fill_uniform(ctx.w, ctx.C, rng, 0.5, 1.5);
	aigc_diag_fill_uniform(ctx.b, ctx.C, rng, -0.5, 0.5);
	tf_layernorm_loss(&ctx);
	aigc_tf_layernorm_backward(dx, dw, db, ctx.c, ctx.x, ctx.w, ctx.mean,
							   ctx.rstd, ctx.R, ctx.C);
	check_tensor(out, "transformer layer norm", "weight", ctx.w, dw, ctx.C,
				 tf_layernorm_loss, &ctx);
	check_tensor(out, "transformer layer norm", "bias", ctx.b, db, ctx.C,
				 tf_layernorm_loss, &ctx);
	check_tensor(out, "transformer layer norm", "input", ctx.x, dx, count,
				 tf_layernorm_loss, &ctx);
}

typedef struct TfAttentionCtx
{
	float	   *qkv;
	float	   *att;
	float	   *scratch;
	float	   *y;
	float	   *c;
	int			N;
	int			T;
	int			C;
	int			NH;
} TfAttentionCtx;

static double
tf_attention_loss(void *arg)
{
	TfAttentionCtx *ctx = arg;

	aigc_tf_attention_forward(ctx->y, ctx->att, ctx->qkv, ctx->scratch, ctx->N,
							  ctx->T, ctx->C, ctx->NH);
	return dp_dot(ctx->c, ctx->y, ctx->N * ctx->T * ctx->C);
}

/*
 * n rows: the kernels take 16 rows at a time, so 2 rows are one partial
 * block and 18 a full block and a partial one
 */
static void
check_tf_attention(CheckOutput *out, AigcRng *rng, int n, const char *label)
{
	TfAttentionCtx ctx;
	int			count;
	float	   *dqkv;

	ctx.N = n;
	ctx.T = 4;
	ctx.C = 6;
	ctx.NH = 2;
	count = ctx.N * ctx.T * ctx.C;
	ctx.qkv = palloc(sizeof(float) * 3 * count);
	ctx.att = palloc(sizeof(float) * aigc_tf_attention_floats(ctx.N, ctx.T, ctx.NH));
	ctx.scratch = palloc(sizeof(float) *
						 aigc_tf_attention_scratch_floats(ctx.T, ctx.C, ctx.NH));
	ctx.y = palloc(sizeof(float) * count);
	ctx.c = palloc(sizeof(float) * count);
	dqkv = palloc(sizeof(float) * 3 * count);
	aigc_diag_fill_uniform(ctx.qkv, 3 * count, rng, -1.5, 1.5);
	aigc_diag_fill_uniform(ctx.c, count, rng, -1, 1);
	tf_attention_loss(&ctx);
	aigc_tf_attention_backward(dqkv, ctx.c, ctx.qkv, ctx.att, ctx.scratch,
							   ctx.N, ctx.T, ctx.C, ctx.NH);
	check_tensor(out, label, "query, key, value", ctx.qkv, dqkv, 3 * count,
				 tf_attention_loss, &ctx);
}

typedef struct TfGeluCtx
{
	float		x[16];
	float		y[16];
	float		c[16];
	float		deriv[16];
} TfGeluCtx;

static double
tf_gelu_loss(void *arg)
{
	TfGeluCtx  *ctx = arg;

	aigc_tf_gelu_forward(ctx->y, NULL, ctx->x, 16);
	return dp_dot(ctx->c, ctx->y, 16);
}

static void
check_tf_gelu(CheckOutput *out, AigcRng *rng)
{
	TfGeluCtx	ctx;
	float		dx[16];

	aigc_diag_fill_uniform(ctx.x, 16, rng, -3, 3);
	aigc_diag_fill_uniform(ctx.c, 16, rng, -1, 1);
	aigc_tf_gelu_forward(ctx.y, ctx.deriv, ctx.x, 16);
	aigc_tf_gelu_backward(dx, ctx.deriv, ctx.c, 16);
	check_tensor(out, "transformer gelu", "input", ctx.x, dx, 16,
				 tf_gelu_loss, &ctx);
}

typedef struct TfEmbedCtx
{
	int32		inp[6];
	float		wte[5 * 4];
	float		wpe[3 * 4];
	float		y[6 * 4];
	float		c[6 * 4];
} TfEmbedCtx;

static double
tf_embed_loss(void *arg)
{
	TfEmbedCtx *ctx = arg;

	aigc_tf_embed_forward(ctx->y, ctx->inp, ctx->wte, ctx->wpe, 2, 3, 4);
	return dp_dot(ctx->c, ctx->y, 6 * 4);
}

static void
check_tf_embed(CheckOutput *out, AigcRng *rng)
{
	TfEmbedCtx	ctx;
	float		dwte[5 * 4] = {0};
	float		dwpe[3 * 4] = {0};

	/* token 2 twice, so gradients of a repeated token must add up */
	for (int i = 0; i < 6; i++)
		ctx.inp[i] = (int32) aigc_rng_below(rng, 5);
	ctx.inp[1] = ctx.inp[4] = 2;
	aigc_diag_fill_uniform(ctx.wte, 5 * 4, rng, -1, 1);
	aigc_diag_fill_uniform(ctx.wpe, 3 * 4, rng, -1, 1);
	aigc_diag_fill_uniform(ctx.c, 6 * 4, rng, -1, 1);
	aigc_tf_embed_backward(dwte, dwpe, ctx.c, ctx.inp, 2, 3, 4);
	check_tensor(out, "transformer embeddings", "token table", ctx.wte, dwte,
				 5 * 4, tf_embed_loss, &ctx);
	check_tensor(out, "transformer embeddings", "position table", ctx.wpe, dwpe,
				 3 * 4, tf_embed_loss, &ctx);
}

/*
 * A small tokenised table: 4 positions owning 3, 2, 4 and 2 tokens; the
 * mask forbids one token of position 2 in every row (never a target)
 */
static const int tf_test_first[] = {0, 3, 5, 9, 11};
#define TF_TEST_T 4
#define TF_TEST_V 11

static void
fill_tf_rows(int32 *tokens, uint8 *allowed, int n, AigcRng *rng)
{
	memset(allowed, 1, n * TF_TEST_V);
	for (int r = 0; r < n; r++)
		for (int t = 0; t < TF_TEST_T; t++)
		{
			int			f = tf_test_first[t];
			int			cnt = tf_test_first[t + 1] - f;

			if (t == 2)
			{
				tokens[r * TF_TEST_T + t] = f + (int32) aigc_rng_below(rng, cnt - 1);
				allowed[r * TF_TEST_V + f + cnt - 1] = 0;
			}
			else
				tokens[r * TF_TEST_T + t] = f + (int32) aigc_rng_below(rng, cnt);
		}
}

/* ---- head and loss: loss = sum of -log p(target) over rows, positions ---- */
typedef struct TfHeadCtx
{
	float	   *h;
	float	   *w;
	float	   *b;
	float	   *logits;
	float	   *probs;
	double	   *nll;
	int32	   *targets;
	uint8	   *allowed;
	int			N;
	int			C;
} TfHeadCtx;

static double
tf_head_loss(void *arg)
{
	TfHeadCtx  *ctx = arg;
	double		s = 0.0;

	aigc_tf_head_forward(ctx->logits, ctx->h, ctx->w, ctx->b, tf_test_first,
						 ctx->N, TF_TEST_T, ctx->C, TF_TEST_V, 0, TF_TEST_T);
	aigc_tf_softmax_xent_forward(ctx->probs, ctx->nll, ctx->logits,
								 ctx->allowed, ctx->targets, tf_test_first,
								 ctx->N, TF_TEST_T, TF_TEST_V, 0, TF_TEST_T);
	for (int i = 0; i < ctx->N * TF_TEST_T; i++)
		s += ctx->nll[i];
	return s;
}

static void
check_tf_head(CheckOutput *out, AigcRng *rng)
{
	TfHeadCtx	ctx;
	int			hcount;
	float	   *dh,
			   *dw,
			   *db,
			   *dlogits;

	ctx.N = 3;
	ctx.C = 5;
	hcount = ctx.N * TF_TEST_T * ctx.C;
	ctx.h = palloc(sizeof(float) * hcount);
	ctx.w = palloc(sizeof(float) * TF_TEST_V * ctx.C);
	ctx.b = palloc(sizeof(float) * TF_TEST_V);
	ctx.logits = palloc(sizeof(float) * ctx.N * TF_TEST_V);
	ctx.probs = palloc(sizeof(float) * ctx.N * TF_TEST_V);
	ctx.nll = palloc(sizeof(double) * ctx.N * TF_TEST_T);
	ctx.targets = palloc(sizeof(int32) * ctx.N * TF_TEST_T);
	ctx.allowed = palloc(ctx.N * TF_TEST_V);
	dh = palloc(sizeof(float) * hcount);
	dw = palloc0(sizeof(float) * TF_TEST_V * ctx.C);
	db = palloc0(sizeof(float) * TF_TEST_V);
	dlogits = palloc(sizeof(float) * ctx.N * TF_TEST_V);
	aigc_diag_fill_uniform(ctx.h, hcount, rng, -1, 1);
	aigc_diag_fill_uniform(ctx.w, TF_TEST_V * ctx.C, rng, -1, 1);
	aigc_diag_fill_uniform(ctx.b, TF_TEST_V, rng, -1, 1);
	fill_tf_rows(ctx.targets, ctx.allowed, ctx.N, rng);
	tf_head_loss(&ctx);
	aigc_tf_softmax_xent_backward(dlogits, ctx.probs, ctx.targets, tf_test_first,
								  ctx.N, TF_TEST_T, TF_TEST_V, 0, TF_TEST_T, 1.0f);
	aigc_tf_head_backward(dh, dw, db, dlogits, ctx.h, ctx.w, tf_test_first,
						  ctx.N, TF_TEST_T, ctx.C, TF_TEST_V, 0, TF_TEST_T);
	check_tensor(out, "transformer head and cross-entropy", "weight", ctx.w, dw,
				 TF_TEST_V * ctx.C, tf_head_loss, &ctx);
	check_tensor(out, "transformer head and cross-entropy", "bias", ctx.b, db,
				 TF_TEST_V, tf_head_loss, &ctx);
	check_tensor(out, "transformer head and cross-entropy", "hidden state",
				 ctx.h, dh, hcount, tf_head_loss, &ctx);
}

/* ---- the whole transformer: mean -log p(row) ---- */
typedef struct TfModelCtx
{
	AigcTfModel model;
	AigcTfActs	acts;
	int32	   *tokens;
	uint8	   *allowed;
	int			n;
} TfModelCtx;

static double
tf_model_loss(void *arg)
{
	TfModelCtx *ctx = arg;

	return aigc_tf_forward(&ctx->model, &ctx->acts, ctx->tokens, ctx->allowed,
						   ctx->n);
}

static void
check_tf_model(CheckOutput *out, AigcRng *rng)
{
	TfModelCtx	ctx;
	AigcTfConfig cfg;

	cfg.n_layer = 2;
	cfg.d_model = 8;
	cfg.n_head = 2;
	cfg.seq_len = TF_TEST_T;
	cfg.first = tf_test_first;
	ctx.n = 3;
	aigc_tf_init(&ctx.model, &cfg, true, rng);

	/*
	 * GPT-2's initial weights (std 0.02) give gradients too small to tell
	 * from float round-off, so every parameter is redrawn large enough to
	 * exercise each path; LayerNorm gains stay around 1.
	 */
	aigc_diag_fill_uniform(ctx.model.params, ctx.model.nparams, rng, -0.5, 0.5);
	aigc_diag_fill_uniform(ctx.model.tensors[TF_LN1W].w, ctx.model.tensors[TF_LN1W].n, rng, 0.5, 1.5);
	aigc_diag_fill_uniform(ctx.model.tensors[TF_LN2W].w, ctx.model.tensors[TF_LN2W].n, rng, 0.5, 1.5);
	aigc_diag_fill_uniform(ctx.model.tensors[TF_LNFW].w, ctx.model.tensors[TF_LNFW].n, rng, 0.5, 1.5);
	aigc_tf_acts_init(&ctx.acts, &ctx.model, ctx.n);
	ctx.tokens = palloc(sizeof(int32) * ctx.n * TF_TEST_T);
	ctx.allowed = palloc(ctx.n * TF_TEST_V);
	fill_tf_rows(ctx.tokens, ctx.allowed, ctx.n, rng);

	tf_model_loss(&ctx);
	aigc_tf_backward(&ctx.model, &ctx.acts, ctx.tokens, ctx.n);
	check_params(out, "transformer end to end", ctx.model.tensors, TF_NTENSORS,
				 aigc_tf_tensor_names, tf_model_loss, &ctx);
}

Datum
aigc_gradient_check(PG_FUNCTION_ARGS)
{
	CheckOutput out;
	AigcRng		rng;

	InitMaterializedSRF(fcinfo, 0);
	out.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	aigc_rng_seed(&rng, 20261123);
	check_linear(&out, &rng);
	check_elementwise(&out, &rng, EW_RELU);
	check_recon(&out, &rng);
	check_kl(&out, &rng);
	check_vae(&out, &rng);
	check_elementwise(&out, &rng, EW_LEAKY_DROPOUT);
	check_batchnorm(&out, &rng);
	check_gumbel(&out, &rng);
	check_gan(&out, &rng);
	check_tf_layernorm(&out, &rng);
	check_tf_attention(&out, &rng, 2, "transformer causal attention");
	check_tf_attention(&out, &rng, 18, "transformer causal attention, 18 rows");
	check_tf_gelu(&out, &rng);
	check_tf_embed(&out, &rng);
	check_tf_head(&out, &rng);
	check_tf_model(&out, &rng);
	return (Datum) 0;
}
