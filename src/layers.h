/*
 * layers.h
 *		Neural-network layers with a forward and a matching backward pass.
 *
 * Activations are row-major batches (n rows x width).  Every matrix
 * product goes through cblas_sgemm.  Backward passes accumulate parameter
 * gradients (callers zero them once per step) and overwrite input
 * gradients.
 */
#ifndef AIGC_LAYERS_H
#define AIGC_LAYERS_H

#include "postgres.h"

#include "rng.h"

/* A trainable tensor with its gradient, as the optimiser sees it. */
typedef struct AigcParam
{
	float	   *w;
	float	   *g;
	int64		n;
} AigcParam;

/* y = x W^T + b, W is out x in as in torch.nn.Linear */
typedef struct AigcLinear
{
	int			in;
	int			out;
	AigcParam	weight;
	AigcParam	bias;
} AigcLinear;

extern void aigc_linear_init(AigcLinear *l, int in, int out, AigcRng *rng);
extern void aigc_linear_forward(const AigcLinear *l, const float *x, int n, float *y);
extern void aigc_linear_backward(AigcLinear *l, const float *x, const float *dy,
								 int n, float *dx);
extern double aigc_linear_flops(const AigcLinear *l, int n, bool need_dx);

/* ReLU in place; backward uses the saved output */
extern void aigc_relu_forward(float *y, int64 count);
extern void aigc_relu_backward(const float *y, float *dy, int64 count);

/* Sum of parameters' gradients to zero */
extern void aigc_params_zero_grad(AigcParam *params, int nparams);

#endif
