/*
 * tf_model.c
 *		The table transformer: parameter block, forward, backward, exact
 *		likelihoods and sampling.
 */
#include "postgres.h"

#include <math.h>
#include <string.h>
#include <cblas.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "core/dp_sgd.h"
#include "core/tf_layers.h"
#include "core/tf_model.h"
#include "core/optimizer.h"

/* Limits well above any table model, so sizes stay inside int arithmetic */
#define TF_MAX_SEQ		4096
#define TF_MAX_VOCAB	(1 << 24)
#define TF_MAX_PARAMS	((int64) 1 << 26)	/* a 1 GB training block */
#define TF_INIT_STD		0.02

const char *const aigc_tf_tensor_names[TF_NTENSORS] = {
	"token embedding", "position embedding",
	"ln1 weight", "ln1 bias", "qkv weight", "qkv bias",
	"attention projection weight", "attention projection bias",
	"ln2 weight", "ln2 bias", "mlp weight", "mlp bias",
	"mlp projection weight", "mlp projection bias",
	"final ln weight", "final ln bias", "head weight", "head bias"
};

static void
tensor_sizes(const AigcTfModel *m, int64 *size)
{
	int64		L = m->L,
				C = m->C;

	size[TF_WTE] = (int64) (m->V + 1) * C;
	size[TF_WPE] = (int64) m->T * C;
	size[TF_LN1W] = size[TF_LN1B] = L * C;
	size[TF_QKVW] = L * 3 * C * C;
	size[TF_QKVB] = L * 3 * C;
	size[TF_ATTPROJW] = L * C * C;
	size[TF_ATTPROJB] = L * C;
	size[TF_LN2W] = size[TF_LN2B] = L * C;
	size[TF_FCW] = L * 4 * C * C;
	size[TF_FCB] = L * 4 * C;
	size[TF_FCPROJW] = L * C * 4 * C;
	size[TF_FCPROJB] = L * C;
	size[TF_LNFW] = size[TF_LNFB] = C;
	size[TF_HEADW] = (int64) m->V * C;
	size[TF_HEADB] = m->V;
}

static void
check_config(const AigcTfConfig *cfg)
{
	if (cfg->n_layer < 1 || cfg->n_layer > TF_MAX_LAYERS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("transformer layers must be between 1 and %d", TF_MAX_LAYERS)));
	if (cfg->n_head < 1 || cfg->d_model < 1 || cfg->d_model > TF_MAX_WIDTH ||
		cfg->d_model % cfg->n_head != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("transformer width %d is not a multiple of its %d heads up to %d",
						cfg->d_model, cfg->n_head, TF_MAX_WIDTH)));
	if (cfg->seq_len < 1 || cfg->seq_len > TF_MAX_SEQ)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a row of %d tokens is outside the transformer's 1 to %d",
						cfg->seq_len, TF_MAX_SEQ)));
	if (cfg->first[0] != 0)
		elog(ERROR, "transformer vocabulary does not start at token 0");
	for (int t = 0; t < cfg->seq_len; t++)
		if (cfg->first[t + 1] <= cfg->first[t] || cfg->first[t + 1] > TF_MAX_VOCAB)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("transformer position %d has no tokens or the vocabulary exceeds %d tokens",
							t, TF_MAX_VOCAB)));
}

static void
fill_normal(float *w, int64 n, double std, AigcRng *rng)
{
	for (int64 i = 0; i < n; i++)
		w[i] = (float) (std * aigc_rng_normal(rng));
}

static void
fill_const(float *w, int64 n, float value)
{
	for (int64 i = 0; i < n; i++)
		w[i] = value;
}

static void
linear_view(AigcLinear *l, const AigcTfModel *m, AigcTfTensor wt, AigcTfTensor bt,
			int layer, int in, int out)
{
	int64		wn = (int64) in * out;

	l->in = in;
	l->out = out;
	l->weight.w = m->tensors[wt].w + layer * wn;
	l->weight.g = m->grads ? m->tensors[wt].g + layer * wn : NULL;
	l->weight.n = wn;
	l->bias.w = m->tensors[bt].w + (int64) layer * out;
	l->bias.g = m->grads ? m->tensors[bt].g + (int64) layer * out : NULL;
	l->bias.n = out;
}

void
aigc_tf_init(AigcTfModel *m, const AigcTfConfig *cfg, bool training,
			 AigcRng *rng)
{
	int64		size[TF_NTENSORS];
	int64		off = 0;
	Size		block;
	int			C = cfg->d_model;
	double		proj_std;

	check_config(cfg);
	memset(m, 0, sizeof(*m));
	m->L = cfg->n_layer;
	m->C = C;
	m->NH = cfg->n_head;
	m->T = cfg->seq_len;
	m->V = cfg->first[cfg->seq_len];
	m->first = palloc(sizeof(int) * (m->T + 1));
	memcpy(m->first, cfg->first, sizeof(int) * (m->T + 1));

	tensor_sizes(m, size);
	for (int i = 0; i < TF_NTENSORS; i++)
		m->nparams += size[i];
	if (m->nparams > TF_MAX_PARAMS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("transformer would have %lld parameters, more than %lld",
						(long long) m->nparams, (long long) TF_MAX_PARAMS),
				 errhint("Use fewer layers, a smaller width or fewer categories.")));

	/*
	 * One allocation: the parameters, and for training their gradients and
	 * Adam's first and second moments, each block in the same order
	 */
	block = (Size) m->nparams * sizeof(float) * (training ? 4 : 1);
	m->params = MemoryContextAllocHuge(CurrentMemoryContext, block);
	memset(m->params, 0, block);
	m->grads = training ? m->params + m->nparams : NULL;
	m->adam_state = training ? m->params + 2 * m->nparams : NULL;
	for (int i = 0; i < TF_NTENSORS; i++)
	{
		m->tensors[i].w = m->params + off;
		m->tensors[i].g = training ? m->grads + off : NULL;
		m->tensors[i].n = size[i];
		off += size[i];
	}
	m->block.w = m->params;
	m->block.g = m->grads;
	m->block.n = m->nparams;

	m->qkv = palloc(sizeof(AigcLinear) * m->L);
	m->attproj = palloc(sizeof(AigcLinear) * m->L);
	m->fc = palloc(sizeof(AigcLinear) * m->L);
	m->fcproj = palloc(sizeof(AigcLinear) * m->L);
	for (int l = 0; l < m->L; l++)
	{
		linear_view(&m->qkv[l], m, TF_QKVW, TF_QKVB, l, C, 3 * C);
		linear_view(&m->attproj[l], m, TF_ATTPROJW, TF_ATTPROJB, l, C, C);
		linear_view(&m->fc[l], m, TF_FCW, TF_FCB, l, C, 4 * C);
		linear_view(&m->fcproj[l], m, TF_FCPROJW, TF_FCPROJB, l, 4 * C, C);
	}

	/*
	 * GPT-2: weights N(0, 0.02), the projections into the residual stream
	 * scaled by 1/sqrt(2L) so the stream's variance does not grow with
	 * depth; biases 0 and LayerNorm gains 1.
	 */
	proj_std = TF_INIT_STD / sqrt(2.0 * m->L);
	fill_normal(m->tensors[TF_WTE].w, size[TF_WTE], TF_INIT_STD, rng);
	fill_normal(m->tensors[TF_WPE].w, size[TF_WPE], TF_INIT_STD, rng);
	fill_normal(m->tensors[TF_QKVW].w, size[TF_QKVW], TF_INIT_STD, rng);
	fill_normal(m->tensors[TF_ATTPROJW].w, size[TF_ATTPROJW], proj_std, rng);
	fill_normal(m->tensors[TF_FCW].w, size[TF_FCW], TF_INIT_STD, rng);
	fill_normal(m->tensors[TF_FCPROJW].w, size[TF_FCPROJW], proj_std, rng);
	fill_normal(m->tensors[TF_HEADW].w, size[TF_HEADW], TF_INIT_STD, rng);
	fill_const(m->tensors[TF_LN1W].w, size[TF_LN1W], 1.0f);
	fill_const(m->tensors[TF_LN2W].w, size[TF_LN2W], 1.0f);
	fill_const(m->tensors[TF_LNFW].w, size[TF_LNFW], 1.0f);
}

/* Floats of every activation buffer of aigc_tf_acts_init, in its order */
static int64
acts_floats(const AigcTfModel *m, int batch)
{
	int64		BT = (int64) batch * m->T;
	int64		C = m->C;
	int64		L = m->L;
	int64		BV = (int64) batch * m->V;

	return BT * C						/* encoded */
		+ L * BT * (C + 3 * C + C + C + C + 4 * C + 4 * C + C)	/* ln1 .. res3 */
		+ L * BT * 4					/* ln1 and ln2 statistics */
		+ L * aigc_tf_attention_floats(batch, m->T, m->NH)	/* att */
		+ BT * C + BT * 2				/* lnf */
		+ BV * 2						/* logits, probs */
		+ BT * (C + C + 3 * C + C + 4 * C)	/* dres .. dfch */
		+ BV							/* dlogits */
		+ aigc_tf_attention_scratch_floats(m->T, m->C, m->NH);	/* datt */
}

/* A model with cfg's sizes and no allocations, for counting */
static void
shell_model(const AigcTfConfig *cfg, AigcTfModel *shell)
{
	memset(shell, 0, sizeof(*shell));
	shell->L = cfg->n_layer;
	shell->C = cfg->d_model;
	shell->NH = cfg->n_head;
	shell->T = cfg->seq_len;
	shell->V = cfg->first[cfg->seq_len];
}

int64
aigc_tf_param_count(const AigcTfConfig *cfg)
{
	AigcTfModel shell;
	int64		size[TF_NTENSORS];
	int64		nparams = 0;

	shell_model(cfg, &shell);
	tensor_sizes(&shell, size);
	for (int i = 0; i < TF_NTENSORS; i++)
		nparams += size[i];
	return nparams;
}

void
aigc_tf_train_size(const AigcTfConfig *cfg, int batch, AigcSizeEstimate *e)
{
	AigcTfModel shell;

	shell_model(cfg, &shell);
	/* parameters, gradients and Adam's two moments in one block */
	aigc_size_add(e, 4.0 * aigc_tf_param_count(cfg), sizeof(float));
	aigc_size_add(e, (double) acts_floats(&shell, batch), sizeof(float));
	aigc_size_add(e, (double) batch * shell.V, 1);	/* allowed */
	aigc_size_add(e, (double) batch * shell.T, sizeof(int32) + sizeof(double));
}

void
aigc_tf_replicas_size(const AigcTfConfig *cfg, int batch, int threads,
					  AigcSizeEstimate *e)
{
	AigcTfModel shell;
	int			slice = (batch + threads - 1) / threads;

	shell_model(cfg, &shell);
	for (int t = 1; t < threads; t++)
	{
		aigc_size_add(e, (double) aigc_tf_param_count(cfg), sizeof(float));
		aigc_size_add(e, (double) acts_floats(&shell, slice), sizeof(float));
		aigc_size_add(e, (double) slice * shell.V, 1);
		aigc_size_add(e, (double) slice * shell.T, sizeof(int32) + sizeof(double));
	}
}

void
aigc_tf_replica(const AigcTfModel *src, AigcTfModel *dst)
{
	float	   *g = MemoryContextAllocHuge(CurrentMemoryContext,
										   sizeof(float) * src->nparams);

	Assert(src->grads != NULL);
	memset(g, 0, sizeof(float) * src->nparams);
	*dst = *src;
	dst->grads = g;
	dst->adam_state = NULL;
	dst->block.g = g;
	for (int i = 0; i < TF_NTENSORS; i++)
		dst->tensors[i].g = g + (src->tensors[i].g - src->grads);
	dst->qkv = palloc(sizeof(AigcLinear) * dst->L);
	dst->attproj = palloc(sizeof(AigcLinear) * dst->L);
	dst->fc = palloc(sizeof(AigcLinear) * dst->L);
	dst->fcproj = palloc(sizeof(AigcLinear) * dst->L);
	for (int l = 0; l < dst->L; l++)
	{
		linear_view(&dst->qkv[l], dst, TF_QKVW, TF_QKVB, l, dst->C, 3 * dst->C);
		linear_view(&dst->attproj[l], dst, TF_ATTPROJW, TF_ATTPROJB, l, dst->C, dst->C);
		linear_view(&dst->fc[l], dst, TF_FCW, TF_FCB, l, dst->C, 4 * dst->C);
		linear_view(&dst->fcproj[l], dst, TF_FCPROJW, TF_FCPROJB, l, 4 * dst->C, dst->C);
	}
}

void
aigc_tf_acts_init(AigcTfActs *a, const AigcTfModel *m, int batch)
{
	int64		BT = (int64) batch * m->T;
	int64		C = m->C;
	int64		L = m->L;
	int64		BV = (int64) batch * m->V;
	int64		total = acts_floats(m, batch);
	float	   *p;

	/* positions of a batch are counted in int, as sgemm counts rows */
	if (batch < 1 || BT > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a transformer batch of %d rows of %d tokens is out of range",
						batch, m->T)));
	memset(a, 0, sizeof(*a));
	a->batch = batch;
	a->inp = palloc(sizeof(int32) * BT);
	a->nll = palloc(sizeof(double) * BT);
	a->allowed = MemoryContextAllocHuge(CurrentMemoryContext, BV);
	p = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(float) * total);
#define TAKE(field, count) do { a->field = p; p += (count); } while (0)
	TAKE(encoded, BT * C);
	TAKE(ln1, L * BT * C);
	TAKE(ln1_mean, L * BT);
	TAKE(ln1_rstd, L * BT);
	TAKE(qkv, L * BT * 3 * C);
	TAKE(atty, L * BT * C);
	TAKE(att, L * aigc_tf_attention_floats(batch, m->T, m->NH));
	TAKE(res2, L * BT * C);
	TAKE(ln2, L * BT * C);
	TAKE(ln2_mean, L * BT);
	TAKE(ln2_rstd, L * BT);
	TAKE(fch, L * BT * 4 * C);
	TAKE(fch_gelu, L * BT * 4 * C);
	TAKE(res3, L * BT * C);
	TAKE(lnf, BT * C);
	TAKE(lnf_mean, BT);
	TAKE(lnf_rstd, BT);
	TAKE(logits, BV);
	TAKE(probs, BV);
	TAKE(dres, BT * C);
	TAKE(dln, BT * C);
	TAKE(dqkv, BT * 3 * C);
	TAKE(datty, BT * C);
	TAKE(dfch, BT * 4 * C);
	TAKE(dlogits, BV);
	TAKE(datt, aigc_tf_attention_scratch_floats(m->T, m->C, m->NH));
#undef TAKE
}

/*
 * Layer l's slice of a per-layer activation buffer, laid out for batches of
 * a->batch rows of T positions whatever the current n
 */
#define LAYER(a, m, buf, l, width) \
	((a)->buf + (int64) (l) * (a)->batch * (m)->T * (width))

/* Layer l's attention weights */
#define LAYER_ATT(a, m, l) \
	((a)->att + (int64) (l) * aigc_tf_attention_floats((a)->batch, (m)->T, (m)->NH))

/*
 * y (R, out) = x W^T + b, plus residual (R, out) unless NULL: y starts as
 * the bias (and the residual) and sgemm adds the product (beta 1), one pass
 * over y fewer than aigc_linear_forward's bias pass after sgemm's zeroing
 * (beta 0), and the residual's own pass less
 */
static void
tf_linear_forward(const AigcLinear *l, const float *x, int R, float *y,
				  const float *residual)
{
	int			out = l->out;

	aigc_tf_bias_rows(y, l->bias.w, residual, R, out);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, R, out, l->in,
				1.0f, x, l->in, l->weight.w, l->in, 1.0f, y, out);
}

/*
 * Transformer body over n rows: from the tokens (plus the start token,
 * minus the last token) to a->lnf (n, T, C)
 */
static void
forward_body(AigcTfModel *m, AigcTfActs *a, const int32 *tokens, int n)
{
	int			C = m->C;
	int			T = m->T;
	int			R = n * T;
	const float *residual = a->encoded;

	Assert(n <= a->batch);
	a->full_forward = true;
	for (int r = 0; r < n; r++)
	{
		a->inp[r * T] = m->V;
		for (int t = 1; t < T; t++)
			a->inp[r * T + t] = tokens[(int64) r * T + t - 1];
	}
	aigc_tf_embed_forward(a->encoded, a->inp, m->tensors[TF_WTE].w,
						  m->tensors[TF_WPE].w, n, T, C);
	for (int l = 0; l < m->L; l++)
	{
		float	   *ln1 = LAYER(a, m, ln1, l, C);
		float	   *qkv = LAYER(a, m, qkv, l, 3 * C);
		float	   *atty = LAYER(a, m, atty, l, C);
		float	   *att = LAYER_ATT(a, m, l);
		float	   *res2 = LAYER(a, m, res2, l, C);
		float	   *ln2 = LAYER(a, m, ln2, l, C);
		float	   *fch = LAYER(a, m, fch, l, 4 * C);
		float	   *fch_gelu = LAYER(a, m, fch_gelu, l, 4 * C);
		float	   *res3 = LAYER(a, m, res3, l, C);

		aigc_tf_layernorm_forward(ln1, LAYER(a, m, ln1_mean, l, 1),
								  LAYER(a, m, ln1_rstd, l, 1), residual,
								  m->tensors[TF_LN1W].w + l * C,
								  m->tensors[TF_LN1B].w + l * C, R, C);
		tf_linear_forward(&m->qkv[l], ln1, R, qkv, NULL);
		aigc_tf_attention_forward(atty, att, qkv, a->datt, n, T, C, m->NH);
		tf_linear_forward(&m->attproj[l], atty, R, res2, residual);
		aigc_tf_layernorm_forward(ln2, LAYER(a, m, ln2_mean, l, 1),
								  LAYER(a, m, ln2_rstd, l, 1), res2,
								  m->tensors[TF_LN2W].w + l * C,
								  m->tensors[TF_LN2B].w + l * C, R, C);
		tf_linear_forward(&m->fc[l], ln2, R, fch, NULL);
		aigc_tf_gelu_forward(fch_gelu, fch, fch, (int64) R * 4 * C);
		tf_linear_forward(&m->fcproj[l], fch_gelu, R, res3, res2);
		residual = res3;
	}
	aigc_tf_layernorm_forward(a->lnf, a->lnf_mean, a->lnf_rstd, residual,
							  m->tensors[TF_LNFW].w, m->tensors[TF_LNFB].w, R, C);
}

/*
 * Position t of n rows whose positions < t went through forward_step
 * before: each layer's query, key and value of position t join the cache
 * (LAYER qkv, laid out as a full forward lays it out) and position t's
 * final hidden state goes to a->lnf[r, t].  The single position's
 * activations use the gradient scratch, which sampling has no use for.
 */
static void
forward_step(const AigcTfModel *m, AigcTfActs *a, const int32 *tokens, int n, int t)
{
	int			C = m->C;
	int			T = m->T;
	float	   *x = a->dres;	/* (n, C) residual stream at position t */
	float	   *y = a->dln;		/* (n, C) */

	Assert(n <= a->batch);
	a->full_forward = false;
	for (int r = 0; r < n; r++)
		a->inp[r] = t == 0 ? m->V : tokens[(int64) r * T + t - 1];
	aigc_tf_embed_forward(x, a->inp, m->tensors[TF_WTE].w,
						  m->tensors[TF_WPE].w + (int64) t * C, n, 1, C);
	for (int l = 0; l < m->L; l++)
	{
		float	   *cache = LAYER(a, m, qkv, l, 3 * C);
		float	   *swap;

		aigc_tf_layernorm_forward(y, a->lnf_mean, a->lnf_rstd, x,
								  m->tensors[TF_LN1W].w + l * C,
								  m->tensors[TF_LN1B].w + l * C, n, C);
		aigc_linear_forward(&m->qkv[l], y, n, a->dqkv);
		for (int r = 0; r < n; r++)
			memcpy(cache + ((int64) r * T + t) * 3 * C, a->dqkv + (int64) r * 3 * C,
				   sizeof(float) * 3 * C);
		aigc_tf_attention_step(a->datty, cache, a->datt, t, n, T, C, m->NH);
		aigc_linear_forward(&m->attproj[l], a->datty, n, y);
		aigc_tf_residual_forward(y, x, (int64) n * C);
		swap = x;
		x = y;
		y = swap;
		aigc_tf_layernorm_forward(y, a->lnf_mean, a->lnf_rstd, x,
								  m->tensors[TF_LN2W].w + l * C,
								  m->tensors[TF_LN2B].w + l * C, n, C);
		aigc_linear_forward(&m->fc[l], y, n, a->dfch);
		aigc_tf_gelu_forward(a->dfch, NULL, a->dfch, (int64) n * 4 * C);
		aigc_linear_forward(&m->fcproj[l], a->dfch, n, y);
		aigc_tf_residual_forward(y, x, (int64) n * C);
		swap = x;
		x = y;
		y = swap;
	}
	aigc_tf_layernorm_forward(y, a->lnf_mean, a->lnf_rstd, x,
							  m->tensors[TF_LNFW].w, m->tensors[TF_LNFB].w, n, C);
	for (int r = 0; r < n; r++)
		memcpy(a->lnf + ((int64) r * T + t) * C, y + (int64) r * C,
			   sizeof(float) * C);
}

double
aigc_tf_forward(AigcTfModel *m, AigcTfActs *a, const int32 *tokens,
				const uint8 *allowed, int n)
{
	double		total = 0.0;

	forward_body(m, a, tokens, n);
	aigc_tf_head_forward(a->logits, a->lnf, m->tensors[TF_HEADW].w,
						 m->tensors[TF_HEADB].w, m->first, n, m->T, m->C, m->V,
						 0, m->T);
	aigc_tf_softmax_xent_forward(a->probs, a->nll, a->logits, allowed, tokens,
								 m->first, n, m->T, m->V, 0, m->T);
	for (int64 i = 0; i < (int64) n * m->T; i++)
		total += a->nll[i];
	return total / n;
}

/*
 * DP's kept output gradients (AigcTfDpBuffers.deltas), per layer in this
 * order and width (times B T), then the final LayerNorm's (C)
 */
typedef enum TfDelta
{
	TFD_FCPROJ,					/* C: the MLP projection's output */
	TFD_FC,						/* 4C: the MLP's first layer's output */
	TFD_LN2,					/* C */
	TFD_ATTPROJ,				/* C: the attention projection's output */
	TFD_QKV,					/* 3C */
	TFD_LN1,					/* C */
	TFD_COUNT
} TfDelta;

static const int tf_delta_width[TFD_COUNT] = {1, 4, 1, 1, 3, 1};

#define TFD_LAYER_WIDTH 11		/* sum of tf_delta_width, in units of C */

/* Layer l's kept output gradient d (l = L: the final LayerNorm's) */
static float *
kept_delta(const AigcTfModel *m, AigcTfDpBuffers *dp, int l, TfDelta d)
{
	int64		BTC = (int64) dp->batch * m->T * m->C;
	int64		off = (int64) l * TFD_LAYER_WIDTH * BTC;

	for (int k = 0; k < d && l < m->L; k++)
		off += tf_delta_width[k] * BTC;
	return dp->deltas + off;
}

/*
 * In the norm pass (dp not NULL), the output gradient dy (n rows of T
 * positions, width wide) of layer l's part d is kept for the clipped sum
 */
static void
keep_delta(const AigcTfModel *m, AigcTfDpBuffers *dp, int l, TfDelta d,
		   const float *dy, int n, int width)
{
	if (dp != NULL)
		memcpy(kept_delta(m, dp, l, d), dy, sizeof(float) * n * m->T * width);
}

/*
 * A projection's backward over R rows: its parameters' gradients (unless
 * input_only) and its input gradient into dx (unless NULL), in chunks of
 * rows small enough for OpenBLAS's small-matrix kernels, which work on the
 * operands in place: OpenBLAS 0.3.21 takes them for products of at most
 * 100^3 multiply-adds on AVX-512 machines, where its packing of these thin
 * operands was a quarter of sgemm's time.  At width 64 the backward's
 * products ran 14 to 35% faster in such chunks (docs/transformer.md); a
 * chunk under TF_SMALL_GEMM_ROWS rows would gain nothing, so wider layers
 * keep one call.  The weight gradients add up chunk by chunk (the bias
 * gradients' column sums still take the rows in order).
 */
#define TF_SMALL_GEMM		1000000
#define TF_SMALL_GEMM_ROWS	32

static void
tf_linear_backward(AigcLinear *l, const float *x, const float *dy, int R,
				   float *dx, bool input_only)
{
	int64		chunk = TF_SMALL_GEMM / ((int64) l->in * l->out);

	if (chunk < TF_SMALL_GEMM_ROWS)
		chunk = R;
	for (int r0 = 0; r0 < R; r0 += chunk)
	{
		int			rows = (int) Min(chunk, (int64) R - r0);
		const float *dyc = dy + (int64) r0 * l->out;

		if (!input_only)
			aigc_linear_param_grad(l, x + (int64) r0 * l->in, l->in, dyc, rows,
								   true);
		if (dx != NULL)
			aigc_linear_input_grad(l, dyc, rows, dx + (int64) r0 * l->in);
	}
}

/*
 * A projection's backward pass over n rows of T positions; in the norm pass
 * (dp) its per-row norms and the input gradient only
 */
static void
linear_back(AigcLinear *l, const float *x, const float *dy, int n, int T,
			float *dx, AigcTfDpBuffers *dp)
{
	if (dp != NULL)
		dp_seq_linear_sq_norms(x, dy, n, T, l->in, l->out, true,
							   dp_seq_linear_ghost(T, l->in, l->out),
							   dp->scratch, dp->sq_norms);
	tf_linear_backward(l, x, dy, n * T, dx, dp != NULL);
}

/*
 * LayerNorm (gain wt, bias bt, of layer l) likewise, dinp += ...; in the
 * norm pass its gain and bias gradients go to dp's sink
 */
static void
layernorm_back(AigcTfModel *m, AigcTfTensor wt, AigcTfTensor bt, int l,
			   float *dinp, const float *dout, const float *inp,
			   const float *mean, const float *rstd, int n,
			   AigcTfDpBuffers *dp)
{
	int			C = m->C;
	float	   *dw = dp ? dp->sink : m->tensors[wt].g + l * C;
	float	   *db = dp ? dp->sink + C : m->tensors[bt].g + l * C;

	if (dp != NULL)
		aigc_tf_layernorm_row_sq_norms(dout, inp, mean, rstd, n, m->T, C,
									   dp->scratch, dp->sq_norms);
	aigc_tf_layernorm_backward(dinp, dw, db, dout, inp, m->tensors[wt].w + l * C,
							   mean, rstd, n * m->T, C);
}

/*
 * Backward pass of the last forward for the loss scale sum_r -log p(row r),
 * accumulating into m->grads.  With dp, the norm pass instead (scale 1):
 * m->grads untouched, dp->sq_norms[r] += the squared norm of row r's
 * gradient, every layer's output gradient kept in dp->deltas (the head's
 * stays in a->dlogits, the embeddings' in a->dres).
 */
static void
backward_pass(AigcTfModel *m, AigcTfActs *a, const int32 *tokens, int n,
			  float scale, AigcTfDpBuffers *dp)
{
	int			C = m->C;
	int			T = m->T;
	int			R = n * T;

	Assert(a->full_forward && m->grads != NULL);
	memset(a->dres, 0, sizeof(float) * R * C);

	aigc_tf_softmax_xent_backward(a->dlogits, a->probs, tokens, m->first, n, T,
								  m->V, 0, T, scale);
	if (dp != NULL)
		aigc_tf_head_row_sq_norms(a->dlogits, a->lnf, m->first, n, T, C, m->V,
								  dp->sq_norms);
	aigc_tf_head_backward(a->dln,
						  dp ? dp->sink : m->tensors[TF_HEADW].g,
						  dp ? dp->sink + (int64) m->V * C : m->tensors[TF_HEADB].g,
						  a->dlogits, a->lnf, m->tensors[TF_HEADW].w, m->first,
						  n, T, C, m->V, 0, T);
	keep_delta(m, dp, m->L, TFD_FCPROJ, a->dln, n, C);
	layernorm_back(m, TF_LNFW, TF_LNFB, 0, a->dres, a->dln,
				   LAYER(a, m, res3, m->L - 1, C), a->lnf_mean, a->lnf_rstd, n,
				   dp);

	/* a->dres is the gradient of the residual stream, walking down */
	for (int l = m->L - 1; l >= 0; l--)
	{
		const float *residual = l == 0 ? a->encoded : LAYER(a, m, res3, l - 1, C);

		keep_delta(m, dp, l, TFD_FCPROJ, a->dres, n, C);
		linear_back(&m->fcproj[l], LAYER(a, m, fch_gelu, l, 4 * C), a->dres,
					n, T, a->dfch, dp);
		aigc_tf_gelu_backward(a->dfch, LAYER(a, m, fch, l, 4 * C), a->dfch,
							  (int64) R * 4 * C);
		keep_delta(m, dp, l, TFD_FC, a->dfch, n, 4 * C);
		linear_back(&m->fc[l], LAYER(a, m, ln2, l, C), a->dfch, n, T, a->dln, dp);
		keep_delta(m, dp, l, TFD_LN2, a->dln, n, C);
		layernorm_back(m, TF_LN2W, TF_LN2B, l, a->dres, a->dln,
					   LAYER(a, m, res2, l, C), LAYER(a, m, ln2_mean, l, 1),
					   LAYER(a, m, ln2_rstd, l, 1), n, dp);
		keep_delta(m, dp, l, TFD_ATTPROJ, a->dres, n, C);
		linear_back(&m->attproj[l], LAYER(a, m, atty, l, C), a->dres, n, T,
					a->datty, dp);
		aigc_tf_attention_backward(a->dqkv, a->datty, LAYER(a, m, qkv, l, 3 * C),
								   LAYER_ATT(a, m, l), a->datt,
								   n, T, C, m->NH);
		keep_delta(m, dp, l, TFD_QKV, a->dqkv, n, 3 * C);
		linear_back(&m->qkv[l], LAYER(a, m, ln1, l, C), a->dqkv, n, T, a->dln, dp);
		keep_delta(m, dp, l, TFD_LN1, a->dln, n, C);
		layernorm_back(m, TF_LN1W, TF_LN1B, l, a->dres, a->dln, residual,
					   LAYER(a, m, ln1_mean, l, 1), LAYER(a, m, ln1_rstd, l, 1),
					   n, dp);
	}
	if (dp != NULL)
		aigc_tf_embed_row_sq_norms(a->dres, a->inp, n, T, C, dp->sq_norms);
	else
		aigc_tf_embed_backward(m->tensors[TF_WTE].g, m->tensors[TF_WPE].g,
							   a->dres, a->inp, n, T, C);
}

void
aigc_tf_backward(AigcTfModel *m, AigcTfActs *a, const int32 *tokens, int n)
{
	memset(m->grads, 0, sizeof(float) * m->nparams);
	/* the loss is the mean over rows of the sum over positions */
	backward_pass(m, a, tokens, n, 1.0f / n, NULL);
}

/* Floats of the scratch, the sink and the kept gradients of the DP buffers */
static void
dp_floats(const AigcTfModel *m, int batch, int64 *scratch, int64 *sink,
		  int64 *deltas)
{
	int			C = m->C;

	*scratch = 2 * (int64) C;
	*scratch = Max(*scratch, dp_seq_linear_scratch(m->T, C, 3 * C));
	*scratch = Max(*scratch, dp_seq_linear_scratch(m->T, C, C));
	*scratch = Max(*scratch, dp_seq_linear_scratch(m->T, C, 4 * C));
	*scratch = Max(*scratch, dp_seq_linear_scratch(m->T, 4 * C, C));
	/* the head's weights and biases, or a LayerNorm's */
	*sink = Max((int64) m->V * C + m->V, 2 * (int64) C);
	*deltas = ((int64) m->L * TFD_LAYER_WIDTH + 1) * batch * m->T * C;
}

void
aigc_tf_dp_size(const AigcTfConfig *cfg, int batch, AigcSizeEstimate *e)
{
	AigcTfModel shell;
	int64		scratch,
				sink,
				deltas;

	shell_model(cfg, &shell);
	dp_floats(&shell, batch, &scratch, &sink, &deltas);
	aigc_size_add(e, (double) batch, sizeof(double) + sizeof(float));
	aigc_size_add(e, (double) (scratch + sink + deltas), sizeof(float));
}

void
aigc_tf_dp_buffers_init(AigcTfDpBuffers *dp, const AigcTfModel *m, int batch)
{
	int64		scratch,
				sink,
				deltas;

	dp_floats(m, batch, &scratch, &sink, &deltas);
	dp->batch = batch;
	dp->sq_norms = palloc(sizeof(double) * batch);
	dp->factors = palloc(sizeof(float) * batch);
	dp->scratch = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(float) * scratch);
	dp->sink = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(float) * sink);
	dp->deltas = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(float) * deltas);
}

void
aigc_tf_dp_norms(AigcTfModel *m, AigcTfActs *a, AigcTfDpBuffers *dp,
				 const int32 *tokens, int n)
{
	Assert(n <= dp->batch);
	memset(dp->sq_norms, 0, sizeof(double) * n);
	backward_pass(m, a, tokens, n, 1.0f, dp);
}

/* v (n rows of row floats) row r *= factors[r] */
static void
scale_rows(float *v, int n, int64 row, const float *factors)
{
	for (int r = 0; r < n; r++)
		for (int64 j = 0; j < row; j++)
			v[r * row + j] *= factors[r];
}

/*
 * The clipped sum from the norm pass's output gradients: every parameter's
 * gradient is a product of a layer's output gradient with what the forward
 * kept, so scaling each row's output gradients by its factor and forming
 * the parameter gradients once gives sum_r factor_r grad_r.  The head's and
 * LayerNorms' kernels also form an input gradient, into spent scratch.
 */
void
aigc_tf_dp_accumulate(AigcTfModel *m, AigcTfActs *a, AigcTfDpBuffers *dp,
					  const int32 *tokens, int n, double max_grad_norm)
{
	int			C = m->C;
	int			T = m->T;
	int			R = n * T;
	int64		TC = (int64) T * C;

	aigc_tf_dp_norms(m, a, dp, tokens, n);
	dp_clip_factors(dp->sq_norms, n, max_grad_norm, dp->factors);

	scale_rows(a->dres, n, TC, dp->factors);
	aigc_tf_embed_backward(m->tensors[TF_WTE].g, m->tensors[TF_WPE].g, a->dres,
						   a->inp, n, T, C);
	scale_rows(a->dlogits, n, m->V, dp->factors);
	aigc_tf_head_backward(a->dln, m->tensors[TF_HEADW].g, m->tensors[TF_HEADB].g,
						  a->dlogits, a->lnf, m->tensors[TF_HEADW].w, m->first,
						  n, T, C, m->V, 0, T);
	for (int l = 0; l <= m->L; l++)
		for (int d = 0; d < (l < m->L ? TFD_COUNT : 1); d++)
			scale_rows(kept_delta(m, dp, l, d), n, TC * tf_delta_width[d],
					   dp->factors);
	layernorm_back(m, TF_LNFW, TF_LNFB, 0, a->dres,
				   kept_delta(m, dp, m->L, TFD_FCPROJ),
				   LAYER(a, m, res3, m->L - 1, C), a->lnf_mean, a->lnf_rstd, n,
				   NULL);
	for (int l = 0; l < m->L; l++)
	{
		const float *residual = l == 0 ? a->encoded : LAYER(a, m, res3, l - 1, C);

		tf_linear_backward(&m->fcproj[l], LAYER(a, m, fch_gelu, l, 4 * C),
						   kept_delta(m, dp, l, TFD_FCPROJ), R, NULL, false);
		tf_linear_backward(&m->fc[l], LAYER(a, m, ln2, l, C),
						   kept_delta(m, dp, l, TFD_FC), R, NULL, false);
		layernorm_back(m, TF_LN2W, TF_LN2B, l, a->dres,
					   kept_delta(m, dp, l, TFD_LN2), LAYER(a, m, res2, l, C),
					   LAYER(a, m, ln2_mean, l, 1), LAYER(a, m, ln2_rstd, l, 1),
					   n, NULL);
		tf_linear_backward(&m->attproj[l], LAYER(a, m, atty, l, C),
						   kept_delta(m, dp, l, TFD_ATTPROJ), R, NULL, false);
		tf_linear_backward(&m->qkv[l], LAYER(a, m, ln1, l, C),
						   kept_delta(m, dp, l, TFD_QKV), R, NULL, false);
		layernorm_back(m, TF_LN1W, TF_LN1B, l, a->dres,
					   kept_delta(m, dp, l, TFD_LN1), residual,
					   LAYER(a, m, ln1_mean, l, 1), LAYER(a, m, ln1_rstd, l, 1),
					   n, NULL);
	}
}

void
aigc_tf_adam_init(AigcTfModel *m, AigcAdam *opt, double lr, double beta1,
				  double beta2, double weight_decay)
{
	Assert(m->adam_state != NULL);
	aigc_adam_init_state(opt, &m->block, 1, m->adam_state, lr, beta1, beta2,
						 weight_decay);
}

void
aigc_tf_row_nll(AigcTfModel *m, AigcTfActs *a, const int32 *tokens,
				const uint8 *allowed, int64 n, double *row_nll, double *pos_nll)
{
	int			T = m->T;

	for (int64 done = 0; done < n; done += a->batch)
	{
		int			b = (int) Min((int64) a->batch, n - done);

		CHECK_FOR_INTERRUPTS();
		aigc_tf_forward(m, a, tokens + done * T,
						allowed ? allowed + done * m->V : NULL, b);
		for (int r = 0; r < b; r++)
		{
			double		s = 0.0;

			for (int t = 0; t < T; t++)
				s += a->nll[r * T + t];
			row_nll[done + r] = s;
		}
		if (pos_nll != NULL)
			memcpy(pos_nll + done * T, a->nll, sizeof(double) * b * T);
	}
}

/* Position pos's slice of one row's mask: all allowed, then the callback */
static void
mask_position(const AigcTfModel *m, int64 row, int pos, const int32 *prefix,
			  AigcTfMaskFn mask_fn, void *mask_arg, uint8 *allowed_row)
{
	int			f = m->first[pos];

	memset(allowed_row + f, 1, m->first[pos + 1] - f);
	if (mask_fn != NULL)
		mask_fn(mask_arg, row, pos, prefix, allowed_row + f);
}

void
aigc_tf_fill_mask(const AigcTfModel *m, const int32 *tokens, int64 n,
				  AigcTfMaskFn mask_fn, void *mask_arg, uint8 *allowed)
{
	for (int64 r = 0; r < n; r++)
		for (int t = 0; t < m->T; t++)
			mask_position(m, r, t, tokens + r * m->T, mask_fn, mask_arg,
						  allowed + r * m->V);
}

bool
aigc_tf_sample(const AigcTfModel *m, AigcTfActs *a, int64 n, double temperature,
			   AigcTfMaskFn mask_fn, void *mask_arg, AigcRng *rng,
			   int32 *tokens, int *bad_pos)
{
	int			T = m->T;
	int			V = m->V;
	float		inv_temp;

	Assert(temperature > 0.0 && temperature <= 1.0);
	inv_temp = (float) (1.0 / temperature);

	for (int64 done = 0; done < n; done += a->batch)
	{
		int			b = (int) Min((int64) a->batch, n - done);
		int32	   *rows = tokens + done * T;

		for (int t = 0; t < T; t++)
		{
			int			f = m->first[t];
			int			cnt = m->first[t + 1] - f;

			forward_step(m, a, rows, b, t);
			aigc_tf_head_forward(a->logits, a->lnf, m->tensors[TF_HEADW].w,
								 m->tensors[TF_HEADB].w, m->first, b, T,
								 m->C, V, t, t + 1);
			for (int r = 0; r < b; r++)
			{
				float	   *l = a->logits + (int64) r * V + f;

				for (int k = 0; k < cnt; k++)
					l[k] *= inv_temp;
				mask_position(m, done + r, t, rows + (int64) r * T, mask_fn,
							  mask_arg, a->allowed + (int64) r * V);
			}
			aigc_tf_softmax_xent_forward(a->probs, NULL, a->logits, a->allowed,
										 NULL, m->first, b, T, V, t, t + 1);
			for (int r = 0; r < b; r++)
			{
				const uint8 *ok = a->allowed + (int64) r * V + f;
				int			k = 0;

				while (k < cnt && !ok[k])
					k++;
				if (k == cnt)
				{
					*bad_pos = t;
					return false;
				}
				rows[(int64) r * T + t] = f +
					aigc_rng_categorical(rng, a->probs + (int64) r * V + f, cnt);
			}
		}
	}
	return true;
}

/*
 * Per layer: the projections 2 T C (3C + C + 4C + 4C) = 24 T C^2 and the
 * attention's two (T, T, hs) products per head, 4 T^2 C (the full square:
 * the causal upper half is computed and discarded); then the head, 2 C V.
 */
double
aigc_tf_forward_flops(const AigcTfModel *m)
{
	double		T = m->T,
				C = m->C;

	return m->L * (24.0 * T * C * C + 4.0 * T * T * C) + 2.0 * C * m->V;
}
