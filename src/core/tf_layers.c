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
 * The eight are one generic vector (GCC's and clang's vector_size), as
 * under -fwrapv GCC did not see that x[i + j] of an int i is contiguous and
 * built the sums' vectors lane by lane.
 */
#define LANES 8

typedef float RowVec __attribute__((vector_size(LANES * sizeof(float)),
									aligned(sizeof(float)), may_alias));

#define ROWVEC(p, i) (*(const RowVec *) ((p) + (i)))

/* by address: a vector argument's ABI depends on the vector extension */
static inline float
lanes_total(const RowVec *acc)
{
	return (((*acc)[0] + (*acc)[1]) + ((*acc)[2] + (*acc)[3])) +
		(((*acc)[4] + (*acc)[5]) + ((*acc)[6] + (*acc)[7]));
}

static inline float
row_sum(const float *x, int C)
{
	RowVec		acc = {0};
	int			i = 0;

	for (; i + LANES <= C; i += LANES)
		acc += ROWVEC(x, i);
	for (; i < C; i++)
		acc[0] += x[i];
	return lanes_total(&acc);
}

/* sum of (x[i] - m)^2: LayerNorm's squared deviations */
static inline float
row_sq_dev(const float *x, float m, int C)
{
	RowVec		acc = {0};
	int			i = 0;

	for (; i + LANES <= C; i += LANES)
	{
		RowVec		c = ROWVEC(x, i) - m;

		acc += c * c;
	}
	for (; i < C; i++)
		acc[0] += (x[i] - m) * (x[i] - m);
	return lanes_total(&acc);
}

/* sum of (x[i] - m) w[i] d[i]: LayerNorm's backward's sum of g (x - m) */
static inline float
row_dev_dot(const float *x, float m, const float *w, const float *d, int C)
{
	RowVec		acc = {0};
	int			i = 0;

	for (; i + LANES <= C; i += LANES)
		acc += (ROWVEC(x, i) - m) * ROWVEC(w, i) * ROWVEC(d, i);
	for (; i < C; i++)
		acc[0] += (x[i] - m) * w[i] * d[i];
	return lanes_total(&acc);
}

static inline float
row_dot(const float *a, const float *b, int C)
{
	RowVec		acc = {0};
	int			i = 0;

	for (; i + LANES <= C; i += LANES)
		acc += ROWVEC(a, i) * ROWVEC(b, i);
	for (; i < C; i++)
		acc[0] += a[i] * b[i];
	return lanes_total(&acc);
}

/*
 * The pointers are restrict so that the row loops vectorise: with the
 * gradients' read-modify-write beside the inputs, GCC otherwise kept the
 * backward's loop scalar.
 */
AIGC_VECTOR_CLONES void
aigc_tf_layernorm_forward(float *restrict out, float *restrict mean,
						  float *restrict rstd, const float *restrict inp,
						  const float *restrict weight,
						  const float *restrict bias, int R, int C)
{
	for (int r = 0; r < R; r++)
	{
		const float *restrict x = inp + (int64) r * C;
		float	   *restrict o = out + (int64) r * C;
		float		m,
					s;

		m = row_sum(x, C) / C;
		s = 1.0f / sqrtf(row_sq_dev(x, m, C) / C + (float) LN_EPS);
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
aigc_tf_layernorm_backward(float *restrict dinp, float *restrict dweight,
						   float *restrict dbias, const float *restrict dout,
						   const float *restrict inp,
						   const float *restrict weight,
						   const float *restrict mean,
						   const float *restrict rstd, int R, int C)
{
	for (int r = 0; r < R; r++)
	{
		const float *restrict x = inp + (int64) r * C;
		const float *restrict d = dout + (int64) r * C;
		float	   *restrict dx = dinp + (int64) r * C;
		float		m = mean[r],
					s = rstd[r];
		float		g_mean = row_dot(weight, d, C) / C;
		float		gx_mean = s * row_dev_dot(x, m, weight, d, C) / C;

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
 * The attention of a batch runs ATT_LANES rows at a time, one row per
 * vector lane: a block's queries, keys and values are gathered into
 * (head, T, hs) arrays of AttVec, so every product, the causal softmax and
 * their backward are whole-vector operations over the rows, and only the
 * causal triangle s <= t is computed.  Per (row, head) the products are
 * T x T x hs, too small for sgemm's calls and packing to pay (they were a
 * sixth of a training step as 2 + 4 sgemm calls per row and head).
 * AttVec is GCC's generic vector type (clang's too), which each vector
 * clone compiles to its own registers; unaligned, as palloc aligns to 8.
 */
#define ATT_LANES 16

typedef float AttVec __attribute__((vector_size(ATT_LANES * sizeof(float)),
									aligned(sizeof(float)), may_alias));

/*
 * Offset of (t, s <= t) in a causal triangle stored row by row; TRI(T, 0)
 * is the size of a triangle of T rows
 */
#define TRI(t, s) ((int64) (t) * ((t) + 1) / 2 + (s))

int64
aigc_tf_attention_floats(int N, int T, int NH)
{
	int64		blocks = (N + ATT_LANES - 1) / ATT_LANES;

	return blocks * NH * TRI(T, 0) * ATT_LANES;
}

int64
aigc_tf_attention_scratch_floats(int T, int C, int NH)
{
	/* q, k, v, dout and their gradients of every head, one causal triangle */
	return ((int64) 7 * T * C + TRI(T, 0)) * ATT_LANES;
}

/*
 * m (16 vectors of 16) transposed in place: each round interleaves vector i
 * with vector i + 8, which rotates the 8 bits of (vector, lane) left by
 * one, so four rounds swap the vector and lane indices.  One two-input
 * shuffle per output vector (vpermt2ps with AVX-512), written out so that
 * the vectors stay in registers.  __builtin_shufflevector: clang's, and
 * GCC's from GCC 12 (Debian 12's).
 */
#define ATT_LO(a, b) __builtin_shufflevector(a, b, 0, 16, 1, 17, 2, 18, 3, 19, \
											 4, 20, 5, 21, 6, 22, 7, 23)
#define ATT_HI(a, b) __builtin_shufflevector(a, b, 8, 24, 9, 25, 10, 26, 11, 27, \
											 12, 28, 13, 29, 14, 30, 15, 31)
#define ATT_PAIR(x, y, i) \
	do { y[2 * (i)] = ATT_LO(x[i], x[(i) + 8]); \
		 y[2 * (i) + 1] = ATT_HI(x[i], x[(i) + 8]); } while (0)
#define ATT_ROUND(x, y) \
	do { ATT_PAIR(x, y, 0); ATT_PAIR(x, y, 1); ATT_PAIR(x, y, 2); \
		 ATT_PAIR(x, y, 3); ATT_PAIR(x, y, 4); ATT_PAIR(x, y, 5); \
		 ATT_PAIR(x, y, 6); ATT_PAIR(x, y, 7); } while (0)

StaticAssertDecl(ATT_LANES == 16, "the attention's transpose is 16 x 16");

static pg_attribute_always_inline void
att_transpose(AttVec *m)
{
	AttVec		o[ATT_LANES];

	ATT_ROUND(m, o);
	ATT_ROUND(o, m);
	ATT_ROUND(m, o);
	ATT_ROUND(o, m);
}

/*
 * Where a block's values go: value e of a row (T, width), position t, is
 * the head group g's (width / hs groups) index i, at AttVec
 * (g T + t) hs + i of the block's (width / hs, T, hs) arrays
 */
typedef struct AttCursor
{
	int			t;
	int			g;
	int			i;
} AttCursor;

static pg_attribute_always_inline int64
att_index(const AttCursor *c, int T, int hs)
{
	return ((int64) c->g * T + c->t) * hs + c->i;
}

/* The cursor moved on by n values, n <= hs - i */
static pg_attribute_always_inline void
att_advance(AttCursor *c, int n, int groups, int hs)
{
	c->i += n;
	if (c->i == hs)
	{
		c->i = 0;
		if (++c->g == groups)
		{
			c->g = 0;
			c->t++;
		}
	}
}

/*
 * The helpers are inlined into the kernels, which are compiled per vector
 * extension: a call would run AttVec code compiled for the baseline.
 *
 * dst (width / hs, T, hs) AttVecs = rows n0 .. n0 + lanes - 1 of src
 * (N, T, width), each run of hs values of a position to its own head, zero
 * in the unused lanes: 16 values of the 16 rows at a time, transposed in
 * registers; the 16 go to consecutive AttVecs when they are one head's
 * (always when hs is a multiple of 16), else one by one.
 */
static pg_attribute_always_inline void
att_gather(AttVec *dst, const float *src, int n0, int lanes, int T, int width,
		   int hs)
{
	int64		F = (int64) T * width;
	int64		e = 0;
	AttCursor	c = {0, 0, 0};
	AttVec		zero = {0};
	const float *rows = src + (int64) n0 * F;

	for (; e + ATT_LANES <= F; e += ATT_LANES)
	{
		AttVec		m[ATT_LANES];

#pragma GCC unroll 16
		for (int j = 0; j < ATT_LANES; j++)
			m[j] = j < lanes ? *(const AttVec *) (rows + j * F + e) : zero;
		att_transpose(m);
		if (c.i + ATT_LANES <= hs)
		{
			AttVec	   *d = dst + att_index(&c, T, hs);

#pragma GCC unroll 16
			for (int k = 0; k < ATT_LANES; k++)
				d[k] = m[k];
			att_advance(&c, ATT_LANES, width / hs, hs);
		}
		else
			for (int k = 0; k < ATT_LANES; k++)
			{
				dst[att_index(&c, T, hs)] = m[k];
				att_advance(&c, 1, width / hs, hs);
			}
	}
	for (; e < F; e++)
	{
		AttVec	   *d = dst + att_index(&c, T, hs);

		for (int j = 0; j < ATT_LANES; j++)
			(*d)[j] = j < lanes ? rows[j * F + e] : 0.0f;
		att_advance(&c, 1, width / hs, hs);
	}
}

/* The reverse: src's used lanes into dst's rows */
static pg_attribute_always_inline void
att_scatter(float *dst, const AttVec *src, int n0, int lanes, int T,
			int width, int hs)
{
	int64		F = (int64) T * width;
	int64		e = 0;
	AttCursor	c = {0, 0, 0};
	float	   *rows = dst + (int64) n0 * F;

	for (; e + ATT_LANES <= F; e += ATT_LANES)
	{
		AttVec		m[ATT_LANES];

		if (c.i + ATT_LANES <= hs)
		{
			const AttVec *x = src + att_index(&c, T, hs);

#pragma GCC unroll 16
			for (int k = 0; k < ATT_LANES; k++)
				m[k] = x[k];
			att_advance(&c, ATT_LANES, width / hs, hs);
		}
		else
			for (int k = 0; k < ATT_LANES; k++)
			{
				m[k] = src[att_index(&c, T, hs)];
				att_advance(&c, 1, width / hs, hs);
			}
		att_transpose(m);
#pragma GCC unroll 16
		for (int j = 0; j < ATT_LANES; j++)
			if (j < lanes)
				*(AttVec *) (rows + j * F + e) = m[j];
	}
	for (; e < F; e++)
	{
		const AttVec *x = src + att_index(&c, T, hs);

		for (int j = 0; j < lanes; j++)
			rows[j * F + e] = (*x)[j];
		att_advance(&c, 1, width / hs, hs);
	}
}

/*
 * The products below keep four independent sums: one chain of vector
 * multiply-adds would wait on the latency of each one.
 */
static pg_attribute_always_inline void
att_dot(AttVec *out, const AttVec *a, const AttVec *b, int hs)
{
	AttVec		a0 = {0},
				a1 = {0},
				a2 = {0},
				a3 = {0};
	int			i = 0;

	for (; i + 4 <= hs; i += 4)
	{
		a0 += a[i] * b[i];
		a1 += a[i + 1] * b[i + 1];
		a2 += a[i + 2] * b[i + 2];
		a3 += a[i + 3] * b[i + 3];
	}
	for (; i < hs; i++)
		a0 += a[i] * b[i];
	*out = (a0 + a1) + (a2 + a3);
}

/* out (hs) = scale sum_{s < len} w[s] m (len, hs)[s] */
static pg_attribute_always_inline void
att_combine(AttVec *out, const AttVec *w, const AttVec *m, int len, int hs,
			float scale)
{
	int			i = 0;

	for (; i + 4 <= hs; i += 4)
	{
		AttVec		a0 = {0},
					a1 = {0},
					a2 = {0},
					a3 = {0};

		for (int s = 0; s < len; s++)
		{
			const AttVec *ms = m + (int64) s * hs + i;

			a0 += w[s] * ms[0];
			a1 += w[s] * ms[1];
			a2 += w[s] * ms[2];
			a3 += w[s] * ms[3];
		}
		out[i] = a0 * scale;
		out[i + 1] = a1 * scale;
		out[i + 2] = a2 * scale;
		out[i + 3] = a3 * scale;
	}
	for (; i < hs; i++)
	{
		AttVec		a0 = {0};

		for (int s = 0; s < len; s++)
			a0 += w[s] * m[(int64) s * hs + i];
		out[i] = a0 * scale;
	}
}

/* Causal softmax of row pt (s <= t), lane by lane */
static pg_attribute_always_inline void
att_softmax(AttVec *pt, int t)
{
	AttVec		sum = {0};
	float		mx[ATT_LANES];

	for (int j = 0; j < ATT_LANES; j++)
		mx[j] = pt[0][j];
	for (int s = 1; s <= t; s++)
		for (int j = 0; j < ATT_LANES; j++)
			mx[j] = Max(mx[j], pt[s][j]);
	for (int s = 0; s <= t; s++)
	{
		AttVec		e;

		for (int j = 0; j < ATT_LANES; j++)
			e[j] = aigc_expf(pt[s][j] - mx[j]);
		pt[s] = e;
		sum += e;
	}
	sum = 1.0f / sum;
	for (int s = 0; s <= t; s++)
		pt[s] *= sum;
}

/*
 * Per (row, head), with Q, K, V the (T, hs) slices of qkv (row stride 3C):
 * att = causal_softmax(Q K^T / sqrt(hs)) and out = att V.
 */
AIGC_VECTOR_CLONES void
aigc_tf_attention_forward(float *out, float *att, const float *qkv,
						  float *scratch, int N, int T, int C, int NH)
{
	int			hs = C / NH;
	int64		head = (int64) T * hs;	/* AttVecs of a head's q, k or v */
	float		scale = (float) (1.0 / sqrt((double) hs));
	AttVec	   *qkvb = (AttVec *) scratch;	/* (3 NH, T, hs) */
	AttVec	   *y = qkvb + 3 * NH * head;	/* (NH, T, hs) */

	for (int n0 = 0; n0 < N; n0 += ATT_LANES)
	{
		int			lanes = Min(ATT_LANES, N - n0);

		att_gather(qkvb, qkv, n0, lanes, T, 3 * C, hs);
		for (int h = 0; h < NH; h++)
		{
			AttVec	   *p = (AttVec *) att +
				((int64) (n0 / ATT_LANES) * NH + h) * TRI(T, 0);
			const AttVec *q = qkvb + h * head;
			const AttVec *k = q + NH * head;
			const AttVec *v = k + NH * head;
			AttVec	   *yh = y + h * head;

			for (int t = 0; t < T; t++)
			{
				AttVec	   *pt = p + TRI(t, 0);
				const AttVec *qt = q + (int64) t * hs;

				for (int s = 0; s <= t; s++)
				{
					att_dot(&pt[s], qt, k + (int64) s * hs, hs);
					pt[s] *= scale;
				}
				att_softmax(pt, t);
				/* y_t = sum_s att[t, s] v_s */
				att_combine(yh + (int64) t * hs, pt, v, t + 1, hs, 1.0f);
			}
		}
		att_scatter(out, y, n0, lanes, T, C, hs);
	}
}

/*
 * dV_s = sum_{t >= s} att[t, s] dout_t and dK_s = scale sum_{t >= s}
 * dpre[t, s] q_t for the width values i .. i + width - 1 of a head (width
 * a constant, so the sums stay in registers): each weight of the triangle
 * is loaded once for all of them (with two values at a time the loop was
 * bound by its loads).
 */
#define ATT_DKV_WIDTH 4

static pg_attribute_always_inline void
att_dkv(AttVec *dv, AttVec *dk, const AttVec *p, const AttVec *dpre,
		const AttVec *dy, const AttVec *q, int s, int i, int width, int T,
		int hs, float scale)
{
	AttVec		vs[ATT_DKV_WIDTH] = {{0}};
	AttVec		ks[ATT_DKV_WIDTH] = {{0}};
	int64		ts = TRI(s, s);

	for (int t = s; t < T; t++)
	{
		AttVec		pts = p[ts];
		AttVec		dts = dpre[ts];
		const AttVec *dyt = dy + (int64) t * hs + i;
		const AttVec *qt = q + (int64) t * hs + i;

#pragma GCC unroll 4
		for (int j = 0; j < width; j++)
		{
			vs[j] += pts * dyt[j];
			ks[j] += dts * qt[j];
		}
		ts += t + 1;			/* TRI(t + 1, s) */
	}
#pragma GCC unroll 4
	for (int j = 0; j < width; j++)
	{
		dv[(int64) s * hs + i + j] = vs[j];
		dk[(int64) s * hs + i + j] = ks[j] * scale;
	}
}

/*
 * dV_s = sum_{t >= s} att[t, s] dout_t, datt[t, s] = dout_t . v_s,
 * dpre[t, s] = att[t, s] (datt[t, s] - sum_s' att[t, s'] datt[t, s']),
 * dQ_t = scale sum_{s <= t} dpre[t, s] k_s and
 * dK_s = scale sum_{t >= s} dpre[t, s] q_t.  Each (row, head) writes its
 * own slices of dqkv.
 */
AIGC_VECTOR_CLONES void
aigc_tf_attention_backward(float *dqkv, const float *dout, const float *qkv,
						   const float *att, float *scratch, int N, int T,
						   int C, int NH)
{
	int			hs = C / NH;
	int64		head = (int64) T * hs;
	float		scale = (float) (1.0 / sqrt((double) hs));
	AttVec	   *qkvb = (AttVec *) scratch;	/* (3 NH, T, hs) */
	AttVec	   *dyb = qkvb + 3 * NH * head; /* (NH, T, hs) */
	AttVec	   *dqkvb = dyb + NH * head;	/* (3 NH, T, hs) */
	AttVec	   *dpre = dqkvb + 3 * NH * head;	/* causal triangle */

	for (int n0 = 0; n0 < N; n0 += ATT_LANES)
	{
		int			lanes = Min(ATT_LANES, N - n0);

		att_gather(qkvb, qkv, n0, lanes, T, 3 * C, hs);
		att_gather(dyb, dout, n0, lanes, T, C, hs);
		for (int h = 0; h < NH; h++)
		{
			const AttVec *p = (const AttVec *) att +
				((int64) (n0 / ATT_LANES) * NH + h) * TRI(T, 0);
			const AttVec *q = qkvb + h * head;
			const AttVec *k = q + NH * head;
			const AttVec *v = k + NH * head;
			const AttVec *dy = dyb + h * head;
			AttVec	   *dq = dqkvb + h * head;
			AttVec	   *dk = dq + NH * head;
			AttVec	   *dv = dk + NH * head;

			for (int t = 0; t < T; t++)
			{
				const AttVec *pt = p + TRI(t, 0);
				const AttVec *dyt = dy + (int64) t * hs;
				AttVec	   *dt = dpre + TRI(t, 0);
				AttVec		dot = {0};

				/* datt[t, s] = dout_t . v_s, then the softmax's backward */
				for (int s = 0; s <= t; s++)
				{
					att_dot(&dt[s], dyt, v + (int64) s * hs, hs);
					dot += pt[s] * dt[s];
				}
				for (int s = 0; s <= t; s++)
					dt[s] = pt[s] * (dt[s] - dot);
				/* dQ_t */
				att_combine(dq + (int64) t * hs, dt, k, t + 1, hs, scale);
			}
			/* dV_s and dK_s, over the positions t >= s that see s */
			for (int s = 0; s < T; s++)
			{
				int			i = 0;

				for (; i + ATT_DKV_WIDTH <= hs; i += ATT_DKV_WIDTH)
					att_dkv(dv, dk, p, dpre, dy, q, s, i, ATT_DKV_WIDTH, T, hs,
							scale);
				for (; i < hs; i++)
					att_dkv(dv, dk, p, dpre, dy, q, s, i, 1, T, hs, scale);
			}
		}
		att_scatter(dqkv, dqkvb, n0, lanes, T, 3 * C, hs);
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
 * dominated a training step at table widths).  With s = sigmoid(2u) the
 * derivative is d/dx x s = s + 2 x s (1 - s) u' = s (1 + 2 x (1 - s) u'),
 * u' = sqrt(2/pi) (1 + 3 * 0.044715 x^2).
 */
static inline float
gelu_sigmoid(float x)
{
	float		u = GELU_SCALE * (x + GELU_CUBE * x * x * x);

	return 1.0f / (1.0f + aigc_expf(-2.0f * u));
}

/*
 * Training keeps the derivative from the forward, where the sigmoid is at
 * hand: the backward is then one product instead of a second exp and
 * division per element.  out or deriv may be inp: each element reads only
 * its own input before writing.
 */
AIGC_VECTOR_CLONES void
aigc_tf_gelu_forward(float *out, float *deriv, const float *inp, int64 count)
{
	if (deriv == NULL)
	{
		AIGC_IVDEP
		for (int64 i = 0; i < count; i++)
			out[i] = inp[i] * gelu_sigmoid(inp[i]);
		return;
	}
	AIGC_IVDEP
	for (int64 i = 0; i < count; i++)
	{
		float		x = inp[i];
		float		s = gelu_sigmoid(x);
		float		du = GELU_SCALE * (1.0f + 3.0f * GELU_CUBE * x * x);

		out[i] = x * s;
		deriv[i] = s * (1.0f + 2.0f * x * (1.0f - s) * du);
	}
}

/* dinp = deriv * dout; dinp may be dout */
AIGC_VECTOR_CLONES void
aigc_tf_gelu_backward(float *dinp, const float *deriv, const float *dout,
					  int64 count)
{
	AIGC_IVDEP
	for (int64 i = 0; i < count; i++)
		dinp[i] = deriv[i] * dout[i];
}

void
aigc_tf_residual_forward(float *out, const float *inp, int64 count)
{
	for (int64 i = 0; i < count; i++)
		out[i] += inp[i];
}

AIGC_VECTOR_CLONES void
aigc_tf_bias_rows(float *restrict y, const float *restrict bias,
				  const float *restrict residual, int R, int out)
{
	for (int r = 0; r < R; r++)
	{
		float	   *restrict yr = y + (int64) r * out;

		if (residual != NULL)
		{
			const float *restrict res = residual + (int64) r * out;

			for (int j = 0; j < out; j++)
				yr[j] = res[j] + bias[j];
		}
		else
			for (int j = 0; j < out; j++)
				yr[j] = bias[j];
	}
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
