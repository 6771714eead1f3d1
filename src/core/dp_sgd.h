/*
 * dp_sgd.h
 *		Building blocks of DP-SGD: per-example gradient norms of linear
 *		layers without materialising per-example gradients, clipping,
 *		the clipped gradient sum as one GEMM, Gaussian noise and Poisson
 *		subsampling (docs/privacy.md).
 *
 * "Per example" means per row of a batch: the identities hold only while
 * no layer mixes rows (batch norm does; layer or group norm do not), and
 * while delta is the gradient of the *summed* per-example losses.
 */
#ifndef AIGC_DP_SGD_H
#define AIGC_DP_SGD_H

#include "postgres.h"

#include "core/layers.h"
#include "core/rng.h"

/* x . y accumulated in double: per-example norms need the precision */
extern double dp_dot(const float *x, const float *y, int64 len);

/*
 * sq_norms[i] += ||d_i a_i^T||_F^2 (+ ||d_i||^2 with a bias) for the layer
 * y = a W^T + b with input rows a (n x in) and output gradients d (n x out).
 * Summed over the linear layers of a network this is each example's
 * squared gradient norm.
 */
extern void dp_linear_sq_norms(const float *a, const float *delta, int n,
							   int in, int out, bool bias, double *sq_norms);

/*
 * The same for a layer whose per-example weight gradient is a sum of two
 * outer products, d_i a_i^T + u_i v_i^T (the GAN critic's score and its
 * gradient penalty): adds ||d_i||^2 ||a_i||^2 + ||u_i||^2 ||v_i||^2 +
 * 2 (d_i . u_i)(a_i . v_i) (+ ||d_i||^2 with a bias, which only d
 * reaches).  v is (n x in); u (n x out), or NULL for out = 1 and u_i = 1.
 */
extern void dp_linear_pair_sq_norms(const float *a, const float *delta,
									const float *u, const float *v, int n,
									int in, int out, bool bias,
									double *sq_norms);

/*
 * The same for a linear layer applied to each of an example's T positions
 * (a transformer's projections): a (n, T, in), delta (n, T, out), and
 * example i's weight gradient the sum over its positions,
 * G_i = sum_t d_it a_it^T.  With ghost, ||G_i||^2 comes from the
 * positions' Gram matrices, sum_{t,s} (d_it . d_is)(a_it . a_is), in
 * O(T^2 (in + out)) (Li et al. 2022, "ghost clipping"); without, G_i is
 * materialised in O(T in out).  scratch holds dp_seq_linear_scratch floats.
 */
extern void dp_seq_linear_sq_norms(const float *a, const float *delta, int n,
								   int T, int in, int out, bool bias,
								   bool ghost, float *scratch,
								   double *sq_norms);
/* Whether ghost norms cost fewer operations than materialised ones */
extern bool dp_seq_linear_ghost(int T, int in, int out);
/* Scratch floats of the strategy dp_seq_linear_ghost picks */
extern int64 dp_seq_linear_scratch(int T, int in, int out);

/* factors[i] = min(1, max_grad_norm / ||g_i||) from the squared norms */
extern void dp_clip_factors(const double *sq_norms, int n, double max_grad_norm,
							float *factors);

/*
 * The layer's gradients accumulate the clipped sum sum_i factors[i] d_i a_i^T
 * (and sum_i factors[i] d_i for the bias): the usual dW GEMM on rows of d
 * scaled by their factors.
 */
extern void dp_linear_clipped_grad(AigcLinear *l, const float *a,
								   const float *delta, const float *factors,
								   int n);

/*
 * g (out x in) += sum_i factors[i] u_i v_i^T, the clipped sum of the second
 * outer products above (u NULL: out = 1, u_i = 1)
 */
extern void dp_outer_clipped_sum(float *g, const float *u, const float *v,
								 const float *factors, int n, int out, int in);

/* g[k] += N(0, stddev^2) for k < count, drawn from rng */
extern void dp_add_noise(float *g, int64 count, double stddev, AigcRng *rng);

/*
 * Poisson subsampling as a stream: the next row after prev (start at -1)
 * that enters the batch, each row independently with probability q; rows
 * past the table's end mean the batch is complete.
 */
extern int64 dp_poisson_next(AigcRng *rng, int64 prev, double q);

#endif
