/*
 * dp_sgd.c
 *		DP-SGD building blocks over OpenBLAS (see dp_sgd.h).
 *
 * For a linear layer the gradient of example i's loss with respect to W is
 * the outer product d_i a_i^T, whose Frobenius norm is ||d_i|| ||a_i||, so
 * per-example norms cost O(n (in + out)) instead of the O(n in out) of
 * materialising them (Goodfellow 2015, "Efficient Per-Example Gradient
 * Computations"); the clipped sum is one GEMM, as in the non-private step.
 */
#include "postgres.h"

#include <math.h>
#include <cblas.h>

#include "core/dp_sgd.h"

double
dp_dot(const float *x, const float *y, int64 len)
{
	double		s = 0.0;

	for (int64 j = 0; j < len; j++)
		s += (double) x[j] * y[j];
	return s;
}

static double
row_sq_norm(const float *v, int64 len)
{
	return dp_dot(v, v, len);
}

void
dp_linear_sq_norms(const float *a, const float *delta, int n, int in, int out,
				   bool bias, double *sq_norms)
{
	for (int i = 0; i < n; i++)
	{
		double		dd = row_sq_norm(delta + (int64) i * out, out);

		sq_norms[i] += dd * row_sq_norm(a + (int64) i * in, in) + (bias ? dd : 0.0);
	}
}

/* ||A + B||_F^2 = ||A||^2 + ||B||^2 + 2 <A, B>, <d a^T, u v^T> = (d.u)(a.v) */
void
dp_linear_pair_sq_norms(const float *a, const float *delta, const float *u,
						const float *v, int n, int in, int out, bool bias,
						double *sq_norms)
{
	Assert(u != NULL || out == 1);
	for (int i = 0; i < n; i++)
	{
		const float *ai = a + (int64) i * in;
		const float *di = delta + (int64) i * out;
		const float *vi = v + (int64) i * in;
		double		dd = row_sq_norm(di, out);
		double		uu = u != NULL ? row_sq_norm(u + (int64) i * out, out) : 1.0;
		double		du = u != NULL ? dp_dot(di, u + (int64) i * out, out) : di[0];

		sq_norms[i] += dd * row_sq_norm(ai, in) + uu * row_sq_norm(vi, in) +
			2.0 * du * dp_dot(ai, vi, in) + (bias ? dd : 0.0);
	}
}

/*
 * Ghost: the Gram matrices A A^T and D D^T of the example's positions (upper
 * triangles, by ssyrk); their elementwise product sums to ||G_i||^2 and the
 * sum of D D^T to the bias gradient's ||sum_t d_it||^2.  Materialised: G_i
 * = D^T A by one sgemm, the bias gradient D's column sums.
 */
void
dp_seq_linear_sq_norms(const float *a, const float *delta, int n, int T,
					   int in, int out, bool bias, bool ghost, float *scratch,
					   double *sq_norms)
{
	for (int i = 0; i < n; i++)
	{
		const float *A = a + (int64) i * T * in;
		const float *D = delta + (int64) i * T * out;
		double		sq = 0.0,
					bsq = 0.0;

		if (ghost)
		{
			float	   *ga = scratch;
			float	   *gd = scratch + (int64) T * T;

			cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, T, in, 1.0f,
						A, in, 0.0f, ga, T);
			cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, T, out, 1.0f,
						D, out, 0.0f, gd, T);
			for (int t = 0; t < T; t++)
			{
				sq += (double) ga[t * T + t] * gd[t * T + t];
				bsq += gd[t * T + t];
				for (int s = t + 1; s < T; s++)
				{
					sq += 2.0 * (double) ga[t * T + s] * gd[t * T + s];
					bsq += 2.0 * (double) gd[t * T + s];
				}
			}
		}
		else
		{
			/* G (out x in) = D^T (out x T) A (T x in) */
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, T,
						1.0f, D, out, A, in, 0.0f, scratch, in);
			sq = row_sq_norm(scratch, out * in);
			for (int j = 0; j < out && bias; j++)
			{
				double		b = 0.0;

				for (int t = 0; t < T; t++)
					b += D[(int64) t * out + j];
				bsq += b * b;
			}
		}
		sq_norms[i] += sq + (bias ? bsq : 0.0);
	}
}

/* ssyrk's two triangles cost T^2 (in + out), the sgemm 2 T in out */
bool
dp_seq_linear_ghost(int T, int in, int out)
{
	return (double) T * (in + out) <= 2.0 * in * out;
}

/* What dp_seq_linear_sq_norms needs for the strategy dp_seq_linear_ghost picks */
int64
dp_seq_linear_scratch(int T, int in, int out)
{
	return dp_seq_linear_ghost(T, in, out) ? 2 * (int64) T * T : (int64) in * out;
}

void
dp_clip_factors(const double *sq_norms, int n, double max_grad_norm,
				float *factors)
{
	for (int i = 0; i < n; i++)
	{
		double		norm = sqrt(sq_norms[i]);

		factors[i] = norm > max_grad_norm ? (float) (max_grad_norm / norm) : 1.0f;
	}
}

void
dp_linear_clipped_grad(AigcLinear *l, const float *a, const float *delta,
					   const float *factors, int n)
{
	float	   *scaled = palloc(sizeof(float) * (int64) n * l->out);

	for (int i = 0; i < n; i++)
	{
		const float *src = delta + (int64) i * l->out;
		float	   *dst = scaled + (int64) i * l->out;

		for (int j = 0; j < l->out; j++)
		{
			dst[j] = factors[i] * src[j];
			l->bias.g[j] += dst[j];
		}
	}
	/* dW (out x in) += scaled^T (out x n) * a (n x in) */
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, l->out, l->in, n,
				1.0f, scaled, l->out, a, l->in, 1.0f, l->weight.g, l->in);
	pfree(scaled);
}

void
dp_outer_clipped_sum(float *g, const float *u, const float *v,
					 const float *factors, int n, int out, int in)
{
	float	   *scaled;

	if (u == NULL)
	{
		for (int i = 0; i < n; i++)
			for (int j = 0; j < in; j++)
				g[j] += factors[i] * v[(int64) i * in + j];
		return;
	}
	scaled = palloc(sizeof(float) * (int64) n * out);
	for (int i = 0; i < n; i++)
		for (int j = 0; j < out; j++)
			scaled[(int64) i * out + j] = factors[i] * u[(int64) i * out + j];
	/* g (out x in) += scaled^T (out x n) * v (n x in) */
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, n, 1.0f,
				scaled, out, v, in, 1.0f, g, in);
	pfree(scaled);
}

void
dp_add_noise(float *g, int64 count, double stddev, AigcRng *rng)
{
	for (int64 k = 0; k < count; k++)
		g[k] += (float) (stddev * aigc_rng_normal(rng));
}

/*
 * The gap to the next selected row is geometric, P(gap = k) = (1-q)^(k-1) q,
 * so a batch costs O(q n) draws rather than one per row.
 */
int64
dp_poisson_next(AigcRng *rng, int64 prev, double q)
{
	/* 1 - uniform is in (0, 1], so its log is finite */
	double		skip = floor(log(1.0 - aigc_rng_uniform(rng)) / log1p(-q));

	Assert(q > 0.0 && q <= 1.0);
	/* q = 1: log1p(-1) = -inf and the skip is 0 */
	if (!(skip < (double) (PG_INT64_MAX / 2)) || prev >= PG_INT64_MAX / 2)
		return PG_INT64_MAX;
	return prev + 1 + (int64) skip;
}
