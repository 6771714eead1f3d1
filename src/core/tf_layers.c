/*
 * tf_layers.c
 *		Embeddings, LayerNorm, causal self-attention, GELU, residuals and the
 *		per-position softmax head of the table transformer.
 */
#include "postgres.h"

#include <math.h>
#include <string.h>
#include <cblas.h>

#include "core/dp_sgd.h"
#include "core/fastmath.h"
#include "core/tf_layers.h"

#define LN_EPS 1e-5
#define GELU_SCALE 0.7978845608028654f	/* sqrt(2 / pi) */
#define GELU_CUBE 0.044715f

void
aigc_tf_embed_forward(float *out, const int32 *inp, const float *wte,
					  const float *wpe, int N, int T, int C)
{
	for (int n = 0; n < N; n++)
		for (int t = 0; t < T; t++)
		{
			float	   *o = out + ((int64) n * T + t) * C;
			const float *e = wte + (int64) inp[n * T + t] * C;
			const float *p = wpe + (int64) t * C;

			for (int i = 0; i < C; i++)
				o[i] = e[i] + p[i];
		}
}

void
aigc_tf_embed_backward(float *dwte, float *dwpe, const float *dout,
					   const int32 *inp, int N, int T, int C)
{
	for (int n = 0; n < N; n++)
		for (int t = 0; t < T; t++)
		{
			const float *d = dout + ((int64) n * T + t) * C;
			float	   *de = dwte + (int64) inp[n * T + t] * C;
			float	   *dp = dwpe + (int64) t * C;

			for (int i = 0; i < C; i++)
			{
				de[i] += d[i];
				dp[i] += d[i];
			}
		}
}

/*
 * Row reductions in eight interleaved float sums: one running sum fixes the
 * order of the additions and keeps the loop scalar; eight independent ones
 * vectorise (C is a few dozen, so float sums lose nothing that matters).
 */
#define LANES 8

static inline float
lanes_total(const float *acc)
{
	return ((acc[0] + acc[1]) + (acc[2] + acc[3])) +
		((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

static inline float
row_sum(const float *x, int C)
{
	float		acc[LANES] = {0};
	int			i = 0;

	for (; i + LANES <= C; i += LANES)
		for (int j = 0; j < LANES; j++)
			acc[j] += x[i + j];
	for (; i < C; i++)
		acc[0] += x[i];
	return lanes_total(acc);
}

/*
 * sum of (x[i] - m) (y ? y[i] : x[i] - m) (z ? z[i] : 1): LayerNorm's
 * squared deviations and its backward's sum of g (x - m)
 */
static inline float
row_centered_dot(const float *x, float m, const float *y, const float *z,
				 int C)
{
	float		acc[LANES] = {0};
	int			i = 0;

	for (; i + LANES <= C; i += LANES)
		for (int j = 0; j < LANES; j++)
		{
			float		c = x[i + j] - m;

			acc[j] += c * (y ? y[i + j] : c) * (z ? z[i + j] : 1.0f);
		}
	for (; i < C; i++)
	{
		float		c = x[i] - m;

		acc[0] += c * (y ? y[i] : c) * (z ? z[i] : 1.0f);
	}
	return lanes_total(acc);
}

static inline float
row_dot(const float *a, const float *b, int C)
{
	float		acc[LANES] = {0};
	int			i = 0;

	for (; i + LANES <= C; i += LANES)
		for (int j = 0; j < LANES; j++)
			acc[j] += a[i + j] * b[i + j];
	for (; i < C; i++)
		acc[0] += a[i] * b[i];
	return lanes_total(acc);
}

AIGC_VECTOR_CLONES void
aigc_tf_layernorm_forward(float *out, float *mean, float *rstd,
						  const float *inp, const float *weight,
						  const float *bias, int R, int C)
{
	for (int r = 0; r < R; r++)
	{
		const float *x = inp + (int64) r * C;
		float	   *o = out + (int64) r * C;
		float		m,
					s;

		m = row_sum(x, C) / C;
		s = 1.0f / sqrtf(row_centered_dot(x, m, NULL, NULL, C) / C +
						 (float) LN_EPS);
		for (int i = 0; i < C; i++)
			o[i] = (x[i] - m) * s * weight[i] + bias[i];
		mean[r] = m;
		rstd[r] = s;
	}
}

/*
 * With xhat = (x - mean) * rstd and g = weight * dout:
 * dx = rstd * (g - mean(g) - xhat * mean(g * xhat)).
 */
AIGC_VECTOR_CLONES void
aigc_tf_layernorm_backward(float *dinp, float *dweight, float *dbias,
						   const float *dout, const float *inp,
						   const float *weight, const float *mean,
						   const float *rstd, int R, int C)
{
	for (int r = 0; r < R; r++)
	{
		const float *x = inp + (int64) r * C;
		const float *d = dout + (int64) r * C;
		float	   *dx = dinp + (int64) r * C;
		float		m = mean[r],
					s = rstd[r];
		float		g_mean = row_dot(weight, d, C) / C;
		float		gx_mean = s * row_centered_dot(x, m, weight, d, C) / C;

		for (int i = 0; i < C; i++)
		{
			float		xhat = (x[i] - m) * s;

			dbias[i] += d[i];
			dweight[i] += xhat * d[i];
			dx[i] += s * (weight[i] * d[i] - g_mean - xhat * gx_mean);
		}
	}
}

/* Softmax in place of an attention row's first len scores, the visible ones */
static inline void
softmax_prefix(float *row, int len)
{
	float		mx = row[0],
				sum = 0.0f;

	for (int s = 1; s < len; s++)
		mx = Max(mx, row[s]);
	/* the exponentials apart from the sum, so that their loop vectorises */
	for (int s = 0; s < len; s++)
		row[s] = aigc_expf(row[s] - mx);
	for (int s = 0; s < len; s++)
		sum += row[s];
	sum = 1.0f / sum;
	for (int s = 0; s < len; s++)
		row[s] *= sum;
}

/*
 * Per (row, head), with Q, K, V the (T, hs) slices of qkv (row stride 3C):
 * att = causal_softmax(Q K^T / sqrt(hs)) and out = att V.  The upper
 * triangle of Q K^T is computed and then discarded: one GEMM of T x T is
 * cheaper than T dot-product loops at these sizes.
 */
void
aigc_tf_attention_forward(float *out, float *att, const float *qkv,
						  int N, int T, int C, int NH)
{
	int			hs = C / NH;
	int			C3 = 3 * C;
	float		scale = (float) (1.0 / sqrt((double) hs));

	for (int n = 0; n < N; n++)
		for (int h = 0; h < NH; h++)
		{
			const float *q = qkv + (int64) n * T * C3 + h * hs;
			const float *k = q + C;
			const float *v = q + 2 * C;
			float	   *a = att + ((int64) n * NH + h) * T * T;

			/* a (T, T) = scale * Q (T, hs) K^T (hs, T) */
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hs,
						scale, q, C3, k, C3, 0.0f, a, T);
			for (int t = 0; t < T; t++)
			{
				softmax_prefix(a + t * T, t + 1);
				memset(a + t * T + t + 1, 0, sizeof(float) * (T - t - 1));
			}
			/* out (T, hs), row stride C = a (T, T) V (T, hs) */
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hs, T,
						1.0f, a, T, v, C3, 0.0f, out + (int64) n * T * C + h * hs, C);
		}
}

/*
 * dV = att^T dout, datt = dout V^T, dpre = att * (datt - rowsum(att *
 * datt)) (zero above the diagonal since att is), dQ = scale dpre K and
 * dK = scale dpre^T Q.  Each (row, head) writes its own slices of dqkv.
 */
void
aigc_tf_attention_backward(float *dqkv, const float *dout, const float *qkv,
						   const float *att, float *scratch, int N, int T,
						   int C, int NH)
{
	int			hs = C / NH;
	int			C3 = 3 * C;
	float		scale = (float) (1.0 / sqrt((double) hs));

	for (int n = 0; n < N; n++)
		for (int h = 0; h < NH; h++)
		{
			const float *q = qkv + (int64) n * T * C3 + h * hs;
			const float *k = q + C;
			const float *v = q + 2 * C;
			float	   *dq = dqkv + (int64) n * T * C3 + h * hs;
			float	   *dk = dq + C;
			float	   *dv = dq + 2 * C;
			const float *a = att + ((int64) n * NH + h) * T * T;
			const float *d = dout + (int64) n * T * C + h * hs;

			/* dV (T, hs) = att^T (T, T) dout (T, hs) */
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hs, T,
						1.0f, a, T, d, C, 0.0f, dv, C3);
			/* datt (T, T) = dout (T, hs) V^T (hs, T) */
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hs,
						1.0f, d, C, v, C3, 0.0f, scratch, T);
			for (int t = 0; t < T; t++)
			{
				const float *arow = a + t * T;
				float	   *drow = scratch + t * T;
				float		dot = 0.0f;

				for (int s = 0; s <= t; s++)
					dot += arow[s] * drow[s];
				for (int s = 0; s < T; s++)
					drow[s] = arow[s] * (drow[s] - dot);
			}
			/* dQ (T, hs) = scale dpre (T, T) K (T, hs) */
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hs, T,
						scale, scratch, T, k, C3, 0.0f, dq, C3);
			/* dK (T, hs) = scale dpre^T (T, T) Q (T, hs) */
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hs, T,
						scale, scratch, T, q, C3, 0.0f, dk, C3);
		}
}

void
aigc_tf_attention_step(float *out, const float *cache, float *scratch, int t,
					   int N, int T, int C, int NH)
{
	int			hs = C / NH;
	int			C3 = 3 * C;
	float		scale = (float) (1.0 / sqrt((double) hs));

	for (int n = 0; n < N; n++)
		for (int h = 0; h < NH; h++)
		{
			const float *k = cache + (int64) n * T * C3 + C + h * hs;
			const float *q = k - C + (int64) t * C3;
			const float *v = k + C;

			/* scores (1, t + 1) = scale * q (1, hs) K^T (hs, t + 1) */
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, 1, t + 1, hs,
						scale, q, C3, k, C3, 0.0f, scratch, t + 1);
			softmax_prefix(scratch, t + 1);
			/* out (1, hs) = att (1, t + 1) V (t + 1, hs) */
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 1, hs, t + 1,
						1.0f, scratch, t + 1, v, C3, 0.0f,
						out + (int64) n * C + h * hs, C);
		}
}

/*
 * 0.5 x (1 + tanh u) with u = sqrt(2/pi) (x + 0.044715 x^3), written as
 * x sigmoid(2u): the same function, with fastmath's branch-free expf so
 * that the loop vectorises (libm's tanhf or expf kept it scalar, and it
 * dominated a training step at table widths).  In place (out == inp) is
 * allowed: each element reads only its own input.
 */
AIGC_VECTOR_CLONES void
aigc_tf_gelu_forward(float *out, const float *inp, int64 count)
{
	AIGC_IVDEP
	for (int64 i = 0; i < count; i++)
	{
		float		x = inp[i];
		float		u = GELU_SCALE * (x + GELU_CUBE * x * x * x);

		out[i] = x / (1.0f + aigc_expf(-2.0f * u));
	}
}

/*
 * With s = sigmoid(2u): d/dx x s = s + 2 x s (1 - s) u',
 * u' = sqrt(2/pi) (1 + 3 * 0.044715 x^2).  dinp may be dout.
 */
AIGC_VECTOR_CLONES void
aigc_tf_gelu_backward(float *dinp, const float *inp, const float *dout,
					  int64 count)
{
	AIGC_IVDEP
	for (int64 i = 0; i < count; i++)
	{
		float		x = inp[i];
		float		u = GELU_SCALE * (x + GELU_CUBE * x * x * x);
		float		s = 1.0f / (1.0f + aigc_expf(-2.0f * u));
		float		du = GELU_SCALE * (1.0f + 3.0f * GELU_CUBE * x * x);

		dinp[i] = (s + 2.0f * x * s * (1.0f - s) * du) * dout[i];
	}
}

void
aigc_tf_residual_forward(float *out, const float *inp, int64 count)
{
	for (int64 i = 0; i < count; i++)
		out[i] += inp[i];
}

/*
 * Position t's logits are an sgemm of the N rows' hidden states at t
 * (row stride T * C) with the head rows of its own tokens, so the head
 * costs 2 N C V flops whatever the number of positions.
 */
void
aigc_tf_head_forward(float *logits, const float *h, const float *w,
					 const float *b, const int *first, int N, int T, int C,
					 int V, int t0, int t1)
{
	for (int t = t0; t < t1; t++)
	{
		int			f = first[t];
		int			cnt = first[t + 1] - f;

		for (int n = 0; n < N; n++)
			memcpy(logits + (int64) n * V + f, b + f, sizeof(float) * cnt);
		/* logits[:, slice] (N, cnt) += h[:, t] (N, C) w[slice]^T (C, cnt) */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, cnt, C,
					1.0f, h + (int64) t * C, T * C, w + (int64) f * C, C,
					1.0f, logits + f, V);
	}
}

void
aigc_tf_head_backward(float *dh, float *dw, float *db, const float *dlogits,
					  const float *h, const float *w, const int *first, int N,
					  int T, int C, int V, int t0, int t1)
{
	for (int t = t0; t < t1; t++)
	{
		int			f = first[t];
		int			cnt = first[t + 1] - f;

		for (int n = 0; n < N; n++)
		{
			const float *d = dlogits + (int64) n * V + f;

			for (int k = 0; k < cnt; k++)
				db[f + k] += d[k];
		}
		/* dw[slice] (cnt, C) += dlogits[:, slice]^T (cnt, N) h[:, t] (N, C) */
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, cnt, C, N,
					1.0f, dlogits + f, V, h + (int64) t * C, T * C,
					1.0f, dw + (int64) f * C, C);
		/* dh[:, t] (N, C) = dlogits[:, slice] (N, cnt) w[slice] (cnt, C) */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, cnt,
					1.0f, dlogits + f, V, w + (int64) f * C, C,
					0.0f, dh + (int64) t * C, T * C);
	}
}

void
aigc_tf_softmax_xent_forward(float *probs, double *nll, const float *logits,
							 const uint8 *allowed, const int32 *targets,
							 const int *first, int N, int T, int V, int t0,
							 int t1)
{
	for (int n = 0; n < N; n++)
		for (int t = t0; t < t1; t++)
		{
			int			f = first[t];
			int			cnt = first[t + 1] - f;
			const float *l = logits + (int64) n * V + f;
			const uint8 *ok = allowed ? allowed + (int64) n * V + f : NULL;
			float	   *p = probs + (int64) n * V + f;
			double		mx = -HUGE_VAL,
						sum = 0.0;

			for (int k = 0; k < cnt; k++)
				if (ok == NULL || ok[k])
					mx = Max(mx, l[k]);
			for (int k = 0; k < cnt; k++)
			{
				double		e = (ok == NULL || ok[k]) ? exp(l[k] - mx) : 0.0;

				p[k] = (float) e;
				sum += e;
			}
			for (int k = 0; k < cnt; k++)
				p[k] = sum > 0.0 ? (float) (p[k] / sum) : 0.0f;
			if (targets != NULL)
			{
				int			k = targets[n * T + t] - f;

				Assert(k >= 0 && k < cnt);
				/* log-sum-exp in double, not log of the rounded probability */
				nll[n * T + t] = (ok == NULL || ok[k]) ?
					mx + log(sum) - l[k] : HUGE_VAL;
			}
		}
}

void
aigc_tf_softmax_xent_backward(float *dlogits, const float *probs,
							  const int32 *targets, const int *first, int N,
							  int T, int V, int t0, int t1, float scale)
{
	for (int n = 0; n < N; n++)
		for (int t = t0; t < t1; t++)
		{
			int			f = first[t];
			int			cnt = first[t + 1] - f;
			const float *p = probs + (int64) n * V + f;
			float	   *d = dlogits + (int64) n * V + f;
			int			target = targets[n * T + t] - f;

			for (int k = 0; k < cnt; k++)
				d[k] = scale * (p[k] - (k == target ? 1.0f : 0.0f));
		}
}

static double
sq_norm(const float *v, int len)
{
	return dp_dot(v, v, len);
}

void
aigc_tf_embed_row_sq_norms(const float *dout, const int32 *inp, int N, int T,
						   int C, double *sq_norms)
{
	for (int n = 0; n < N; n++)
	{
		const float *d = dout + (int64) n * T * C;
		const int32 *tok = inp + (int64) n * T;
		double		sq = 0.0;

		for (int t = 0; t < T; t++)
		{
			/* dwpe[t] and the diagonal of dwte's terms */
			sq += 2.0 * sq_norm(d + (int64) t * C, C);
			for (int s = t + 1; s < T; s++)
				if (tok[s] == tok[t])
					sq += 2.0 * dp_dot(d + (int64) t * C, d + (int64) s * C, C);
		}
		sq_norms[n] += sq;
	}
}

void
aigc_tf_layernorm_row_sq_norms(const float *dout, const float *inp,
							   const float *mean, const float *rstd, int N,
							   int T, int C, float *scratch, double *sq_norms)
{
	float	   *gw = scratch;
	float	   *gb = scratch + C;

	for (int n = 0; n < N; n++)
	{
		memset(scratch, 0, sizeof(float) * 2 * C);
		for (int t = 0; t < T; t++)
		{
			int64		r = (int64) n * T + t;
			const float *x = inp + r * C;
			const float *d = dout + r * C;

			for (int i = 0; i < C; i++)
			{
				gw[i] += (x[i] - mean[r]) * rstd[r] * d[i];
				gb[i] += d[i];
			}
		}
		sq_norms[n] += sq_norm(scratch, 2 * C);
	}
}

void
aigc_tf_head_row_sq_norms(const float *dlogits, const float *h,
						  const int *first, int N, int T, int C, int V,
						  double *sq_norms)
{
	for (int n = 0; n < N; n++)
		for (int t = 0; t < T; t++)
		{
			double		dd = sq_norm(dlogits + (int64) n * V + first[t],
									 first[t + 1] - first[t]);

			sq_norms[n] += dd * sq_norm(h + ((int64) n * T + t) * C, C) + dd;
		}
}
