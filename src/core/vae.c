/*
 * vae.c
 *		TVAE (Xu et al. 2019): MLP encoder to a Gaussian posterior, MLP decoder
 *		whose scalar outputs are Gaussian around tanh(out) with a learnt sigma
 *		and whose one-hot spans are categorical logits.
 */
#include "postgres.h"

#include <math.h>
#include <string.h>

#include "miscadmin.h"

#include "core/dp_sgd.h"
#include "core/fastmath.h"
#include "core/vae.h"

#define VAE_DIM_MAX 1000000

static void
collect_params(AigcVae *vae)
{
	int			np = 0;

#define ADD_LINEAR(l) do { vae->params[np++] = (l).weight; vae->params[np++] = (l).bias; } while (0)
	for (int i = 0; i < vae->cfg.n_enc; i++)
		ADD_LINEAR(vae->enc[i]);
	ADD_LINEAR(vae->mu);
	ADD_LINEAR(vae->logvar);
	for (int i = 0; i <= vae->cfg.n_dec; i++)
		ADD_LINEAR(vae->dec[i]);
#undef ADD_LINEAR
	vae->params[np++] = vae->sigma;
	vae->nparams = np;
}

/* The next n floats of the parameter block and of its gradient */
static void
place(AigcParam *p, int64 n, float **w, float **g)
{
	p->n = n;
	p->w = *w;
	p->g = *g;
	*w += n;
	*g += n;
}

static void
place_linear(AigcLinear *l, int in, int out, float **w, float **g)
{
	l->in = in;
	l->out = out;
	place(&l->weight, (int64) in * out, w, g);
	place(&l->bias, out, w, g);
}

/* Parameters of a configuration, in the layers of aigc_vae_train_size */
static int64
vae_param_count(const AigcVaeConfig *cfg)
{
	int64		n = cfg->data_dim;	/* sigma */
	int64		prev = cfg->data_dim;

	for (int i = 0; i < cfg->n_enc; i++)
	{
		n += (prev + 1) * cfg->enc_dims[i];
		prev = cfg->enc_dims[i];
	}
	n += 2 * (prev + 1) * cfg->latent_dim;
	prev = cfg->latent_dim;
	for (int i = 0; i < cfg->n_dec; i++)
	{
		n += (prev + 1) * cfg->dec_dims[i];
		prev = cfg->dec_dims[i];
	}
	return n + (prev + 1) * cfg->data_dim;
}

/*
 * Every parameter lives in one block (Adam and zeroing the gradients then
 * run over one array) and mu's and logvar's weights are adjacent rows, as
 * are their biases, so that the two heads are one product (heads).  The
 * stored order stays params' (collect_params), the initial values those of
 * separate layers drawn in the same order.
 */
void
aigc_vae_init(AigcVae *vae, const AigcVaeConfig *cfg,
			  const AigcSpan *spans, int nspans, AigcRng *rng)
{
	int			prev = cfg->data_dim;
	int			L = cfg->latent_dim;
	int64		total = vae_param_count(cfg);
	float	   *w,
			   *g;

	memset(vae, 0, sizeof(*vae));
	vae->cfg = *cfg;
	vae->spans = spans;
	vae->nspans = nspans;
	vae->block.n = total;
	vae->block.w = w = palloc(sizeof(float) * total);
	vae->block.g = g = palloc0(sizeof(float) * total);
	for (int i = 0; i < cfg->n_enc; i++)
	{
		place_linear(&vae->enc[i], prev, cfg->enc_dims[i], &w, &g);
		prev = cfg->enc_dims[i];
	}
	vae->mu.in = vae->logvar.in = vae->heads.in = prev;
	vae->mu.out = vae->logvar.out = L;
	vae->heads.out = 2 * L;
	place(&vae->heads.weight, (int64) 2 * L * prev, &w, &g);
	place(&vae->heads.bias, 2 * L, &w, &g);
	vae->mu.weight = vae->logvar.weight = vae->heads.weight;
	vae->mu.weight.n = vae->logvar.weight.n = (int64) L * prev;
	vae->logvar.weight.w += (int64) L * prev;
	vae->logvar.weight.g += (int64) L * prev;
	vae->mu.bias = vae->logvar.bias = vae->heads.bias;
	vae->mu.bias.n = vae->logvar.bias.n = L;
	vae->logvar.bias.w += L;
	vae->logvar.bias.g += L;
	prev = L;
	for (int i = 0; i <= cfg->n_dec; i++)
	{
		int			out = i < cfg->n_dec ? cfg->dec_dims[i] : cfg->data_dim;

		place_linear(&vae->dec[i], prev, out, &w, &g);
		prev = out;
	}
	place(&vae->sigma, cfg->data_dim, &w, &g);
	Assert(w == vae->block.w + total);

	for (int i = 0; i < cfg->n_enc; i++)
		aigc_linear_fill(&vae->enc[i], rng);
	aigc_linear_fill(&vae->mu, rng);
	aigc_linear_fill(&vae->logvar, rng);
	for (int i = 0; i <= cfg->n_dec; i++)
		aigc_linear_fill(&vae->dec[i], rng);
	for (int j = 0; j < cfg->data_dim; j++)
		vae->sigma.w[j] = 0.1f;
	collect_params(vae);
}

/* src's network with its own gradients; the weights stay src's */
void
aigc_vae_replica(const AigcVae *src, AigcVae *dst)
{
	float	   *g = palloc0(sizeof(float) * src->block.n);

	*dst = *src;
	dst->block.g = g;
	/* every gradient at its offset in the replica's own block */
#define REBASE(p) ((p).g = g + ((p).g - src->block.g))
	for (int i = 0; i < dst->cfg.n_enc; i++)
	{
		REBASE(dst->enc[i].weight);
		REBASE(dst->enc[i].bias);
	}
	REBASE(dst->heads.weight);
	REBASE(dst->heads.bias);
	REBASE(dst->mu.weight);
	REBASE(dst->mu.bias);
	REBASE(dst->logvar.weight);
	REBASE(dst->logvar.bias);
	for (int i = 0; i <= dst->cfg.n_dec; i++)
	{
		REBASE(dst->dec[i].weight);
		REBASE(dst->dec[i].bias);
	}
	REBASE(dst->sigma);
#undef REBASE
	collect_params(dst);
}

void
aigc_vae_buffers_init(AigcVaeBuffers *buf, const AigcVae *vae, int batch)
{
	const AigcVaeConfig *cfg = &vae->cfg;
	int			widest = Max(cfg->data_dim, cfg->latent_dim);

	buf->batch = batch;
	for (int i = 0; i < cfg->n_enc; i++)
	{
		buf->enc_act[i] = palloc(sizeof(float) * batch * cfg->enc_dims[i]);
		widest = Max(widest, cfg->enc_dims[i]);
	}
	for (int i = 0; i < cfg->n_dec; i++)
	{
		buf->dec_act[i] = palloc(sizeof(float) * batch * cfg->dec_dims[i]);
		widest = Max(widest, cfg->dec_dims[i]);
	}
	buf->heads = palloc(sizeof(float) * batch * 2 * cfg->latent_dim);
	buf->mu = palloc(sizeof(float) * batch * cfg->latent_dim);
	buf->logvar = palloc(sizeof(float) * batch * cfg->latent_dim);
	buf->std = palloc(sizeof(float) * batch * cfg->latent_dim);
	buf->eps = palloc(sizeof(float) * batch * cfg->latent_dim);
	buf->z = palloc(sizeof(float) * batch * cfg->latent_dim);
	buf->dmu = palloc(sizeof(float) * batch * cfg->latent_dim);
	buf->dlogvar = palloc(sizeof(float) * batch * cfg->latent_dim);
	buf->out = palloc(sizeof(float) * batch * cfg->data_dim);
	buf->grad_a = palloc(sizeof(float) * batch * widest);
	buf->grad_b = palloc(sizeof(float) * batch * widest);
	buf->x_sparse = false;
	buf->sparse_max_density = AIGC_VAE_SPARSE_DENSITY;
	buf->sparse_min_rows = AIGC_VAE_SPARSE_MIN_ROWS;
	if (cfg->n_enc > 0)
		aigc_sparse_rows_init(&buf->sparse, batch, cfg->data_dim, cfg->enc_dims[0],
							  buf->sparse_max_density);
}

/*
 * Adds b rows of every hidden layer's activations to e; returns the widest
 * layer, data and latent included (the gradient scratch's width)
 */
static int
hidden_acts_size(const AigcVaeConfig *cfg, double b, AigcSizeEstimate *e)
{
	int			widest = Max(cfg->data_dim, cfg->latent_dim);

	for (int i = 0; i < cfg->n_enc; i++)
	{
		aigc_size_add(e, b * cfg->enc_dims[i], sizeof(float));
		widest = Max(widest, cfg->enc_dims[i]);
	}
	for (int i = 0; i < cfg->n_dec; i++)
	{
		aigc_size_add(e, b * cfg->dec_dims[i], sizeof(float));
		widest = Max(widest, cfg->dec_dims[i]);
	}
	return widest;
}

/* Mirrors aigc_vae_init, aigc_vae_buffers_init and train.c's train_vae */
void
aigc_vae_train_size(const AigcVaeConfig *cfg, int batch, AigcSizeEstimate *e)
{
	double		b = batch;
	double		D = cfg->data_dim;
	double		L = cfg->latent_dim;
	double		weights = vae_param_count(cfg);
	int			widest;

	/* the parameter block: weights, gradients and Adam's two moments */
	aigc_size_add_param(e, weights);
	widest = hidden_acts_size(cfg, b, e);
	/*
	 * The stored model: a buffer that grows by doubling (to at most twice
	 * the weights, one allocation no larger than them when it must fit in
	 * MaxAllocSize), then its bytea.
	 */
	aigc_size_add(e, weights, sizeof(float));
	aigc_size_add(e, weights, sizeof(float));
	aigc_size_add(e, weights, sizeof(float));
	/* heads, then mu, logvar, std, eps, z, dmu, dlogvar */
	aigc_size_add(e, b * 2 * L, sizeof(float));
	for (int i = 0; i < 7; i++)
		aigc_size_add(e, b * L, sizeof(float));
	/* out, the training batch, calibration's samples */
	for (int i = 0; i < 3; i++)
		aigc_size_add(e, b * D, sizeof(float));
	/* grad_a, grad_b */
	aigc_size_add(e, b * widest, sizeof(float));
	aigc_size_add(e, b * widest, sizeof(float));
	if (cfg->n_enc > 0)
		aigc_size_add_sparse_rows(e, b, D, cfg->enc_dims[0],
								  AIGC_VAE_SPARSE_DENSITY);
}

/* Encoder from x to buf->mu and buf->logvar */
static void
encode(AigcVae *vae, AigcVaeBuffers *buf, const float *x, int n)
{
	const float *h = x;
	int			L = vae->cfg.latent_dim;

	Assert(n <= buf->batch);
	/* the first layer on one-hot rows: a sum of a few weight rows each */
	buf->x_sparse = vae->cfg.n_enc > 0 && n >= buf->sparse_min_rows &&
		aigc_sparse_rows_fill(&buf->sparse, x, n, buf->sparse_max_density);
	for (int i = 0; i < vae->cfg.n_enc; i++)
	{
		if (i == 0 && buf->x_sparse)
			aigc_linear_sparse_forward(&vae->enc[0], &buf->sparse,
									   buf->enc_act[0], true);
		else
			aigc_linear_relu_forward(&vae->enc[i], h, n, buf->enc_act[i]);
		h = buf->enc_act[i];
	}
	/* both heads in one product, then split into mu and logvar */
	aigc_linear_forward(&vae->heads, h, n, buf->heads);
	for (int r = 0; r < n; r++)
	{
		memcpy(buf->mu + (int64) r * L, buf->heads + (int64) r * 2 * L,
			   sizeof(float) * L);
		memcpy(buf->logvar + (int64) r * L, buf->heads + (int64) r * 2 * L + L,
			   sizeof(float) * L);
	}
}

/* Decoder from buf->z to buf->out (pre-activation) */
/* The decoder's hidden layers over buf->z; returns the last one's output */
static const float *
decode_hidden(AigcVae *vae, AigcVaeBuffers *buf, int n)
{
	const float *h = buf->z;

	for (int i = 0; i < vae->cfg.n_dec; i++)
	{
		aigc_linear_relu_forward(&vae->dec[i], h, n, buf->dec_act[i]);
		h = buf->dec_act[i];
	}
	return h;
}

static void
decode(AigcVae *vae, AigcVaeBuffers *buf, int n)
{
	aigc_linear_forward(&vae->dec[vae->cfg.n_dec], decode_hidden(vae, buf, n), n,
						buf->out);
}

/*
 * Loss of one span of one row: the Gaussian negative log-likelihood (up to
 * a constant) of a scalar, or the cross-entropy of a one-hot group.  With
 * dr, writes scale * d loss / d out and adds scale * d loss / d sigma.
 * A group with no slot set (only in scored rows: a label or NULL the
 * training never saw) counts as its least likely slot.
 */
static double
span_loss(const AigcSpan *span, const float *xr, const float *or,
		  const float *sigma, double scale, float *dr, float *dsigma)
{
	int			off = span->offset;
	int			w = span->width;

	if (span->is_scalar)
	{
		double		t = tanh(or[off]);
		double		e = xr[off] - t;
		double		sg = sigma[off];

		if (dr != NULL)
		{
			dr[off] = (float) (scale * (-e / (sg * sg)) * (1.0 - t * t));
			dsigma[off] += (float) (scale * (1.0 / sg - e * e / (sg * sg * sg)));
		}
		return e * e / (2.0 * sg * sg) + log(sg);
	}
	else
	{
		double		mx = or[off];
		double		sum = 0.0;
		int			target = 0;
		int			least = 0;

		for (int k = 0; k < w; k++)
		{
			mx = Max(mx, or[off + k]);
			if (xr[off + k] > xr[off + target])
				target = k;
			if (or[off + k] < or[off + least])
				least = k;
		}
		if (xr[off + target] <= 0.0f)
			target = least;
		for (int k = 0; k < w; k++)
		{
			float		e = aigc_expf((float) (or[off + k] - mx));

			sum += e;
			/* the gradient's softmax reuses the exponentials */
			if (dr != NULL)
				dr[off + k] = e;
		}
		if (dr != NULL)
			for (int k = 0; k < w; k++)
				dr[off + k] = (float) (scale * (dr[off + k] / sum -
												(k == target ? 1.0 : 0.0)));
		return mx + log(sum) - or[off + target];
	}
}

/*
 * Reconstruction loss of n rows times factor / n, as TVAE's loss_function.
 * Writes d loss / d out and adds d loss / d sigma.
 */
double
aigc_vae_recon_loss(const AigcSpan *spans, int nspans, int dim,
					const float *x, const float *out, const float *sigma,
					int n, double factor, float *dout, float *dsigma)
{
	double		loss = 0.0;
	double		scale = factor / n;

	for (int r = 0; r < n; r++)
	{
		const float *xr = x + (int64) r * dim;
		const float *or = out + (int64) r * dim;
		float	   *dr = dout ? dout + (int64) r * dim : NULL;

		for (int s = 0; s < nspans; s++)
			loss += span_loss(&spans[s], xr, or, sigma, scale, dr, dsigma);
	}
	return loss * scale;
}

/* Lanes of KL's partial sums: float sums in lanes vectorise, one sum would not */
#define KL_LANES 16

/* Sum of 1 + logvar - mu^2 - exp(logvar) over count entries */
static AIGC_VECTOR_CLONES double
kl_sum(const float *mu, const float *logvar, int64 count)
{
	float		lane[KL_LANES] = {0};
	double		sum = 0.0;
	int64		i;

	for (i = 0; i + KL_LANES <= count; i += KL_LANES)
		for (int l = 0; l < KL_LANES; l++)
		{
			float		m = mu[i + l],
						lv = logvar[i + l];

			lane[l] += 1.0f + lv - m * m - aigc_expf(lv);
		}
	for (; i < count; i++)
		sum += 1.0 + logvar[i] - (double) mu[i] * mu[i] - aigc_expf(logvar[i]);
	for (int l = 0; l < KL_LANES; l++)
		sum += lane[l];
	return sum;
}

static AIGC_VECTOR_CLONES void
kl_grad(const float *mu, const float *logvar, int64 count, float inv_n,
		float *dmu, float *dlogvar)
{
	for (int64 i = 0; i < count; i++)
	{
		dmu[i] = mu[i] * inv_n;
		dlogvar[i] = -0.5f * (1.0f - aigc_expf(logvar[i])) * inv_n;
	}
}

/* KL(q(z|x) || N(0, I)) / n and its gradients */
double
aigc_vae_kl_loss(const float *mu, const float *logvar, int n, int latent,
				 float *dmu, float *dlogvar)
{
	int64		count = (int64) n * latent;

	if (dmu != NULL)
		kl_grad(mu, logvar, count, 1.0f / n, dmu, dlogvar);
	return -0.5 * kl_sum(mu, logvar, count) / n;
}

/* z = mu + eps * std, std = exp(logvar / 2); distinct buffers */
static AIGC_VECTOR_CLONES void
reparam_forward(const float *restrict mu, const float *restrict logvar,
				const float *restrict eps, float *restrict std,
				float *restrict z, int64 nl)
{
	for (int64 i = 0; i < nl; i++)
	{
		std[i] = aigc_expf(0.5f * logvar[i]);
		z[i] = mu[i] + eps[i] * std[i];
	}
}

/* a += b */
static AIGC_VECTOR_CLONES void
add_inplace(float *a, const float *b, int64 count)
{
	for (int64 i = 0; i < count; i++)
		a[i] += b[i];
}

/* Encoder, a draw of z from the posterior, decoder */
static void
forward_sampled(AigcVae *vae, AigcVaeBuffers *buf, const float *x, int n,
				AigcRng *rng)
{
	int64		nl = (int64) n * vae->cfg.latent_dim;

	encode(vae, buf, x, n);
	aigc_rng_normals(rng, buf->eps, nl);
	reparam_forward(buf->mu, buf->logvar, buf->eps, buf->std, buf->z, nl);
	decode(vae, buf, n);
}

static AIGC_VECTOR_CLONES void
reparam_grad(const float *restrict dz, const float *restrict eps,
			 const float *restrict std, float *restrict dmu,
			 float *restrict dlogvar, int64 nl)
{
	for (int64 i = 0; i < nl; i++)
	{
		dmu[i] += dz[i];
		dlogvar[i] += dz[i] * eps[i] * 0.5f * std[i];
	}
}

/* The reparameterisation z = mu + eps * exp(logvar / 2), backwards from dz */
static void
reparam_backward(AigcVaeBuffers *buf, const float *dz, int64 nl)
{
	reparam_grad(dz, buf->eps, buf->std, buf->dmu, buf->dlogvar, nl);
}

void
aigc_vae_forward_backward(AigcVae *vae, AigcVaeBuffers *buf, const float *x,
						  int n, AigcRng *rng, bool backward,
						  double *recon, double *kl)
{
	const AigcVaeConfig *cfg = &vae->cfg;
	int			L = cfg->latent_dim;
	int64		nl = (int64) n * L;
	const float *h;
	float	   *ga = buf->grad_a;
	float	   *gb = buf->grad_b;
	float	   *tmp;

	forward_sampled(vae, buf, x, n, rng);
	if (!backward)
	{
		/* evaluation only: leave every gradient as it was */
		*recon = aigc_vae_recon_loss(vae->spans, vae->nspans, cfg->data_dim, x,
									 buf->out, vae->sigma.w, n, cfg->loss_factor,
									 NULL, NULL);
		*kl = aigc_vae_kl_loss(buf->mu, buf->logvar, n, L, NULL, NULL);
		return;
	}
	aigc_params_zero_grad(&vae->block, 1);
	*recon = aigc_vae_recon_loss(vae->spans, vae->nspans, cfg->data_dim, x,
								 buf->out, vae->sigma.w, n, cfg->loss_factor,
								 ga, vae->sigma.g);
	*kl = aigc_vae_kl_loss(buf->mu, buf->logvar, n, L, buf->dmu, buf->dlogvar);

	/* decoder, from d out (in ga) down to d z */
	for (int i = cfg->n_dec; i >= 0; i--)
	{
		const float *in = (i == 0) ? buf->z : buf->dec_act[i - 1];

		aigc_linear_backward(&vae->dec[i], in, ga, n, gb);
		if (i > 0)
			aigc_relu_backward(buf->dec_act[i - 1], gb,
							   (int64) n * cfg->dec_dims[i - 1]);
		tmp = ga;
		ga = gb;
		gb = tmp;
	}

	reparam_backward(buf, ga, nl);

	/* d heads (n x 2L): the rows of d mu and d logvar side by side */
	for (int r = 0; r < n; r++)
	{
		memcpy(buf->heads + (int64) r * 2 * L, buf->dmu + (int64) r * L,
			   sizeof(float) * L);
		memcpy(buf->heads + (int64) r * 2 * L + L, buf->dlogvar + (int64) r * L,
			   sizeof(float) * L);
	}
	h = (cfg->n_enc > 0) ? buf->enc_act[cfg->n_enc - 1] : x;
	aigc_linear_backward(&vae->heads, h, buf->heads, n, cfg->n_enc > 0 ? ga : NULL);
	if (cfg->n_enc == 0)
		return;
	for (int i = cfg->n_enc - 1; i >= 0; i--)
	{
		const float *in = (i == 0) ? x : buf->enc_act[i - 1];

		aigc_relu_backward(buf->enc_act[i], ga, (int64) n * cfg->enc_dims[i]);
		if (i == 0 && buf->x_sparse)
			aigc_linear_sparse_backward(&vae->enc[0], &buf->sparse, ga);
		else
			aigc_linear_backward(&vae->enc[i], in, ga, n, i == 0 ? NULL : gb);
		tmp = ga;
		ga = gb;
		gb = tmp;
	}
}

void
aigc_vae_clamp_sigma(AigcVae *vae)
{
	for (int j = 0; j < vae->cfg.data_dim; j++)
		vae->sigma.w[j] = Min(Max(vae->sigma.w[j], 0.01f), 1.0f);
}

void
aigc_vae_clamp_sigma_part(AigcVae *vae, int64 first, int64 count)
{
	int64		at = vae->sigma.w - vae->block.w;
	int64		lo = Max(first, at) - at;
	int64		hi = Min(first + count, at + vae->cfg.data_dim) - at;

	for (int64 j = lo; j < hi; j++)
		vae->sigma.w[j] = Min(Max(vae->sigma.w[j], 0.01f), 1.0f);
}

/*
 * Scalars become tanh(out); one-hot spans become softmax probabilities,
 * from which the column encoder draws (TVAE takes the argmax, which starves
 * rare categories) or, without a generator, takes the argmax.
 */
void
aigc_vae_activate(const AigcVae *vae, const float *out, int n, float *act,
				  float *scratch)
{
	aigc_spans_activate(vae->spans, vae->nspans, vae->cfg.data_dim, n, out, out,
						act, scratch);
}

/* Mean sampled probability of every softmax slot over `samples` prior draws */
static void
sampled_shares(AigcVae *vae, AigcVaeBuffers *buf, AigcRng *rng, int samples,
			   float *act, double *share)
{
	int			D = vae->cfg.data_dim;

	memset(share, 0, sizeof(double) * D);
	for (int done = 0; done < samples;)
	{
		int			n = Min(buf->batch, samples - done);

		CHECK_FOR_INTERRUPTS();
		aigc_vae_generate(vae, buf, n, rng, act);
		for (int s = 0; s < vae->nspans; s++)
			if (!vae->spans[s].is_scalar)
				for (int k = 0; k < vae->spans[s].width; k++)
				{
					int			j = vae->spans[s].offset + k;

					for (int r = 0; r < n; r++)
						share[j] += act[(int64) j * n + r];
				}
		done += n;
	}
	for (int j = 0; j < D; j++)
		share[j] /= samples;
}

static double
largest_gap(const AigcVae *vae, const double *a, const double *b)
{
	double		gap = 0.0;

	for (int s = 0; s < vae->nspans; s++)
		if (!vae->spans[s].is_scalar)
			for (int k = 0; k < vae->spans[s].width; k++)
			{
				int			j = vae->spans[s].offset + k;

				gap = Max(gap, fabs(a[j] - b[j]));
			}
	return gap;
}

/*
 * Samples from the prior over-produce whatever the decoder maps the prior's
 * "holes" to (regions the aggregated posterior leaves empty), so category,
 * mode and NULL shares drift from the data's.  Shifting each softmax slot's
 * output bias by log(data share / sampled share) is the prior-shift
 * correction: it moves every row's odds alike, so marginals match again
 * while what the decoder learnt about dependencies stays.
 */
void
aigc_vae_calibrate_marginals(AigcVae *vae, AigcVaeBuffers *buf,
							 const float *x, int64 nrows, AigcRng *rng,
							 int iterations, int samples,
							 double *gap_before, double *gap_after)
{
	int			D = vae->cfg.data_dim;
	float	   *bias = vae->dec[vae->cfg.n_dec].bias.w;
	double	   *target = palloc0(sizeof(double) * D);
	double	   *share = palloc(sizeof(double) * D);
	float	   *act = palloc(sizeof(float) * (Size) buf->batch * D);

	for (int64 r = 0; r < nrows; r++)
	{
		const float *row = x + r * D;

		for (int j = 0; j < D; j++)
			target[j] += row[j];
	}
	for (int j = 0; j < D; j++)
		target[j] /= nrows;

	for (int it = 0; it <= iterations; it++)
	{
		sampled_shares(vae, buf, rng, samples, act, share);
		if (it == 0)
			*gap_before = largest_gap(vae, target, share);
		if (it == iterations)
			break;
		for (int s = 0; s < vae->nspans; s++)
			if (!vae->spans[s].is_scalar)
				for (int k = 0; k < vae->spans[s].width; k++)
				{
					int			j = vae->spans[s].offset + k;
					double		step = log(Max(target[j], 1e-6) / Max(share[j], 1e-6));

					/* a slot the data never uses is not pushed without bound */
					bias[j] += (float) Min(Max(step, -2.0), 2.0);
				}
	}
	*gap_after = largest_gap(vae, target, share);
	pfree(target);
	pfree(share);
	pfree(act);
}

void
aigc_vae_generate(AigcVae *vae, AigcVaeBuffers *buf, int n, AigcRng *rng,
				  float *act)
{
	int64		nl = (int64) n * vae->cfg.latent_dim;
	const float *noise = buf->grad_a;
	int			nscalars = 0;

	Assert(n <= buf->batch);
	aigc_rng_normals(rng, buf->z, nl);
	/* slot-major from the last product on: decoding works down the columns */
	aigc_linear_forward_t(&vae->dec[vae->cfg.n_dec], decode_hidden(vae, buf, n), n,
						  act);
	aigc_spans_activate_t(vae->spans, vae->nspans, n, act);
	/* the scalars' output noise, one vectorised draw (grad_a is idle) */
	for (int s = 0; s < vae->nspans; s++)
		nscalars += vae->spans[s].is_scalar;
	aigc_rng_normals(rng, buf->grad_a, (int64) n * nscalars);
	for (int s = 0; s < vae->nspans; s++)
		if (vae->spans[s].is_scalar)
		{
			float		sigma = vae->sigma.w[vae->spans[s].offset];
			float	   *a = act + (int64) vae->spans[s].offset * n;

			for (int r = 0; r < n; r++)
				a[r] += sigma * *noise++;
		}
}

/*
 * Deterministic per-row loss terms: z is the posterior mean, each span's
 * loss (unweighted by loss_factor, without the scalars' log sigma) goes to
 * its column, and the row's KL follows the columns.  terms is n x (ncols + 1); buf->out keeps the
 * reconstruction logits.
 */
void
aigc_vae_row_terms(AigcVae *vae, AigcVaeBuffers *buf, const float *x, int n,
				   int ncols, double *terms)
{
	int			D = vae->cfg.data_dim;
	int			L = vae->cfg.latent_dim;

	encode(vae, buf, x, n);
	memcpy(buf->z, buf->mu, sizeof(float) * (Size) n * L);
	decode(vae, buf, n);
	for (int r = 0; r < n; r++)
	{
		double	   *t = terms + (int64) r * (ncols + 1);

		memset(t, 0, sizeof(double) * ncols);
		for (int s = 0; s < vae->nspans; s++)
		{
			const AigcSpan *span = &vae->spans[s];
			double		loss = span_loss(span, x + (int64) r * D,
										 buf->out + (int64) r * D,
										 vae->sigma.w, 1.0, NULL, NULL);

			/* log sigma is the same for every row: leaving it out keeps terms >= 0 */
			if (span->is_scalar)
				loss -= log(vae->sigma.w[span->offset]);
			t[span->column] += loss;
		}
		t[ncols] = aigc_vae_kl_loss(buf->mu + (int64) r * L,
									buf->logvar + (int64) r * L, 1, L, NULL, NULL);
	}
}

void
aigc_vae_dp_buffers_init(AigcVaeDpBuffers *dp, AigcVae *vae, AigcVaeBuffers *buf)
{
	AigcLinear *layers[AIGC_VAE_MAX_LINEARS];
	bool		need_dx[AIGC_VAE_MAX_LINEARS];
	int			ne = vae->cfg.n_enc;
	int			nl = aigc_vae_linears(vae, layers, need_dx);
	int			B = buf->batch;

	for (int k = 0; k < nl; k++)
		dp->delta[k] = (k == ne) ? buf->dmu : (k == ne + 1) ? buf->dlogvar :
			palloc(sizeof(float) * (Size) B * layers[k]->out);
	dp->dsigma = palloc(sizeof(float) * (Size) B * vae->cfg.data_dim);
	dp->sq_norms = palloc(sizeof(double) * B);
	dp->factors = palloc(sizeof(float) * B);
}

/* Mirrors aigc_vae_dp_buffers_init */
void
aigc_vae_dp_size(const AigcVaeConfig *cfg, int batch, AigcSizeEstimate *e)
{
	double		b = batch;
	int			widest = hidden_acts_size(cfg, b, e);

	aigc_size_add(e, b * cfg->data_dim, sizeof(float));	/* output layer */
	aigc_size_add(e, b * cfg->data_dim, sizeof(float));	/* dsigma */
	aigc_size_add(e, b, sizeof(double));
	aigc_size_add(e, b, sizeof(float));
	/* dp_linear_clipped_grad's scaled copy of the widest output gradient */
	aigc_size_add(e, b * widest, sizeof(float));
}

/*
 * Per-row output gradients: the loss of row i is factor x recon_i + KL_i,
 * so each row's pieces come from the loss functions called on that row
 * alone (n = 1 divides by nothing).  The backward pass then only carries
 * input gradients down (they are per row already); no parameter gradient
 * is formed.  Sigma's gradient of row i is d loss_i / d sigma_j =
 * factor (1 / sigma_j - e_ij^2 / sigma_j^3) for each scalar output j
 * (e_ij = x_ij - tanh(out_ij)), zero elsewhere: span_loss writes it into
 * row i's slice of dp->dsigma.
 */
void
aigc_vae_dp_norms(AigcVae *vae, AigcVaeBuffers *buf, AigcVaeDpBuffers *dp,
				  const float *x, int n, AigcRng *rng, double *recon,
				  double *kl)
{
	const AigcVaeConfig *cfg = &vae->cfg;
	int			D = cfg->data_dim;
	int			L = cfg->latent_dim;
	int			ne = cfg->n_enc;
	int			nd = cfg->n_dec;
	AigcLinear *layers[AIGC_VAE_MAX_LINEARS];
	bool		need_dx[AIGC_VAE_MAX_LINEARS];
	int			nl = aigc_vae_linears(vae, layers, need_dx);
	float	  **delta = dp->delta;
	const float *last_enc = ne > 0 ? buf->enc_act[ne - 1] : x;

	Assert(n <= buf->batch);
	forward_sampled(vae, buf, x, n, rng);

	/* the layers' inputs, in aigc_vae_linears' order */
	for (int i = 0; i < ne; i++)
		dp->input[i] = i == 0 ? x : buf->enc_act[i - 1];
	dp->input[ne] = dp->input[ne + 1] = last_enc;
	for (int i = 0; i <= nd; i++)
		dp->input[ne + 2 + i] = i == 0 ? buf->z : buf->dec_act[i - 1];

	memset(dp->dsigma, 0, sizeof(float) * (Size) n * D);
	*recon = *kl = 0.0;
	for (int r = 0; r < n; r++)
	{
		*recon += aigc_vae_recon_loss(vae->spans, vae->nspans, D,
									  x + (Size) r * D, buf->out + (Size) r * D,
									  vae->sigma.w, 1, cfg->loss_factor,
									  delta[ne + 2 + nd] + (Size) r * D,
									  dp->dsigma + (Size) r * D);
		*kl += aigc_vae_kl_loss(buf->mu + (Size) r * L, buf->logvar + (Size) r * L,
								1, L, buf->dmu + (Size) r * L,
								buf->dlogvar + (Size) r * L);
	}
	*recon /= Max(n, 1);
	*kl /= Max(n, 1);

	for (int i = nd; i > 0; i--)
	{
		aigc_linear_input_grad(&vae->dec[i], delta[ne + 2 + i], n, delta[ne + 1 + i]);
		aigc_relu_backward(buf->dec_act[i - 1], delta[ne + 1 + i],
						   (int64) n * cfg->dec_dims[i - 1]);
	}
	aigc_linear_input_grad(&vae->dec[0], delta[ne + 2], n, buf->grad_a);
	reparam_backward(buf, buf->grad_a, (int64) n * L);
	if (ne > 0)
	{
		int64		count = (int64) n * cfg->enc_dims[ne - 1];

		aigc_linear_input_grad(&vae->mu, buf->dmu, n, delta[ne - 1]);
		aigc_linear_input_grad(&vae->logvar, buf->dlogvar, n, buf->grad_b);
		add_inplace(delta[ne - 1], buf->grad_b, count);
		aigc_relu_backward(buf->enc_act[ne - 1], delta[ne - 1], count);
		for (int i = ne - 1; i > 0; i--)
		{
			aigc_linear_input_grad(&vae->enc[i], delta[i], n, delta[i - 1]);
			aigc_relu_backward(buf->enc_act[i - 1], delta[i - 1],
							   (int64) n * cfg->enc_dims[i - 1]);
		}
	}

	memset(dp->sq_norms, 0, sizeof(double) * n);
	for (int k = 0; k < nl; k++)
		dp_linear_sq_norms(dp->input[k], delta[k], n, layers[k]->in,
						   layers[k]->out, true, dp->sq_norms);
	for (int r = 0; r < n; r++)
		for (int j = 0; j < D; j++)
		{
			double		g = dp->dsigma[(Size) r * D + j];

			dp->sq_norms[r] += g * g;
		}
}

void
aigc_vae_dp_accumulate(AigcVae *vae, AigcVaeBuffers *buf, AigcVaeDpBuffers *dp,
					   const float *x, int n, AigcRng *rng,
					   double max_grad_norm, double *recon, double *kl)
{
	AigcLinear *layers[AIGC_VAE_MAX_LINEARS];
	bool		need_dx[AIGC_VAE_MAX_LINEARS];
	int			nl = aigc_vae_linears(vae, layers, need_dx);
	int			D = vae->cfg.data_dim;

	aigc_vae_dp_norms(vae, buf, dp, x, n, rng, recon, kl);
	dp_clip_factors(dp->sq_norms, n, max_grad_norm, dp->factors);
	for (int k = 0; k < nl; k++)
		dp_linear_clipped_grad(layers[k], dp->input[k], dp->delta[k],
							   dp->factors, n);
	for (int r = 0; r < n; r++)
		for (int j = 0; j < D; j++)
			vae->sigma.g[j] += dp->factors[r] * dp->dsigma[(Size) r * D + j];
}

/* The model's linear layers, and whether each passes a gradient down */
int
aigc_vae_linears(AigcVae *vae, AigcLinear **layers, bool *need_dx)
{
	int			n = 0;

	for (int i = 0; i < vae->cfg.n_enc; i++)
	{
		need_dx[n] = i > 0;
		layers[n++] = &vae->enc[i];
	}
	need_dx[n] = vae->cfg.n_enc > 0;
	layers[n++] = &vae->mu;
	need_dx[n] = vae->cfg.n_enc > 0;
	layers[n++] = &vae->logvar;
	for (int i = 0; i <= vae->cfg.n_dec; i++)
	{
		need_dx[n] = true;
		layers[n++] = &vae->dec[i];
	}
	return n;
}

double
aigc_vae_step_flops(AigcVae *vae, int n)
{
	AigcLinear *layers[AIGC_VAE_MAX_LINEARS];
	bool		need_dx[AIGC_VAE_MAX_LINEARS];
	int			nl = aigc_vae_linears(vae, layers, need_dx);
	double		flops = 0.0;

	for (int i = 0; i < nl; i++)
		flops += aigc_linear_flops(layers[i], n, need_dx[i]);
	return flops;
}

bool
aigc_vae_sparse_input(const AigcVae *vae)
{
	return vae->cfg.n_enc > 0 &&
		vae->nspans <= AIGC_VAE_SPARSE_DENSITY * vae->cfg.data_dim;
}

double
aigc_vae_sparse_saved_flops(const AigcVae *vae, const AigcVaeBuffers *buf,
							int n, bool backward)
{
	const AigcLinear *first = &vae->enc[0];

	if (!buf->x_sparse)
		return 0.0;
	return 2.0 * n * first->in * first->out * (backward ? 2.0 : 1.0);
}

void
aigc_vae_write(const AigcVae *vae, StringInfo buf)
{
	const AigcVaeConfig *cfg = &vae->cfg;

	aigc_write_u32(buf, cfg->data_dim);
	aigc_write_u32(buf, cfg->latent_dim);
	aigc_write_u32(buf, cfg->n_enc);
	for (int i = 0; i < cfg->n_enc; i++)
		aigc_write_u32(buf, cfg->enc_dims[i]);
	aigc_write_u32(buf, cfg->n_dec);
	for (int i = 0; i < cfg->n_dec; i++)
		aigc_write_u32(buf, cfg->dec_dims[i]);
	aigc_write_f64(buf, cfg->loss_factor);
	for (int p = 0; p < vae->nparams; p++)
		aigc_write_floats(buf, vae->params[p].w, vae->params[p].n);
}

/*
 * Every layer non-empty and the weights present in full: checked before
 * allocating, so a corrupted shape cannot ask for gigabytes.
 */
static bool
vae_config_plausible(const AigcVaeConfig *cfg, Size remaining)
{
	double		floats = cfg->data_dim;
	int			prev = cfg->data_dim;

	if (cfg->data_dim == 0 || cfg->latent_dim == 0)
		return false;
	for (int i = 0; i < cfg->n_enc; i++)
	{
		if (cfg->enc_dims[i] == 0)
			return false;
		floats += ((double) prev + 1) * cfg->enc_dims[i];
		prev = cfg->enc_dims[i];
	}
	floats += 2.0 * ((double) prev + 1) * cfg->latent_dim;
	prev = cfg->latent_dim;
	for (int i = 0; i < cfg->n_dec; i++)
	{
		if (cfg->dec_dims[i] == 0)
			return false;
		floats += ((double) prev + 1) * cfg->dec_dims[i];
		prev = cfg->dec_dims[i];
	}
	floats += ((double) prev + 1) * cfg->data_dim;
	return floats * 4.0 <= (double) remaining;
}

void
aigc_vae_read(AigcVae *vae, AigcReader *r, const AigcSpan *spans, int nspans)
{
	AigcVaeConfig cfg;
	AigcRng		unused;

	memset(&cfg, 0, sizeof(cfg));
	cfg.data_dim = aigc_read_count(r, VAE_DIM_MAX, "output columns");
	cfg.latent_dim = aigc_read_count(r, VAE_DIM_MAX, "latent dimensions");
	cfg.n_enc = aigc_read_count(r, AIGC_MAX_HIDDEN, "encoder layers");
	for (int i = 0; i < cfg.n_enc; i++)
		cfg.enc_dims[i] = aigc_read_count(r, VAE_DIM_MAX, "layer units");
	cfg.n_dec = aigc_read_count(r, AIGC_MAX_HIDDEN, "decoder layers");
	for (int i = 0; i < cfg.n_dec; i++)
		cfg.dec_dims[i] = aigc_read_count(r, VAE_DIM_MAX, "layer units");
	cfg.loss_factor = aigc_read_f64(r);
	if (!vae_config_plausible(&cfg, r->len - r->pos))
		aigc_corrupt("The network's shape does not match the stored weights.");

	/* initialise shapes with a throwaway generator, then load the weights */
	aigc_rng_seed(&unused, 0);
	aigc_vae_init(vae, &cfg, spans, nspans, &unused);
	for (int p = 0; p < vae->nparams; p++)
		aigc_read_floats(r, vae->params[p].w, vae->params[p].n);
}
