/*
 * logreg.c
 *		L2-regularised logistic regression fitted by Nesterov's accelerated
 *		gradient descent, every product through OpenBLAS sgemv.
 *
 * Minimises mean(log loss) + l2/2 ||w||^2 (the last weight, the bias, is
 * not penalised).  The step is 1/L with L = max eig(X'X/n)/4 + l2, the
 * gradient's Lipschitz constant, estimated by power iteration, so the
 * descent needs no tuning and is deterministic.
 */
#include "postgres.h"

#include <math.h>
#include <string.h>

#include <cblas.h>

#include "miscadmin.h"

#include "eval/evaluate.h"

#define POWER_ITERATIONS 30

static double
lipschitz(const float *x, int n, int dim, double l2, float *v, float *xv)
{
	double		lambda = 0.0;

	for (int k = 0; k < dim; k++)
		v[k] = 1.0f / sqrtf((float) dim);
	for (int it = 0; it < POWER_ITERATIONS; it++)
	{
		float		norm;

		cblas_sgemv(CblasRowMajor, CblasNoTrans, n, dim, 1.0f, x, dim, v, 1, 0.0f, xv, 1);
		cblas_sgemv(CblasRowMajor, CblasTrans, n, dim, 1.0f / n, x, dim, xv, 1, 0.0f, v, 1);
		norm = cblas_snrm2(dim, v, 1);
		if (norm <= 0.0f)
			break;
		lambda = norm;
		cblas_sscal(dim, 1.0f / norm, v, 1);
	}
	return 0.25 * lambda + l2;
}

void
aigc_logreg_fit(const float *x, const float *y, int n, int dim, double l2,
				int iterations, float *w)
{
	float	   *u = palloc0(sizeof(float) * dim);
	float	   *prev = palloc0(sizeof(float) * dim);
	float	   *grad = palloc(sizeof(float) * dim);
	float	   *z = palloc(sizeof(float) * Max(n, 1));
	double		step;

	step = 1.0 / lipschitz(x, n, dim, l2, grad, z);
	memset(w, 0, sizeof(float) * dim);
	for (int it = 0; it < iterations; it++)
	{
		float		momentum = (float) it / (it + 3);

		CHECK_FOR_INTERRUPTS();
		/* gradient at the look-ahead point u */
		cblas_sgemv(CblasRowMajor, CblasNoTrans, n, dim, 1.0f, x, dim, u, 1, 0.0f, z, 1);
		for (int i = 0; i < n; i++)
			z[i] = 1.0f / (1.0f + expf(-z[i])) - y[i];
		cblas_sgemv(CblasRowMajor, CblasTrans, n, dim, 1.0f / n, x, dim, z, 1, 0.0f, grad, 1);
		cblas_saxpy(dim - 1, (float) l2, u, 1, grad, 1);

		memcpy(prev, w, sizeof(float) * dim);
		for (int k = 0; k < dim; k++)
		{
			w[k] = u[k] - (float) step * grad[k];
			u[k] = w[k] + momentum * (w[k] - prev[k]);
		}
	}
	pfree(u);
	pfree(prev);
	pfree(grad);
	pfree(z);
}

void
aigc_standardise(float *x, int n, int ntrain, int dim)
{
	for (int k = 0; k < dim - 1; k++)
	{
		double		mean = 0.0,
					var = 0.0;
		float		inv;

		for (int i = 0; i < ntrain; i++)
			mean += x[(Size) i * dim + k];
		mean /= ntrain;
		for (int i = 0; i < ntrain; i++)
			var += (x[(Size) i * dim + k] - mean) * (x[(Size) i * dim + k] - mean);
		inv = var > 0.0 ? (float) (1.0 / sqrt(var / ntrain)) : 0.0f;
		for (int i = 0; i < n; i++)
			x[(Size) i * dim + k] = (float) ((x[(Size) i * dim + k] - mean) * inv);
	}
}
