/*
 * tf_model.h
 *		Decoder-only transformer over a table row's tokens: token plus
 *		column-position embeddings, pre-LayerNorm blocks of causal multi-head
 *		self-attention and a GELU MLP, a final LayerNorm and a softmax head
 *		over each position's own tokens, trained by next-token cross-entropy.
 *
 * A row is T tokens; position t's token is one of [first[t], first[t + 1])
 * (each position owns a slice of the V-token vocabulary).  The input at
 * position t is the token of position t - 1, a start token at t = 0, so
 * p(row) = prod_t p(token t | tokens < t) exactly.
 *
 * Every parameter lives in one allocation together, for training, with its
 * gradient and Adam's two moments; the activations for a maximum batch live
 * in another (AigcTfActs).
 */
#ifndef AIGC_TF_MODEL_H
#define AIGC_TF_MODEL_H

#include "postgres.h"

#include "core/layers.h"
#include "core/optimizer.h"
#include "core/rng.h"

/* Largest configurations aigc_tf_init accepts */
#define TF_MAX_LAYERS	64
#define TF_MAX_WIDTH	4096

/* Parameter tensors; the per-layer ones stack all layers (L, ...) */
typedef enum AigcTfTensor
{
	TF_WTE,						/* (V + 1, C): token embeddings, row V the start token */
	TF_WPE,						/* (T, C): position embeddings */
	TF_LN1W,					/* (L, C) */
	TF_LN1B,					/* (L, C) */
	TF_QKVW,					/* (L, 3C, C) */
	TF_QKVB,					/* (L, 3C) */
	TF_ATTPROJW,				/* (L, C, C) */
	TF_ATTPROJB,				/* (L, C) */
	TF_LN2W,					/* (L, C) */
	TF_LN2B,					/* (L, C) */
	TF_FCW,						/* (L, 4C, C) */
	TF_FCB,						/* (L, 4C) */
	TF_FCPROJW,					/* (L, C, 4C) */
	TF_FCPROJB,					/* (L, C) */
	TF_LNFW,					/* (C) */
	TF_LNFB,					/* (C) */
	TF_HEADW,					/* (V, C) */
	TF_HEADB,					/* (V) */
	TF_NTENSORS
} AigcTfTensor;

extern const char *const aigc_tf_tensor_names[TF_NTENSORS];

typedef struct AigcTfConfig
{
	int			n_layer;		/* L */
	int			d_model;		/* C */
	int			n_head;			/* NH, dividing C */
	int			seq_len;		/* T, tokens per row */
	const int  *first;			/* T + 1 offsets: position t owns tokens
								 * [first[t], first[t + 1]), first[0] = 0 */
} AigcTfConfig;

typedef struct AigcTfModel
{
	int			L;
	int			C;
	int			NH;
	int			T;
	int			V;				/* first[T] */
	int		   *first;			/* copied from the configuration */
	int64		nparams;		/* floats in the parameter block */
	float	   *params;			/* nparams; for training, the gradients and
								 * Adam's moments follow */
	float	   *grads;			/* nparams, or NULL when not training */
	float	   *adam_state;		/* 2 x nparams (m then v), or NULL */
	AigcParam	tensors[TF_NTENSORS];	/* views of params and grads */
	AigcParam	block;			/* all parameters as one tensor, for Adam */
	/* views of the per-layer projections, for layers.h's AigcLinear */
	AigcLinear *qkv;
	AigcLinear *attproj;
	AigcLinear *fc;
	AigcLinear *fcproj;
} AigcTfModel;

/*
 * Activations of up to `batch` rows, and one layer's worth of gradient
 * scratch (backward walks the layers with a single residual gradient).
 */
typedef struct AigcTfActs
{
	int			batch;
	bool		full_forward;	/* the last forward was aigc_tf_forward's,
								 * which backward needs */
	int32	   *inp;			/* (B, T) input tokens */
	float	   *encoded;		/* (B, T, C) */
	float	   *ln1;			/* (L, B, T, C) */
	float	   *ln1_mean;		/* (L, B, T) */
	float	   *ln1_rstd;		/* (L, B, T) */
	float	   *qkv;			/* (L, B, T, 3C) */
	float	   *atty;			/* (L, B, T, C) */
	float	   *att;			/* (L, ...) attention weights, each layer's
								 * aigc_tf_attention_floats(B, T, NH) */
	float	   *res2;			/* (L, B, T, C) residual after attention */
	float	   *ln2;			/* (L, B, T, C) */
	float	   *ln2_mean;		/* (L, B, T) */
	float	   *ln2_rstd;		/* (L, B, T) */
	float	   *fch;			/* (L, B, T, 4C) the MLP's pre-activation,
								 * then GELU's derivative at it */
	float	   *fch_gelu;		/* (L, B, T, 4C) */
	float	   *res3;			/* (L, B, T, C) residual after the MLP */
	float	   *lnf;			/* (B, T, C) */
	float	   *lnf_mean;		/* (B, T) */
	float	   *lnf_rstd;		/* (B, T) */
	float	   *logits;			/* (B, V) */
	float	   *probs;			/* (B, V) */
	double	   *nll;			/* (B, T) -log p(token t | tokens < t) */
	uint8	   *allowed;		/* (B, V) sampling's mask */
	/* gradients */
	float	   *dres;			/* (B, T, C) */
	float	   *dln;			/* (B, T, C) */
	float	   *dqkv;			/* (B, T, 3C) */
	float	   *datty;			/* (B, T, C) */
	float	   *dfch;			/* (B, T, 4C) */
	float	   *dlogits;		/* (B, V) */
	float	   *datt;			/* the attention kernels' scratch */
} AigcTfActs;

/*
 * DP-SGD's buffers for batches of up to `batch` rows (docs/privacy.md)
 */
typedef struct AigcTfDpBuffers
{
	int			batch;
	double	   *sq_norms;		/* (batch) squared per-row gradient norms */
	float	   *factors;		/* (batch) clip factors */
	float	   *scratch;		/* per-row norms of the widest layer */
	float	   *sink;			/* parameter gradients the norm pass discards */
	float	   *deltas;			/* every layer's output gradient (B, T, ...) */
} AigcTfDpBuffers;

/*
 * Which of position pos's tokens may follow prefix (the row's tokens
 * 0 .. pos - 1): allowed[k] for token first[pos] + k arrives set to 1 for
 * every k and the callback clears the impossible ones (a NULL token after
 * a NULL-free column, a category outside a condition, an offset bin outside
 * a range given the mode in the prefix).
 */
typedef void (*AigcTfMaskFn) (void *arg, int64 row, int pos,
							  const int32 *prefix, uint8 *allowed);

/*
 * Checks cfg and allocates and initialises the model (GPT-2's scheme);
 * without training, no gradients or optimiser state are allocated
 */
extern void aigc_tf_init(AigcTfModel *m, const AigcTfConfig *cfg,
						 bool training, AigcRng *rng);
/* Adam over the whole parameter block, its moments in the model's block */
extern void aigc_tf_adam_init(AigcTfModel *m, AigcAdam *opt, double lr,
							  double beta1, double beta2, double weight_decay);
/* Floats in the parameter block of cfg's model (with no allocation) */
extern int64 aigc_tf_param_count(const AigcTfConfig *cfg);

/*
 * Adds to e what aigc_tf_init(training) and aigc_tf_acts_init(batch) of cfg
 * allocate
 */
extern void aigc_tf_train_size(const AigcTfConfig *cfg, int batch,
							   AigcSizeEstimate *e);
extern void aigc_tf_acts_init(AigcTfActs *a, const AigcTfModel *m, int batch);

/*
 * A replica for data-parallel training: src's parameters (shared, not
 * copied) with a gradient block of its own and no optimiser state; and what
 * threads - 1 replicas with activations for ceil(batch / threads) rows add
 * to aigc_tf_train_size
 */
extern void aigc_tf_replica(const AigcTfModel *src, AigcTfModel *dst);
extern void aigc_tf_replicas_size(const AigcTfConfig *cfg, int batch,
								  int threads, AigcSizeEstimate *e);

/*
 * Forward over n <= batch rows of tokens (n, T): a->nll gets the n x T
 * terms; returns their mean per row, -(1/n) sum log p(row).  allowed
 * (n, V) or NULL restricts each position's softmax (aigc_tf_fill_mask).
 */
extern double aigc_tf_forward(AigcTfModel *m, AigcTfActs *a,
							  const int32 *tokens, const uint8 *allowed, int n);

/* Gradients of the last forward's return value into m->grads (zeroed first) */
extern void aigc_tf_backward(AigcTfModel *m, AigcTfActs *a,
							 const int32 *tokens, int n);

/*
 * DP-SGD, one example a row (docs/privacy.md).  aigc_tf_dp_norms, after
 * aigc_tf_forward of n <= dp->batch rows: dp->sq_norms[r] = the squared norm
 * of the gradient of -log p(row r), every parameter, without materialising
 * per-row gradients (a backward pass of input gradients only, with each
 * layer's per-row norms on the way, keeping every layer's output gradient).
 * aigc_tf_dp_accumulate: those norms, then m->grads += sum_r min(1,
 * max_grad_norm / norm_r) grad_r (not zeroed first: a Poisson batch may
 * take several calls), the parameter gradients of the kept output
 * gradients scaled row by row.
 */
extern void aigc_tf_dp_buffers_init(AigcTfDpBuffers *dp, const AigcTfModel *m,
									int batch);
extern void aigc_tf_dp_size(const AigcTfConfig *cfg, int batch,
							AigcSizeEstimate *e);
extern void aigc_tf_dp_norms(AigcTfModel *m, AigcTfActs *a, AigcTfDpBuffers *dp,
							 const int32 *tokens, int n);
extern void aigc_tf_dp_accumulate(AigcTfModel *m, AigcTfActs *a,
								  AigcTfDpBuffers *dp, const int32 *tokens,
								  int n, double max_grad_norm);

/*
 * Exact negative log-likelihoods of n rows (any n; batches of a->batch):
 * row_nll[r] = sum_t pos_nll[r * T + t]; pos_nll may be NULL.
 */
extern void aigc_tf_row_nll(AigcTfModel *m, AigcTfActs *a, const int32 *tokens,
							const uint8 *allowed, int64 n, double *row_nll,
							double *pos_nll);

/* allowed (n, V) for complete rows: mask_fn on every prefix of each row */
extern void aigc_tf_fill_mask(const AigcTfModel *m, const int32 *tokens, int64 n,
							  AigcTfMaskFn mask_fn, void *mask_arg,
							  uint8 *allowed);

/*
 * Sample n rows into tokens (n, T), position by position: the softmax of
 * the logits / temperature over the tokens mask_fn allows (all when NULL),
 * one draw from rng per row and position.  Each position runs the layers
 * on that position alone, attending to the cached queries, keys and values
 * of the earlier ones, so a row costs about one scoring forward.
 * temperature is in (0, 1].  Returns false, with the position in *bad_pos,
 * when a mask allows nothing.  Safe on the pool's threads (threads.h): it
 * reads m only and neither raises errors nor checks for interrupts.
 */
extern bool aigc_tf_sample(const AigcTfModel *m, AigcTfActs *a, int64 n,
						   double temperature, AigcTfMaskFn mask_fn,
						   void *mask_arg, AigcRng *rng, int32 *tokens,
						   int *bad_pos);

/* Floating-point operations of one forward pass over one row */
extern double aigc_tf_forward_flops(const AigcTfModel *m);

#endif
