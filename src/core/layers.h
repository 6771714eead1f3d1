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

#include "core/columns.h"
#include "core/rng.h"

/* Most hidden layers of any network */
#define AIGC_MAX_HIDDEN 8

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
/* The initial values of aigc_linear_init into a layer already placed */
extern void aigc_linear_fill(AigcLinear *l, AigcRng *rng);
extern void aigc_linear_forward(const AigcLinear *l, const float *x, int n, float *y);
/*
 * yt (out x n) = (x W^T + b)^T: the output of n rows slot-major, for
 * consumers that work down each output's column (sampling's decoding)
 */
extern void aigc_linear_forward_t(const AigcLinear *l, const float *x, int n,
								  float *yt);
/* y = ReLU(x W^T + b), the bias and the activation in one pass */
extern void aigc_linear_relu_forward(const AigcLinear *l, const float *x, int n,
									 float *y);
extern void aigc_linear_backward(AigcLinear *l, const float *x, const float *dy,
								 int n, float *dx);
/* dx (n x in) = dy W, without touching the parameters' gradients */
extern void aigc_linear_input_grad(const AigcLinear *l, const float *dy, int n,
								   float *dx);
extern double aigc_linear_flops(const AigcLinear *l, int n, bool need_dx);

/*
 * The same products on inputs whose rows are ldx floats apart (a column
 * range of a wider matrix): y (n x out) = x W^T, plus b with bias
 */
extern void aigc_linear_forward_ld(const AigcLinear *l, const float *x, int ldx,
								   int n, float *y, bool bias);
/* y = ReLU(x W^T + b), from rows ldx apart into rows ldy apart */
extern void aigc_linear_relu_forward_ld(const AigcLinear *l, const float *x,
										int ldx, int n, float *y, int ldy);
/* W's gradient += dy^T x, and with bias b's += dy's column sums */
extern void aigc_linear_param_grad(AigcLinear *l, const float *x, int ldx,
								   const float *dy, int n, bool bias);
/*
 * Part `part` of nparts of the same (its share of W's columns and of the
 * bias), for threads splitting one gradient without a reduction
 */
extern void aigc_linear_param_grad_part(AigcLinear *l, const float *x, int ldx,
										const float *dy, int n, bool bias,
										int part, int nparts);
/*
 * dx's first cols columns (rows lddx apart) = dy W[:, :cols], or += with
 * accumulate: the input gradient of only the inputs that need one
 */
extern void aigc_linear_input_grad_cols(const AigcLinear *l, const float *dy,
										int n, int cols, float *dx, int lddx,
										bool accumulate);

/*
 * A batch of input rows that are mostly zeros (one-hot spans) as compressed
 * sparse rows, for a first layer: its product becomes a sum of weight rows
 * and its weight gradient a scatter-add, in proportion to the non-zeros
 * instead of the width.  The weight is transposed for the gather (in x out,
 * contiguous per input column) and its gradient gathered transposed too.
 */
typedef struct AigcSparseRows
{
	int			n;				/* rows held */
	int			in;				/* width of the rows */
	int			out;			/* the layer's outputs */
	int64		capacity;		/* non-zeros it can hold */
	int		   *start;			/* (B + 1) each row's first non-zero */
	int		   *index;			/* (capacity) column of each non-zero */
	float	   *value;			/* (capacity) its value */
	float	   *wt;				/* (in, out) the weight, transposed */
	float	   *gt;				/* (in, out) its gradient, transposed */
} AigcSparseRows;

/* For batches of up to `batch` rows holding at most max_density non-zeros */
extern void aigc_sparse_rows_init(AigcSparseRows *s, int batch, int in, int out,
								  double max_density);

/*
 * Holds the non-zeros of x (n x in) unless there are more than
 * max_density x n x in of them; returns whether it did.
 */
extern bool aigc_sparse_rows_fill(AigcSparseRows *s, const float *x, int n,
								  double max_density);
/* y (n x out) = x W^T + b from the sparse rows, ReLU applied when relu */
extern void aigc_linear_sparse_forward(const AigcLinear *l, AigcSparseRows *s,
									   float *y, bool relu);
/* The parameters' gradients from dy (n x out); no input gradient */
extern void aigc_linear_sparse_backward(AigcLinear *l, AigcSparseRows *s,
										const float *dy);

/* ReLU in place; backward uses the saved output */
extern void aigc_relu_forward(float *y, int64 count);
extern void aigc_relu_backward(const float *y, float *dy, int64 count);

/*
 * The discriminator's hidden activation after its product, in one pass:
 * y (n x dim) = LeakyReLU(y + bias) times an inverted-dropout mask of 0 or
 * 1/(1-p) drawn from rng (rng NULL, evaluation: no dropout); deriv gets
 * d y / d (y + bias), the slope times the mask, for backward.
 */
extern void aigc_bias_leaky_dropout(float *y, const float *bias, int n, int dim,
									float slope, double p, AigcRng *rng,
									float *deriv);
extern void aigc_mul_inplace(float *dy, const float *mask, int64 count);

/*
 * BatchNorm1d as torch implements it: batch statistics (biased variance) in
 * training, running mean and (unbiased) variance updated with momentum
 * otherwise used in evaluation.
 */
typedef struct AigcBatchNorm
{
	int			dim;
	double		momentum;
	double		eps;
	AigcParam	gamma;
	AigcParam	beta;
	float	   *running_mean;
	float	   *running_var;
	float	   *inv_std;		/* of the last training batch, for backward */
	float	   *scratch;		/* 3 x dim per-feature sums and factors */
} AigcBatchNorm;

extern void aigc_batchnorm_init(AigcBatchNorm *bn, int dim);

/*
 * Batch norm then ReLU, for x (n x dim) a linear layer's output without
 * its bias (in training the batch's mean cancels it, in evaluation it is
 * added here).  Training replaces x by xhat, kept for backward; y gets the
 * ReLU's output, its rows ldy floats apart.  Only columns [first, first +
 * count) (0 and dim: all): the statistics are per column, so threads can
 * each take a range.
 */
extern void aigc_batchnorm_relu_forward(AigcBatchNorm *bn, float *x,
										const float *bias, int n, bool training,
										float *y, int ldy, int first, int count);

/*
 * From dy, the gradient of the ReLU's output y (rows lddy and ldy apart), to
 * dx (n x dim), that of the batch norm's input; adds gamma's and beta's
 * gradients.  Columns [first, first + count) only, as forward.
 */
extern void aigc_batchnorm_relu_backward(AigcBatchNorm *bn, const float *xhat,
										 const float *y, int ldy,
										 const float *dy, int lddy, int n,
										 float *dx, int first, int count);

/* Softmax of w logits into out (which may equal in) */
extern void aigc_softmax(const float *in, float *out, int w);

/*
 * The output activations of n encoded rows (n x D): softmax of `in` over
 * every one-hot span, tanh of scalar_in on every scalar slot.  out may equal
 * in; scratch is n x D.
 */
extern void aigc_spans_activate(const AigcSpan *spans, int nspans, int D, int n,
								const float *in, const float *scalar_in,
								float *out, float *scratch);

/*
 * The same, in place, on n rows held slot-major: t is D x n, slot j of row
 * r at t[j * n + r] (aigc_linear_forward_t's output), as sampling decodes.
 */
extern void aigc_spans_activate_t(const AigcSpan *spans, int nspans, int n,
								  float *t);

/*
 * Gumbel-softmax (hard = false) of w logits at temperature tau; backward
 * needs only the output.
 */
/*
 * (logits + g) / tau with Gumbel(0, 1) noise g, for count values: the
 * forward's first half, over many spans at once when they are contiguous
 */
extern void aigc_gumbel_noise(const float *logits, float *y, int64 count,
							  double tau, AigcRng *rng);
extern void aigc_gumbel_softmax_forward(const float *logits, float *y, int w,
										double tau, AigcRng *rng);
extern void aigc_gumbel_softmax_backward(const float *y, const float *dy,
										 float *dlogits, int w, double tau);

/* Sum of parameters' gradients to zero */
extern void aigc_params_zero_grad(AigcParam *params, int nparams);

/*
 * What a training run will allocate, estimated before it allocates it: the
 * total bytes and the largest single allocation (palloc refuses more than
 * MaxAllocSize).  Doubles, so absurd sizes cannot overflow.
 */
typedef struct AigcSizeEstimate
{
	double		total;
	double		largest;
} AigcSizeEstimate;

/* One allocation of count values of size bytes each */
extern void aigc_size_add(AigcSizeEstimate *e, double count, double size);

/*
 * A trainable tensor of n floats as training holds it: the values, their
 * gradient and Adam's two moments, four allocations.
 */
extern void aigc_size_add_param(AigcSizeEstimate *e, double n);

/* A Linear layer's weight and bias as trainable tensors; returns in * out + out */
extern double aigc_size_add_linear(AigcSizeEstimate *e, double in, double out);

/* What aigc_sparse_rows_init allocates */
extern void aigc_size_add_sparse_rows(AigcSizeEstimate *e, double batch,
									  double in, double out, double max_density);

#endif
