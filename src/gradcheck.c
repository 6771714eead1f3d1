/*
 * gradcheck.c
 *		aigc.gradient_check(): every backward pass against central finite
 *		differences of its forward pass, on small fixed-seed problems.
 *
 * The error of a tensor is ||analytic - numeric|| / (||analytic|| +
 * ||numeric||), which is robust to the float32 round-off of single entries.
 */
#include "postgres.h"

#include <math.h>
#include <string.h>

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

#include "layers.h"
#include "vae.h"

PG_FUNCTION_INFO_V1(aigc_gradient_check);

#define FD_EPS 1e-3

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
		 sqrt(diff) / Max(sqrt(na) + sqrt(nn), 1e-12), (int) n);
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

/* ---- relu: loss = sum(c * relu(x)) ---- */
typedef struct ReluCtx
{
	float	   *x;
	float	   *y;
	float	   *c;
	int			n;
} ReluCtx;

static double
relu_loss(void *arg)
{
	ReluCtx    *ctx = arg;
	double		s = 0.0;

	memcpy(ctx->y, ctx->x, sizeof(float) * ctx->n);
	aigc_relu_forward(ctx->y, ctx->n);
	for (int i = 0; i < ctx->n; i++)
		s += (double) ctx->c[i] * ctx->y[i];
	return s;
}

static void
check_relu(CheckOutput *out, AigcRng *rng)
{
	ReluCtx		ctx;
	float	   *dx;

	ctx.n = 16;
	ctx.x = palloc(sizeof(float) * ctx.n);
	ctx.y = palloc(sizeof(float) * ctx.n);
	ctx.c = palloc(sizeof(float) * ctx.n);
	dx = palloc(sizeof(float) * ctx.n);
	/* keep inputs away from the kink, where the derivative is undefined */
	for (int i = 0; i < ctx.n; i++)
		ctx.x[i] = (float) ((i % 2 ? 1 : -1) * (0.1 + aigc_rng_uniform(rng)));
	fill_uniform(ctx.c, ctx.n, rng, -1, 1);
	relu_loss(&ctx);
	memcpy(dx, ctx.c, sizeof(float) * ctx.n);
	aigc_relu_backward(ctx.y, dx, ctx.n);
	check_tensor(out, "relu", "input", ctx.x, dx, ctx.n, relu_loss, &ctx);
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
	for (int p = 0; p < ctx.vae.nparams; p++)
	{
		AigcParam  *prm = &ctx.vae.params[p];
		float	   *g = palloc(sizeof(float) * prm->n);

		memcpy(g, prm->g, sizeof(float) * prm->n);
		check_tensor(out, "vae end to end", names[p], prm->w, g, prm->n,
					 vae_loss, &ctx);
	}
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
	check_relu(&out, &rng);
	check_recon(&out, &rng);
	check_kl(&out, &rng);
	check_vae(&out, &rng);
	return (Datum) 0;
}
