/*
 * layers.c
 *		Linear and ReLU layers over OpenBLAS.
 */
#include "postgres.h"

#include <math.h>
#include <string.h>
#include <cblas.h>

#include "layers.h"

/*
 * torch.nn.Linear's default initialisation (Kaiming-uniform with a = sqrt(5))
 * reduces to U(-1/sqrt(in), 1/sqrt(in)) for weights and bias; using the same
 * keeps comparisons with TVAE and CTGAN like for like.
 */
void
aigc_linear_init(AigcLinear *l, int in, int out, AigcRng *rng)
{
	double		bound = 1.0 / sqrt((double) in);

	l->in = in;
	l->out = out;
	l->weight.n = (int64) in * out;
	l->weight.w = palloc(sizeof(float) * l->weight.n);
	l->weight.g = palloc0(sizeof(float) * l->weight.n);
	l->bias.n = out;
	l->bias.w = palloc(sizeof(float) * out);
	l->bias.g = palloc0(sizeof(float) * out);
	for (int64 i = 0; i < l->weight.n; i++)
		l->weight.w[i] = (float) ((2.0 * aigc_rng_uniform(rng) - 1.0) * bound);
	for (int i = 0; i < out; i++)
		l->bias.w[i] = (float) ((2.0 * aigc_rng_uniform(rng) - 1.0) * bound);
}

void
aigc_linear_forward(const AigcLinear *l, const float *x, int n, float *y)
{
	for (int r = 0; r < n; r++)
		memcpy(y + (int64) r * l->out, l->bias.w, sizeof(float) * l->out);

	/*
	 * One row (scoring in a trigger) is a matrix-vector product: sgemm would
	 * pack the whole weight matrix first, several times slower than sgemv.
	 */
	if (n == 1)
	{
		cblas_sgemv(CblasRowMajor, CblasNoTrans, l->out, l->in, 1.0f,
					l->weight.w, l->in, x, 1, 1.0f, y, 1);
		return;
	}
	/* y (n x out) += x (n x in) * W^T (in x out) */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, l->out, l->in,
				1.0f, x, l->in, l->weight.w, l->in, 1.0f, y, l->out);
}

void
aigc_linear_backward(AigcLinear *l, const float *x, const float *dy, int n, float *dx)
{
	/* dW (out x in) += dy^T (out x n) * x (n x in) */
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, l->out, l->in, n,
				1.0f, dy, l->out, x, l->in, 1.0f, l->weight.g, l->in);
	for (int r = 0; r < n; r++)
	{
		const float *row = dy + (int64) r * l->out;

		for (int j = 0; j < l->out; j++)
			l->bias.g[j] += row[j];
	}
	/* dx (n x in) = dy (n x out) * W (out x in) */
	if (dx != NULL)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, l->in, l->out,
					1.0f, dy, l->out, l->weight.w, l->in, 0.0f, dx, l->in);
}

/* Floating-point operations of one forward plus backward pass, for benchmarks */
double
aigc_linear_flops(const AigcLinear *l, int n, bool need_dx)
{
	double		one = 2.0 * n * l->in * l->out;

	return one * (need_dx ? 3.0 : 2.0);
}

void
aigc_relu_forward(float *y, int64 count)
{
	/* branch-free so the compiler vectorises it */
	for (int64 i = 0; i < count; i++)
		y[i] = y[i] > 0.0f ? y[i] : 0.0f;
}

void
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
