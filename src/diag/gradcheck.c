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

#include "core/gan.h"
#include "core/layers.h"
#include "core/vae.h"

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
	Datum		values[4];
	bool		nulls[4] = {false};

	values[0] = CStringGetTextDatum(component);
	values[1] = CStringGetTextDatum(parameter);
	values[2] = Float8GetDatum(error);
	values[3] = Int32GetDatum(checked);
	tuplestore_putvalues(out->rsinfo->setResult, out->rsinfo->setDesc, values, nulls);
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

static void
fill_uniform(float *v, int64 n, AigcRng *rng, double lo, double hi)
{
	for (int64 i = 0; i < n; i++)
		v[i] = (float) (lo + (hi - lo) * aigc_rng_uniform(rng));
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
	fill_uniform(ctx.x, 15, rng, -1, 1);
	fill_uniform(ctx.c, 12, rng, -1, 1);
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
	EW_LEAKY_RELU,
	EW_DROPOUT
} ElementwiseKind;

typedef struct ElementwiseCtx
{
	ElementwiseKind kind;
	float	   *x;
	float	   *y;
	float	   *c;
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
	else if (ctx->kind == EW_LEAKY_RELU)
		aigc_leaky_relu_forward(ctx->y, ctx->n, 0.2f);
	else
	{
		/* the same mask on every evaluation */
		aigc_rng_seed(&fixed, 3);
		aigc_dropout_forward(ctx->y, ctx->mask, ctx->n, 0.5, &fixed);
	}
	for (int i = 0; i < ctx->n; i++)
		s += (double) ctx->c[i] * ctx->y[i];
	return s;
}

static void
check_elementwise(CheckOutput *out, AigcRng *rng, ElementwiseKind kind)
{
	static const char *const names[] = {"relu", "leaky relu", "dropout"};
	ElementwiseCtx ctx;
	float	   *dx;

	ctx.kind = kind;
	ctx.n = 16;
	ctx.x = palloc(sizeof(float) * ctx.n);
	ctx.y = palloc(sizeof(float) * ctx.n);
	ctx.c = palloc(sizeof(float) * ctx.n);
	ctx.mask = palloc(sizeof(float) * ctx.n);
	dx = palloc(sizeof(float) * ctx.n);
	/* keep inputs away from the kink, where the derivative is undefined */
	for (int i = 0; i < ctx.n; i++)
		ctx.x[i] = (float) ((i % 2 ? 1 : -1) * (0.1 + aigc_rng_uniform(rng)));
	fill_uniform(ctx.c, ctx.n, rng, -1, 1);
	elementwise_loss(&ctx);
	memcpy(dx, ctx.c, sizeof(float) * ctx.n);
	if (kind == EW_RELU)
		aigc_relu_backward(ctx.y, dx, ctx.n);
	else if (kind == EW_LEAKY_RELU)
		aigc_leaky_relu_backward(ctx.y, dx, ctx.n, 0.2f);
	else
		aigc_mul_inplace(dx, ctx.mask, ctx.n);
	check_tensor(out, names[kind], "input", ctx.x, dx, ctx.n, elementwise_loss, &ctx);
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
	fill_uniform(ctx.o, count, rng, -1.5, 1.5);
	fill_uniform(ctx.sigma, TEST_DIM, rng, 0.2, 0.6);
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
	fill_uniform(ctx.mu, count, rng, -1, 1);
	fill_uniform(ctx.logvar, count, rng, -1, 1);
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
	fill_uniform(ctx.vae.sigma.w, TEST_DIM, rng, 0.2, 0.6);
	aigc_vae_buffers_init(&ctx.buf, &ctx.vae, ctx.n);
	ctx.x = palloc(sizeof(float) * ctx.n * TEST_DIM);
	fill_encoded(ctx.x, ctx.n, rng);

	aigc_rng_seed(&noise, ctx.noise_seed);
	aigc_vae_forward_backward(&ctx.vae, &ctx.buf, ctx.x, ctx.n, &noise, true,
							  &recon, &kl);
	Assert(ctx.vae.nparams == lengthof(names));
	check_params(out, "vae end to end", ctx.vae.params, ctx.vae.nparams, names,
				 vae_loss, &ctx);
}

/* ---- batch norm (training mode): loss = sum(c * bn(x)) ---- */
typedef struct BatchNormCtx
{
	AigcBatchNorm bn;
	float	   *x;
	float	   *xhat;
	float	   *y;
	float	   *c;
	int			n;
} BatchNormCtx;

static double
batchnorm_loss(void *arg)
{
	BatchNormCtx *ctx = arg;
	double		s = 0.0;

	aigc_batchnorm_forward(&ctx->bn, ctx->x, ctx->n, true, ctx->xhat, ctx->y);
	for (int i = 0; i < ctx->n * ctx->bn.dim; i++)
		s += (double) ctx->c[i] * ctx->y[i];
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
	fill_uniform(ctx.bn.gamma.w, 4, rng, 0.5, 1.5);
	fill_uniform(ctx.bn.beta.w, 4, rng, -0.5, 0.5);
	ctx.x = palloc(sizeof(float) * count);
	ctx.xhat = palloc(sizeof(float) * count);
	ctx.y = palloc(sizeof(float) * count);
	ctx.c = palloc(sizeof(float) * count);
	dx = palloc(sizeof(float) * count);
	fill_uniform(ctx.x, count, rng, -2, 2);
	fill_uniform(ctx.c, count, rng, -1, 1);
	batchnorm_loss(&ctx);
	memcpy(dx, ctx.c, sizeof(float) * count);
	aigc_batchnorm_backward(&ctx.bn, ctx.xhat, dx, ctx.n);
	check_tensor(out, "batch norm", "gamma", ctx.bn.gamma.w, ctx.bn.gamma.g, 4,
				 batchnorm_loss, &ctx);
	check_tensor(out, "batch norm", "beta", ctx.bn.beta.w, ctx.bn.beta.g, 4,
				 batchnorm_loss, &ctx);
	check_tensor(out, "batch norm", "input", ctx.x, dx, count, batchnorm_loss, &ctx);
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

	fill_uniform(ctx.logits, 5, rng, -0.3, 0.3);
	fill_uniform(ctx.c, 5, rng, -1, 1);
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
		fill_uniform(ctx->gan.bn[i].gamma.w, cfg.gen_dims[i], rng, 0.5, 1.5);
		fill_uniform(ctx->gan.bn[i].beta.w, cfg.gen_dims[i], rng, -0.5, 0.5);
	}
	ctx->c = palloc(sizeof(float) * ctx->n * TEST_DIM);
	ctx->cond = palloc0(sizeof(float) * ctx->n * C);
	ctx->colsel = palloc0(sizeof(int) * ctx->n);
	ctx->dgout = palloc(sizeof(float) * ctx->n * TEST_DIM);
	ctx->x = palloc(sizeof(float) * ctx->n * W);
	ctx->cscore = palloc(sizeof(float) * ctx->groups);
	fill_uniform(ctx->c, ctx->n * TEST_DIM, rng, -1, 1);
	fill_uniform(ctx->x, ctx->n * W, rng, -1, 1);
	fill_uniform(ctx->cscore, ctx->groups, rng, -1, 1);
	for (int r = 0; r < ctx->n; r++)
	{
		float	   *row = ctx->buf.gin + r * (Z + C);

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

	/* gradient penalty through the closed-form double backward */
	aigc_rng_seed(&fixed, 13);
	aigc_gan_discriminator_forward(gan, &ctx.buf, ctx.x, ctx.groups, &fixed);
	aigc_params_zero_grad(gan->dparams, gan->n_dparams);
	aigc_gan_gradient_penalty(gan, &ctx.buf, ctx.groups, 10.0, true);
	check_params(out, "gan gradient penalty", gan->dparams, gan->n_dparams,
				 dis_names, gan_penalty_loss, &ctx);
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
	check_elementwise(&out, &rng, EW_LEAKY_RELU);
	check_elementwise(&out, &rng, EW_DROPOUT);
	check_batchnorm(&out, &rng);
	check_gumbel(&out, &rng);
	check_gan(&out, &rng);
	return (Datum) 0;
}
