/*
 * tf_layers.h
 *		Layers of the autoregressive table transformer, each a forward pass and
 *		a matching backward pass, in the style of llm.c's train_gpt2.c.
 *
 * Shapes: N = batch rows, T = positions (tokens per row), C = model width,
 * NH = heads, hs = C / NH, V = vocabulary (all positions' tokens).
 * Activations are row-major, (N, T, C) means row n's position t starts at
 * (n * T + t) * C.  The dense projections and the head go through
 * cblas_sgemm (the projections as AigcLinear, layers.h, over views of the
 * model's parameter block); the attention's per-(row, head) products,
 * too small for sgemm, are vector kernels over 16 rows at a time.  No state
 * outside the arguments.
 *
 * Gradients: backward passes accumulate (+=) into parameter gradients.
 * Input gradients are overwritten, except layernorm_backward, which adds
 * into its input's gradient because that input is the residual stream and
 * the stream's gradient is the sum of the skip path and the block's path.
 */
#ifndef AIGC_TF_LAYERS_H
#define AIGC_TF_LAYERS_H

#include "postgres.h"

/*
 * out (N, T, C) = wte[inp[n, t]] + wpe[t]; inp (N, T) holds token ids into
 * wte's rows, wpe is (T, C) (or longer; only the first T rows are used)
 */
extern void aigc_tf_embed_forward(float *out, const int32 *inp,
								  const float *wte, const float *wpe,
								  int N, int T, int C);
/* dwte[inp[n, t]] += dout[n, t]; dwpe[t] += dout[n, t] */
extern void aigc_tf_embed_backward(float *dwte, float *dwpe, const float *dout,
								   const int32 *inp, int N, int T, int C);

/*
 * LayerNorm over the last axis of inp (R, C) (R = N * T rows) with the
 * biased variance, eps 1e-5 as torch.nn.LayerNorm: out (R, C), and the
 * per-row mean and 1/std (R) kept for backward
 */
extern void aigc_tf_layernorm_forward(float *out, float *mean, float *rstd,
									  const float *inp, const float *weight,
									  const float *bias, int R, int C);
/* dinp (R, C) += ...; dweight, dbias (C) += ... */
extern void aigc_tf_layernorm_backward(float *dinp, float *dweight, float *dbias,
									   const float *dout, const float *inp,
									   const float *weight, const float *mean,
									   const float *rstd, int R, int C);

/*
 * Causal multi-head self-attention.  qkv (N, T, 3C) holds each position's
 * query, key and value (C each, head h at h * hs within them); att
 * receives the attention weights (row t is the softmax of
 * q_t . k_s / sqrt(hs) over s <= t) in the kernels' own layout,
 * aigc_tf_attention_floats(N, T, NH) floats; out (N, T, C) the weighted
 * values.  scratch holds aigc_tf_attention_scratch_floats(T, C, NH) floats.
 */
extern int64 aigc_tf_attention_floats(int N, int T, int NH);
extern int64 aigc_tf_attention_scratch_floats(int T, int C, int NH);
extern void aigc_tf_attention_forward(float *out, float *att, const float *qkv,
									  float *scratch, int N, int T, int C,
									  int NH);
/* dqkv (N, T, 3C) from dout (N, T, C), att as the forward left it */
extern void aigc_tf_attention_backward(float *dqkv, const float *dout,
									   const float *qkv, const float *att,
									   float *scratch, int N, int T, int C,
									   int NH);

/*
 * Attention of position t alone, for sampling with a key/value cache: cache
 * (N, T, 3C) holds the query, key and value of positions 0 .. t (position
 * t included); out (N, C) gets position t's output as
 * aigc_tf_attention_forward computes it; scratch holds t + 1 floats.
 */
extern void aigc_tf_attention_step(float *out, const float *cache,
								   float *scratch, int t, int N, int T, int C,
								   int NH);

/*
 * GELU, tanh approximation, elementwise over count values, and its
 * derivative into deriv unless NULL (for the backward): out or deriv may
 * be inp
 */
extern void aigc_tf_gelu_forward(float *out, float *deriv, const float *inp,
								 int64 count);
/* dinp = deriv * dout, deriv from the forward; dinp may be dout */
extern void aigc_tf_gelu_backward(float *dinp, const float *deriv,
								  const float *dout, int64 count);

/*
 * y (R, out) = bias in every row, plus residual (R, out) unless NULL: a
 * projection's output before sgemm adds its product (beta 1)
 */
extern void aigc_tf_bias_rows(float *y, const float *bias,
							  const float *residual, int R, int out);
/* out += inp, both count values (the residual connections) */
extern void aigc_tf_residual_forward(float *out, const float *inp, int64 count);

/*
 * The output head restricted to each position's tokens.  Position t owns
 * tokens [first[t], first[t + 1]) of the V in the vocabulary; for t in
 * [t0, t1) (t1 <= T):
 * logits[n, first[t] + k] = h[n, t] . w[first[t] + k] + b[first[t] + k]
 * with h (N, T, C), w (V, C), b (V), logits (N, V): each row's logits pack
 * every position's slice once.
 */
extern void aigc_tf_head_forward(float *logits, const float *h, const float *w,
								 const float *b, const int *first, int N,
								 int T, int C, int V, int t0, int t1);
/* dh[n, t] = dlogits slice . w slice for t in [t0, t1); dw, db += ... */
extern void aigc_tf_head_backward(float *dh, float *dw, float *db,
								  const float *dlogits, const float *h,
								  const float *w, const int *first, int N,
								  int T, int C, int V, int t0, int t1);

/*
 * Softmax of each position's slice of logits (N, V) into probs (N, V) at
 * temperature 1, restricted to the tokens allowed[n * V + token] marks
 * (all of the slice when allowed is NULL): other tokens get probability 0,
 * and a slice with no allowed token gets all zeros.
 * With targets (N, T), nll[n * T + t] = -log probs[n, targets[n, t]] for t
 * in [t0, t1), computed in double.  A target that is not allowed gets an
 * infinite term.
 */
extern void aigc_tf_softmax_xent_forward(float *probs, double *nll,
										 const float *logits,
										 const uint8 *allowed,
										 const int32 *targets, const int *first,
										 int N, int T, int V, int t0, int t1);
/* dlogits (N, V) = scale * (probs - onehot(targets)) over the slices */
extern void aigc_tf_softmax_xent_backward(float *dlogits, const float *probs,
										  const int32 *targets,
										  const int *first, int N, int T,
										  int V, int t0, int t1, float scale);

/*
 * Per-row squared gradient norms for DP-SGD (docs/privacy.md), each added
 * to sq_norms[n] (N rows): row n's gradient of a layer's parameters is the
 * sum over its T positions, computed exactly and cheaply for these layers.
 */
/* dwte and dwpe of row n: positions sharing a token add up in dwte */
extern void aigc_tf_embed_row_sq_norms(const float *dout, const int32 *inp,
									   int N, int T, int C, double *sq_norms);
/* dweight and dbias (C each) of row n; scratch holds 2C floats */
extern void aigc_tf_layernorm_row_sq_norms(const float *dout, const float *inp,
										   const float *mean, const float *rstd,
										   int N, int T, int C, float *scratch,
										   double *sq_norms);
/*
 * dw and db of row n for positions [0, T): each token's row of w belongs to
 * one position, so ||dw_n||^2 = sum_t ||h[n, t]||^2 ||dlogits slice t||^2
 */
extern void aigc_tf_head_row_sq_norms(const float *dlogits, const float *h,
									  const int *first, int N, int T, int C,
									  int V, double *sq_norms);

#endif
