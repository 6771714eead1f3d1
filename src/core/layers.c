/*
 * layers.c
 *		Linear, ReLU, dropout, batch-norm and softmax layers; the products go
 *		to OpenBLAS, the element-wise loops are written to vectorise.
 */
#include "postgres.h"

#include <math.h>
#include <string.h>
#include <cblas.h>

#include "core/fastmath.h"
#include "core/layers.h"
#include "core/threads.h"

/* random draws are taken in chunks of this many (even) before a vector pass */
#define RNG_CHUNK 256

/*
 * torch.nn.Linear's default initialisation (Kaiming-uniform with a = sqrt(5))
 * reduces to U(-1/sqrt(in), 1/sqrt(in)) for weights and bias; using the same
 * keeps comparisons with TVAE and CTGAN like for like.
 */
void
aigc_linear_init(AigcLinear *l, int in, int out, AigcRng *rng)
{
	l->in = in;
	l->out = out;
	l->weight.n = (int64) in * out;
	l->weight.w = palloc(sizeof(float) * l->weight.n);
	l->weight.g = palloc0(sizeof(float) * l->weight.n);
	l->bias.n = out;
	l->bias.w = palloc(sizeof(float) * out);
	l->bias.g = palloc0(sizeof(float) * out);
	aigc_linear_fill(l, rng);
}

void
aigc_linear_fill(AigcLinear *l, AigcRng *rng)
{
	double		bound = 1.0 / sqrt((double) l->in);

	for (int64 i = 0; i < l->weight.n; i++)
		l->weight.w[i] = (float) ((2.0 * aigc_rng_uniform(rng) - 1.0) * bound);
	for (int i = 0; i < l->out; i++)
		l->bias.w[i] = (float) ((2.0 * aigc_rng_uniform(rng) - 1.0) * bound);
}

/* y (n x out, rows ldy apart) += b, with ReLU applied when relu */
static AIGC_VECTOR_CLONES void
add_bias(float *y, int ldy, const float *b, int n, int out, bool relu)
{
	for (int r = 0; r < n; r++)
	{
		float	   *yr = y + (int64) r * ldy;

		if (relu)
			for (int j = 0; j < out; j++)
			{
				float		v = yr[j] + b[j];

				yr[j] = v > 0.0f ? v : 0.0f;
			}
		else
			for (int j = 0; j < out; j++)
				yr[j] += b[j];
	}
}

/* y (n x out, rows ldy apart) = x W^T, plus b with bias, ReLU'd with relu */
static void
linear_forward(const AigcLinear *l, const float *x, int ldx, int n, float *y,
			   int ldy, bool bias, bool relu)
{
	/*
	 * One row (scoring in a trigger) is a matrix-vector product: sgemm would
	 * pack the whole weight matrix first, several times slower than sgemv.
	 */
	if (n == 1)
		cblas_sgemv(CblasRowMajor, CblasNoTrans, l->out, l->in, 1.0f,
					l->weight.w, l->in, x, 1, 0.0f, y, 1);
	else
		/* y (n x out) = x (n x in) * W^T (in x out) */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, l->out, l->in,
					1.0f, x, ldx, l->weight.w, l->in, 0.0f, y, ldy);
	/* the bias and the activation in one pass over y */
	if (bias)
		add_bias(y, ldy, l->bias.w, n, l->out, relu);
}

void
aigc_linear_forward(const AigcLinear *l, const float *x, int n, float *y)
{
	linear_forward(l, x, l->in, n, y, l->out, true, false);
}

/* yt (out x n) += b down each row: bias j on output j's row */
static AIGC_VECTOR_CLONES void
add_bias_t(float *yt, const float *b, int n, int out)
{
	for (int j = 0; j < out; j++)
		for (int r = 0; r < n; r++)
			yt[(int64) j * n + r] += b[j];
}

void
aigc_linear_forward_t(const AigcLinear *l, const float *x, int n, float *yt)
{
	/* yt (out x n) = W (out x in) * x^T (in x n): sgemm transposes in packing */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, l->out, n, l->in,
				1.0f, l->weight.w, l->in, x, l->in, 0.0f, yt, n);
	add_bias_t(yt, l->bias.w, n, l->out);
}

void
aigc_linear_relu_forward(const AigcLinear *l, const float *x, int n, float *y)
{
	linear_forward(l, x, l->in, n, y, l->out, true, true);
}

void
aigc_linear_relu_forward_ld(const AigcLinear *l, const float *x, int ldx, int n,
							float *y, int ldy)
{
	linear_forward(l, x, ldx, n, y, ldy, true, true);
}

/* g (w) += the column sums of dy (n x w, rows ld apart) */
static AIGC_VECTOR_CLONES void
add_column_sums(const float *dy, int n, int w, int ld, float *g)
{
	for (int r = 0; r < n; r++)
	{
		const float *row = dy + (int64) r * ld;

		for (int j = 0; j < w; j++)
			g[j] += row[j];
	}
}

void
aigc_linear_backward(AigcLinear *l, const float *x, const float *dy, int n, float *dx)
{
	aigc_linear_param_grad(l, x, l->in, dy, n, true);
	if (dx != NULL)
		aigc_linear_input_grad(l, dy, n, dx);
}

void
aigc_linear_input_grad(const AigcLinear *l, const float *dy, int n, float *dx)
{
	aigc_linear_input_grad_cols(l, dy, n, l->in, dx, l->in, false);
}

void
aigc_linear_forward_ld(const AigcLinear *l, const float *x, int ldx, int n,
					   float *y, bool bias)
{
	linear_forward(l, x, ldx, n, y, l->out, bias, false);
}

void
aigc_linear_param_grad(AigcLinear *l, const float *x, int ldx, const float *dy,
					   int n, bool bias)
{
	aigc_linear_param_grad_part(l, x, ldx, dy, n, bias, 0, 1);
}

void
aigc_linear_param_grad_part(AigcLinear *l, const float *x, int ldx,
							const float *dy, int n, bool bias, int part,
							int nparts)
{
	int64		first,
				count;

	/* dW[:, cols] (out x cols) += dy^T (out x n) * x[:, cols] (n x cols) */
	aigc_split(l->in, part, nparts, &first, &count);
	if (count > 0)
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, l->out, (int) count,
					n, 1.0f, dy, l->out, x + first, ldx, 1.0f,
					l->weight.g + first, l->in);
	aigc_split(l->out, part, nparts, &first, &count);
	if (bias && count > 0)
		add_column_sums(dy + first, n, (int) count, l->out, l->bias.g + first);
}

void
aigc_linear_input_grad_cols(const AigcLinear *l, const float *dy, int n,
							int cols, float *dx, int lddx, bool accumulate)
{
	/* dx (n x cols) = dy (n x out) * W[:, :cols] (out x cols) */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, cols, l->out,
				1.0f, dy, l->out, l->weight.w, l->in, accumulate ? 1.0f : 0.0f,
				dx, lddx);
}

/* Floating-point operations of one forward plus backward pass, for benchmarks */
double
aigc_linear_flops(const AigcLinear *l, int n, bool need_dx)
{
	double		one = 2.0 * n * l->in * l->out;

	return one * (need_dx ? 3.0 : 2.0);
}

/* Non-zeros held for batches of `batch` rows: what fill may accept */
static int64
sparse_capacity(double batch, double in, double max_density)
{
	return (int64) ceil(Min(Max(max_density, 0.0), 1.0) * batch * in);
}

void
aigc_sparse_rows_init(AigcSparseRows *s, int batch, int in, int out,
					  double max_density)
{
	s->n = 0;
	s->in = in;
	s->out = out;
	s->capacity = sparse_capacity(batch, in, max_density);
	s->start = palloc(sizeof(int) * (batch + 1));
	s->index = palloc(sizeof(int) * s->capacity);
	s->value = palloc(sizeof(float) * s->capacity);
	s->wt = palloc(sizeof(float) * (Size) in * out);
	s->gt = palloc(sizeof(float) * (Size) in * out);
}

bool
aigc_sparse_rows_fill(AigcSparseRows *s, const float *x, int n,
					  double max_density)
{
	int			in = s->in;
	int64		limit = (int64) (max_density * n * in);
	int64		k = 0;

	limit = Min(limit, s->capacity);
	for (int r = 0; r < n; r++)
	{
		const float *xr = x + (int64) r * in;

		s->start[r] = (int) k;
		for (int j = 0; j < in; j++)
			if (xr[j] != 0.0f)
			{
				if (k >= limit)
					return false;
				s->index[k] = j;
				s->value[k++] = xr[j];
			}
	}
	s->start[n] = (int) k;
	s->n = n;
	return true;
}

/* yr (w) += v * row (w) */
static inline void
axpy(float *restrict yr, const float *restrict row, float v, int w)
{
	for (int j = 0; j < w; j++)
		yr[j] += v * row[j];
}

AIGC_VECTOR_CLONES void
aigc_linear_sparse_forward(const AigcLinear *l, AigcSparseRows *s, float *y,
						   bool relu)
{
	int			in = l->in;
	int			out = l->out;

	Assert(s->in == in && s->out == out);
	/* W (out x in) to wt (in x out): input column j's weights contiguous */
	for (int o = 0; o < out; o++)
		for (int j = 0; j < in; j++)
			s->wt[(int64) j * out + o] = l->weight.w[(int64) o * in + j];
	for (int r = 0; r < s->n; r++)
	{
		float	   *yr = y + (int64) r * out;

		memcpy(yr, l->bias.w, sizeof(float) * out);
		for (int k = s->start[r]; k < s->start[r + 1]; k++)
			axpy(yr, s->wt + (int64) s->index[k] * out, s->value[k], out);
		if (relu)
			for (int j = 0; j < out; j++)
				yr[j] = yr[j] > 0.0f ? yr[j] : 0.0f;
	}
}

AIGC_VECTOR_CLONES void
aigc_linear_sparse_backward(AigcLinear *l, AigcSparseRows *s, const float *dy)
{
	int			in = l->in;
	int			out = l->out;

	Assert(s->in == in && s->out == out);
	/* gt (in x out): row j += value x dy's row, for each non-zero in column j */
	memset(s->gt, 0, sizeof(float) * (Size) in * out);
	for (int r = 0; r < s->n; r++)
		for (int k = s->start[r]; k < s->start[r + 1]; k++)
			axpy(s->gt + (int64) s->index[k] * out, dy + (int64) r * out,
				 s->value[k], out);
	for (int o = 0; o < out; o++)
		for (int j = 0; j < in; j++)
			l->weight.g[(int64) o * in + j] += s->gt[(int64) j * out + o];
	add_column_sums(dy, s->n, out, out, l->bias.g);
}

/* Branch-free (the signs are random) so that the loops vectorise */
AIGC_VECTOR_CLONES void
aigc_relu_forward(float *y, int64 count)
{
	for (int64 i = 0; i < count; i++)
		y[i] = y[i] > 0.0f ? y[i] : 0.0f;
}

AIGC_VECTOR_CLONES void
aigc_relu_backward(const float *y, float *dy, int64 count)
{
	for (int64 i = 0; i < count; i++)
		dy[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

void
aigc_params_zero_grad(AigcParam *params, int nparams)
{
	for (int i = 0; i < nparams; i++)
		memset(params[i].g, 0, sizeof(float) * params[i].n);
}

/* mask, slope and scale a chunk of a row; bits NULL: no dropout */
static AIGC_VECTOR_CLONES void
leaky_dropout_chunk(float *restrict y, const float *restrict b,
					float *restrict deriv, const uint32 *restrict bits,
					int count, float slope, uint32 threshold, float keep)
{
	if (bits == NULL)
		for (int i = 0; i < count; i++)
		{
			float		v = y[i] + b[i];
			float		d = v < 0.0f ? slope : 1.0f;

			y[i] = v * d;
			deriv[i] = d;
		}
	else
		for (int i = 0; i < count; i++)
		{
			float		v = y[i] + b[i];
			float		d = (v < 0.0f ? slope : 1.0f) *
				(bits[i] < threshold ? 0.0f : keep);

			y[i] = v * d;
			deriv[i] = d;
		}
}

/*
 * One pass after the product: each unit's 32-bit uniform is one half of a
 * 64-bit draw (a row's odd unit wastes the other half), compared as an
 * integer so that the loop vectorises.
 */
void
aigc_bias_leaky_dropout(float *y, const float *bias, int n, int dim,
						float slope, double p, AigcRng *rng, float *deriv)
{
	float		keep = (float) (1.0 / (1.0 - p));
	uint32		threshold = (uint32) Min(p * 4294967296.0, 4294967295.0);
	uint32		bits[RNG_CHUNK];
	uint64		draws[RNG_CHUNK / 2];

	for (int r = 0; r < n; r++)
		for (int done = 0; done < dim; done += RNG_CHUNK)
		{
			int			m = Min(RNG_CHUNK, dim - done);
			int64		at = (int64) r * dim + done;

			if (rng != NULL)
			{
				aigc_rng_fill(rng, draws, (m + 1) / 2);
				memcpy(bits, draws, sizeof(uint32) * m);
			}
			leaky_dropout_chunk(y + at, bias + done, deriv + at,
								rng != NULL ? bits : NULL, m, slope, threshold, keep);
		}
}

AIGC_VECTOR_CLONES void
aigc_mul_inplace(float *dy, const float *mask, int64 count)
{
	for (int64 i = 0; i < count; i++)
		dy[i] *= mask[i];
}

void
aigc_batchnorm_init(AigcBatchNorm *bn, int dim)
{
	bn->dim = dim;
	bn->momentum = 0.1;
	bn->eps = 1e-5;
	bn->gamma.n = dim;
	bn->gamma.w = palloc(sizeof(float) * dim);
	bn->gamma.g = palloc0(sizeof(float) * dim);
	bn->beta.n = dim;
	bn->beta.w = palloc0(sizeof(float) * dim);
	bn->beta.g = palloc0(sizeof(float) * dim);
	bn->running_mean = palloc0(sizeof(float) * dim);
	bn->running_var = palloc(sizeof(float) * dim);
	bn->inv_std = palloc(sizeof(float) * dim);
	bn->scratch = palloc(sizeof(float) * 3 * dim);
	for (int j = 0; j < dim; j++)
		bn->gamma.w[j] = bn->running_var[j] = 1.0f;
}

/*
 * Training: the per-feature mean and biased variance of x in two float
 * passes (the second about the mean, so no digits cancel), then x becomes
 * xhat and y = ReLU(gamma xhat + beta).  The layer's bias shifts x and its
 * mean alike, so it only enters the running mean.
 */
AIGC_VECTOR_CLONES void
aigc_batchnorm_relu_forward(AigcBatchNorm *bn, float *x, const float *bias,
							int n, bool training, float *y, int ldy, int first,
							int count)
{
	int			ld = bn->dim;
	int			d = count;
	float	   *restrict centre = bn->scratch + first;
	float	   *restrict scale = centre + ld;
	float	   *restrict shift = scale + ld;
	const float *restrict gamma = bn->gamma.w + first;
	const float *restrict beta = bn->beta.w + first;
	float	   *restrict running_mean = bn->running_mean + first;
	float	   *restrict running_var = bn->running_var + first;
	float	   *restrict inv_std = bn->inv_std + first;

	x += first;
	y += first;
	bias += first;

	if (training)
	{
		float	   *restrict ss = shift;

		memset(centre, 0, sizeof(float) * d);
		memset(ss, 0, sizeof(float) * d);
		for (int r = 0; r < n; r++)
		{
			const float *restrict xr = x + (int64) r * ld;

			for (int j = 0; j < d; j++)
				centre[j] += xr[j];
		}
		for (int j = 0; j < d; j++)
			centre[j] /= n;
		for (int r = 0; r < n; r++)
		{
			const float *restrict xr = x + (int64) r * ld;

			for (int j = 0; j < d; j++)
				ss[j] += (xr[j] - centre[j]) * (xr[j] - centre[j]);
		}
		for (int j = 0; j < d; j++)
		{
			double		var = (double) ss[j] / n;

			running_mean[j] = (float) ((1.0 - bn->momentum) * running_mean[j] +
										   bn->momentum * ((double) centre[j] + bias[j]));
			running_var[j] = (float) ((1.0 - bn->momentum) * running_var[j] +
										  bn->momentum * (n > 1 ? (double) ss[j] / (n - 1) : var));
			inv_std[j] = scale[j] = (float) (1.0 / sqrt(var + bn->eps));
		}
		for (int r = 0; r < n; r++)
		{
			float	   *restrict xr = x + (int64) r * ld;
			float	   *restrict yr = y + (int64) r * ldy;

			for (int j = 0; j < d; j++)
			{
				float		h = (xr[j] - centre[j]) * scale[j];
				float		v = gamma[j] * h + beta[j];

				xr[j] = h;
				yr[j] = v > 0.0f ? v : 0.0f;
			}
		}
	}
	else
	{
		/* y = ReLU((x + bias - running mean) gamma inv_std + beta) */
		for (int j = 0; j < d; j++)
		{
			inv_std[j] = (float) (1.0 / sqrt(running_var[j] + bn->eps));
			scale[j] = gamma[j] * inv_std[j];
			shift[j] = beta[j] + (bias[j] - running_mean[j]) * scale[j];
		}
		for (int r = 0; r < n; r++)
		{
			const float *restrict xr = x + (int64) r * ld;
			float	   *restrict yr = y + (int64) r * ldy;

			for (int j = 0; j < d; j++)
			{
				float		v = xr[j] * scale[j] + shift[j];

				yr[j] = v > 0.0f ? v : 0.0f;
			}
		}
	}
}

/*
 * g = dy where the ReLU's output y > 0, then dx = gamma inv_std (g -
 * mean(g) - xhat mean(g xhat)), the batch statistics being functions of x
 * too: a pass for the sums, one for dx.
 */
AIGC_VECTOR_CLONES void
aigc_batchnorm_relu_backward(AigcBatchNorm *bn, const float *xhat,
							 const float *y, int ldy, const float *dy,
							 int lddy, int n, float *dx, int first, int count)
{
	int			ld = bn->dim;
	int			d = count;
	float	   *restrict sdy = bn->scratch + first;
	float	   *restrict sdyx = sdy + ld;
	float	   *restrict factor = sdyx + ld;
	float	   *restrict gbeta = bn->beta.g + first;
	float	   *restrict ggamma = bn->gamma.g + first;
	const float *restrict gamma = bn->gamma.w + first;
	const float *restrict inv_std = bn->inv_std + first;

	xhat += first;
	y += first;
	dy += first;
	dx += first;
	memset(sdy, 0, sizeof(float) * d);
	memset(sdyx, 0, sizeof(float) * d);
	for (int r = 0; r < n; r++)
	{
		const float *restrict hr = xhat + (int64) r * ld;
		const float *restrict yr = y + (int64) r * ldy;
		const float *restrict dyr = dy + (int64) r * lddy;
		float	   *restrict dr = dx + (int64) r * ld;

		/* copied first: a select of dr[j], stored anyway, vectorises */
		memcpy(dr, dyr, sizeof(float) * d);
		for (int j = 0; j < d; j++)
		{
			float		g = yr[j] > 0.0f ? dr[j] : 0.0f;

			dr[j] = g;
			sdy[j] += g;
			sdyx[j] += g * hr[j];
		}
	}
	for (int j = 0; j < d; j++)
	{
		gbeta[j] += sdy[j];
		ggamma[j] += sdyx[j];
		factor[j] = gamma[j] * inv_std[j];
		sdy[j] /= n;
		sdyx[j] /= n;
	}
	for (int r = 0; r < n; r++)
	{
		const float *restrict hr = xhat + (int64) r * ld;
		float	   *restrict dr = dx + (int64) r * ld;

		for (int j = 0; j < d; j++)
			dr[j] = factor[j] * (dr[j] - sdy[j] - hr[j] * sdyx[j]);
	}
}

/* fastmath's exp, so that the loops vectorise */
AIGC_VECTOR_CLONES void
aigc_softmax(const float *in, float *out, int w)
{
	float		mx = in[0];
	float		sum = 0.0f;

	for (int k = 1; k < w; k++)
		mx = Max(mx, in[k]);
	for (int k = 0; k < w; k++)
	{
		out[k] = aigc_expf(in[k] - mx);
		sum += out[k];
	}
	for (int k = 0; k < w; k++)
		out[k] /= sum;
}

/* e = exp(a - m), in place allowed (e == a) */
static AIGC_VECTOR_CLONES void
exp_shifted(const float *a, const float *m, float *e, int64 count)
{
	AIGC_IVDEP
	for (int64 i = 0; i < count; i++)
		e[i] = aigc_expf(a[i] - m[i]);
}

/*
 * The spans are short (2-10 values), so their exponentials are taken over
 * the whole block at once, each value shifted by its span's maximum (in
 * scratch); only the maxima, sums and scaling go span by span.
 */
void
aigc_spans_activate(const AigcSpan *spans, int nspans, int D, int n,
					const float *in, const float *scalar_in, float *out,
					float *scratch)
{
	for (int r = 0; r < n; r++)
	{
		const float *a = in + (int64) r * D;
		float	   *m = scratch + (int64) r * D;

		for (int s = 0; s < nspans; s++)
		{
			int			off = spans[s].offset;
			int			w = spans[s].width;
			float		mx = a[off];

			for (int k = 1; k < w; k++)
				mx = Max(mx, a[off + k]);
			for (int k = 0; k < w; k++)
				m[off + k] = mx;
		}
	}
	exp_shifted(in, scratch, out, (int64) n * D);
	for (int r = 0; r < n; r++)
	{
		const float *x = scalar_in + (int64) r * D;
		float	   *a = out + (int64) r * D;

		for (int s = 0; s < nspans; s++)
		{
			int			off = spans[s].offset;
			int			w = spans[s].width;
			float		sum = 0.0f;
			float		inv;

			if (spans[s].is_scalar)
			{
				a[off] = aigc_tanhf(x[off]);
				continue;
			}
			for (int k = 0; k < w; k++)
				sum += a[off + k];
			inv = 1.0f / sum;
			for (int k = 0; k < w; k++)
				a[off + k] *= inv;
		}
	}
}

/*
 * Softmax down the columns of p (w rows of n): each of the n columns is one
 * encoded row's span.  Blocks of SPAN_ROWS columns keep the maxima and sums
 * on the stack and every loop vectorised over rows.
 */
#define SPAN_ROWS 64

static AIGC_VECTOR_CLONES void
softmax_columns(float *p, int w, int n)
{
	for (int r0 = 0; r0 < n; r0 += SPAN_ROWS)
	{
		int			len = Min(SPAN_ROWS, n - r0);
		float		mx[SPAN_ROWS];
		float		sum[SPAN_ROWS];
		float	   *q = p + r0;

		for (int r = 0; r < len; r++)
		{
			mx[r] = q[r];
			sum[r] = 0.0f;
		}
		for (int k = 1; k < w; k++)
			for (int r = 0; r < len; r++)
				mx[r] = Max(mx[r], q[(int64) k * n + r]);
		for (int k = 0; k < w; k++)
			for (int r = 0; r < len; r++)
			{
				float		e = aigc_expf(q[(int64) k * n + r] - mx[r]);

				q[(int64) k * n + r] = e;
				sum[r] += e;
			}
		for (int r = 0; r < len; r++)
			sum[r] = 1.0f / sum[r];
		for (int k = 0; k < w; k++)
			for (int r = 0; r < len; r++)
				q[(int64) k * n + r] *= sum[r];
	}
}

static AIGC_VECTOR_CLONES void
tanh_in_place(float *x, int n)
{
	for (int i = 0; i < n; i++)
		x[i] = aigc_tanhf(x[i]);
}

/* Held slot-major, a span's values for consecutive rows are contiguous */
void
aigc_spans_activate_t(const AigcSpan *spans, int nspans, int n, float *t)
{
	for (int s = 0; s < nspans; s++)
	{
		float	   *p = t + (int64) spans[s].offset * n;

		if (spans[s].is_scalar)
			tanh_in_place(p, n);
		else
			softmax_columns(p, spans[s].width, n);
	}
}

/*
 * (logits + g) / tau for Gumbel(0, 1) noise g = -log(-log u), u in (0, 1)
 * from 23 random bits (1 - 2^-24 at most, which a float holds exactly, and
 * fastmath's log is relatively accurate near 1, so -log u stays positive).
 */
static AIGC_VECTOR_CLONES void
gumbel_chunk(const float *logits, const int32 *bits, float *y, int w,
			 float inv_tau)
{
	for (int k = 0; k < w; k++)
	{
		float		u = ((float) bits[k] + 0.5f) * (1.0f / 8388608.0f);

		y[k] = (logits[k] - aigc_logf(-aigc_logf(u))) * inv_tau;
	}
}

void
aigc_gumbel_noise(const float *logits, float *y, int64 count, double tau,
				  AigcRng *rng)
{
	int32		bits[RNG_CHUNK];
	uint64		draws[RNG_CHUNK];

	for (int64 done = 0; done < count; done += RNG_CHUNK)
	{
		int			m = (int) Min((int64) RNG_CHUNK, count - done);

		aigc_rng_fill(rng, draws, m);
		for (int k = 0; k < m; k++)
			bits[k] = (int32) (draws[k] >> 41);
		gumbel_chunk(logits + done, bits, y + done, m, (float) (1.0 / tau));
	}
}

void
aigc_gumbel_softmax_forward(const float *logits, float *y, int w, double tau,
							AigcRng *rng)
{
	aigc_gumbel_noise(logits, y, w, tau, rng);
	aigc_softmax(y, y, w);
}

void
aigc_gumbel_softmax_backward(const float *y, const float *dy, float *dlogits,
							 int w, double tau)
{
	double		dot = 0.0;

	for (int k = 0; k < w; k++)
		dot += (double) dy[k] * y[k];
	for (int k = 0; k < w; k++)
		dlogits[k] = (float) (y[k] * (dy[k] - dot) / tau);
}

void
aigc_size_add(AigcSizeEstimate *e, double count, double size)
{
	e->total += count * size;
	e->largest = Max(e->largest, count * size);
}

void
aigc_size_add_param(AigcSizeEstimate *e, double n)
{
	for (int i = 0; i < 4; i++)
		aigc_size_add(e, n, sizeof(float));
}

void
aigc_size_add_sparse_rows(AigcSizeEstimate *e, double batch, double in,
						  double out, double max_density)
{
	double		capacity = sparse_capacity(batch, in, max_density);

	aigc_size_add(e, batch + 1, sizeof(int));
	aigc_size_add(e, capacity, sizeof(int));
	aigc_size_add(e, capacity, sizeof(float));
	aigc_size_add(e, in * out, sizeof(float));
	aigc_size_add(e, in * out, sizeof(float));
}

double
aigc_size_add_linear(AigcSizeEstimate *e, double in, double out)
{
	aigc_size_add_param(e, in * out);
	aigc_size_add_param(e, out);
	return in * out + out;
}
