/*
 * gan.h
 *		CTGAN-style conditional Wasserstein GAN (Xu et al. 2019) for encoded
 *		table rows: a residual generator with batch norm, a pac discriminator
 *		with LeakyReLU and dropout, a gradient penalty, and a conditional
 *		vector over the categorical columns learnt by training-by-sampling.
 */
#ifndef AIGC_GAN_H
#define AIGC_GAN_H

#include "postgres.h"
#include "lib/stringinfo.h"

#include "core/columns.h"
#include "core/layers.h"
#include "core/optimizer.h"
#include "core/rng.h"
#include "core/serialize.h"
#include "core/threads.h"
#include "core/train_options.h"

typedef struct AigcGanConfig
{
	int			data_dim;
	int			cond_dim;		/* width of the conditional vector, 0: none */
	int			noise_dim;
	int			n_gen;
	int			gen_dims[AIGC_MAX_HIDDEN];
	int			n_dis;
	int			dis_dims[AIGC_MAX_HIDDEN];
	int			pac;
	double		leaky_slope;
	double		dropout;
	double		tau;			/* Gumbel-softmax temperature in training */
} AigcGanConfig;

/* A categorical column's slots in the encoded row and in the cond vector */
typedef struct AigcCondColumn
{
	int			column;			/* column of the column encoder */
	int			data_offset;
	int			cond_offset;
	int			width;
} AigcCondColumn;

typedef struct AigcGan
{
	AigcGanConfig cfg;
	AigcLinear	gen[AIGC_MAX_HIDDEN];
	AigcBatchNorm bn[AIGC_MAX_HIDDEN];
	AigcLinear	gen_out;
	AigcLinear	dis[AIGC_MAX_HIDDEN + 1];	/* hidden layers, then the score */
	int			nspans;
	const AigcSpan *spans;		/* borrowed from the column encoder */
	int			ncond;
	AigcCondColumn *cond;
	float	   *cond_freq;		/* training rows per cond slot */
	int			n_gparams;
	AigcParam	gparams[4 * AIGC_MAX_HIDDEN + 2];
	int			n_dparams;
	AigcParam	dparams[2 * AIGC_MAX_HIDDEN + 2];
} AigcGan;

/*
 * Activation and gradient buffers for batches of up to `batch` rows (B);
 * G = ceil(B / pac) discriminator groups, D data_dim, Z + C noise and cond
 * widths, H[i] the generator's hidden widths, Dh[i] the discriminator's,
 * P = G * pac * (D + C) its input, W the widest layer.
 *
 * The generator's residual blocks concatenate each ReLU output before its
 * input, so its activations are one matrix, row [ReLU_{L-1} | ... | ReLU_0 |
 * noise | cond] of width Wg = H[L-1] + ... + H[0] + Z + C: layer i's input
 * is a suffix of that row (rows Wg apart), and no block copies a row.
 */
typedef struct AigcGanBuffers
{
	int			batch;
	int			gx_width;		/* Wg */
	float	   *gx;				/* (B, Wg) the generator's activations */
	float	   *gin;			/* gx's last Z + C columns: noise, then cond */
	float	   *gxhat[AIGC_MAX_HIDDEN]; /* (B, H[i]) batch-normalised */
	float	   *dgx;			/* (B, Wg - Z - C) gradient of gx's ReLU part */
	float	   *gout;			/* (B, D) generator logits */
	float	   *fake;			/* (B, D) activated rows */
	float	   *dgout;			/* (B, D) */
	float	   *dfake;			/* (B, D); the forward pass's scratch */
	/* the critic runs on up to 3G groups at once: fake, real, interpolated */
	float	   *dact[AIGC_MAX_HIDDEN];	/* (3G, Dh[i]) after dropout */
	float	   *deriv[AIGC_MAX_HIDDEN]; /* (3G, Dh[i]) LeakyReLU's slope x mask */
	float	   *du[AIGC_MAX_HIDDEN];	/* (G, Dh[i]) gradient network, see gan.c */
	float	   *score;			/* (3G) */
	float	   *dscore;			/* (3G) */
	float	   *dinput;			/* (P) gradient of the discriminator's input */
	float	   *grad_a;			/* (max(B * W, P)) scratch */
	float	   *grad_b;			/* (max(B * W, P)) */
	float	   *grad_c;			/* (max(B * W, P)) */
} AigcGanBuffers;

extern void aigc_gan_init(AigcGan *gan, const AigcGanConfig *cfg,
						  const AigcSpan *spans, int nspans, AigcRng *rng);
extern void aigc_gan_buffers_init(AigcGanBuffers *buf, const AigcGan *gan,
								  int batch);

/* Width of the conditional vector of a GAN over these output spans */
extern int	aigc_gan_cond_dim(const AigcSpan *spans, int nspans);

/*
 * Adds what training a GAN of this configuration (cond_dim set) on batches
 * of `batch` rows allocates: weights, gradients and Adam state, the
 * generator's running average (with `average`), the serialized copy stored
 * at the end, and the batch buffers (with dp, DP-SGD's too).  The per-row
 * index of training-by-sampling is the rows' share (train.c's fit_rows).
 */
extern void aigc_gan_train_size(const AigcGanConfig *cfg, int batch,
								bool average, bool dp, AigcSizeEstimate *e);

/* Generator: gin (n rows of noise and cond) to buf->gout and activated buf->fake */
extern void aigc_gan_generator_forward(AigcGan *gan, AigcGanBuffers *buf, int n,
									   bool training, AigcRng *rng);
/*
 * From d loss / d buf->gout into the generator's parameter gradients (its
 * hidden layers' biases get none: in training batch norm cancels them)
 */
extern void aigc_gan_generator_backward(AigcGan *gan, AigcGanBuffers *buf, int n);
/* Backward of the output activations: d fake to d gout (overwritten) */
extern void aigc_gan_activation_backward(const AigcGan *gan, const float *fake,
										 const float *dfake, int n, float *dgout);

/* Discriminator over ngroups pac groups x (ngroups x pac*(data+cond)) */
extern void aigc_gan_discriminator_forward(AigcGan *gan, AigcGanBuffers *buf,
										   const float *x, int ngroups,
										   AigcRng *rng);
/* From buf->dscore back; dx (may be NULL) gets d / d input */
extern void aigc_gan_discriminator_backward(AigcGan *gan, AigcGanBuffers *buf,
											const float *x, int ngroups, float *dx);

/*
 * d score / d input (x dx), weighted by buf->dscore, of the last forward
 * pass's first ngroups groups, without the parameters' gradients
 */
extern void aigc_gan_discriminator_input_grad(const AigcGan *gan,
											  AigcGanBuffers *buf, int ngroups,
											  float *dx);

/*
 * lambda * mean over groups of (||d score / d x||_2 - 1)^2 at the input of
 * the last discriminator_forward; with `backward`, adds its gradients to
 * the discriminator's weights.
 */
extern double aigc_gan_gradient_penalty(AigcGan *gan, AigcGanBuffers *buf,
										int ngroups, double lambda,
										bool backward);

/*
 * A backward pass split across pool's threads as training splits it (for
 * gradcheck.c), after the matching forward pass over n groups or rows: the
 * critic's from buf->dscore (its weights' gradients and dx's), its
 * gradient penalty's (lambda; returned), or the generator's from
 * buf->dgout
 */
typedef enum AigcGanPass
{
	AIGC_GAN_CRITIC,
	AIGC_GAN_PENALTY,
	AIGC_GAN_GENERATOR
} AigcGanPass;

extern double aigc_gan_backward_split(AigcGan *gan, AigcGanBuffers *buf,
									  AigcGanPass pass, const float *x, int n,
									  float *dx, double lambda, AigcPool *pool);

/*
 * DP-SGD (pac 1, docs/privacy.md): the penalty as a sum over rows,
 * lambda * sum_r (||d score_r / d x_r|| - 1)^2, returned; its weight
 * gradient is not accumulated but kept per row: layer i's is the outer
 * product of row r of buf->du[i] (i < n_dis; 1 for the score layer) and
 * row r of v[i] (nrows x dis[i].in).
 */
extern double aigc_gan_penalty_rows(AigcGan *gan, AigcGanBuffers *buf,
									int nrows, double lambda, float **v);

/*
 * DP-SGD (pac 1): from buf->dscore after a forward pass, each layer's
 * output gradient delta[i] (nrows x dis[i].out), without touching the
 * parameters' gradients.
 */
extern void aigc_gan_discriminator_deltas(AigcGan *gan, AigcGanBuffers *buf,
										  int nrows, float **delta);

/*
 * Cross-entropy of the conditioned spans of the logits against cond, over
 * the rows' chosen columns (colsel), / n; adds its gradient to dgout.
 */
extern double aigc_gan_cond_loss(const AigcGan *gan, const float *gout,
								 const float *cond, const int *colsel, int n,
								 float *dgout);

/*
 * Sampling's generator for batches of up to `batch` rows: its own copies of
 * the hidden layers with the evaluation-mode batch norms folded in (each
 * layer's weights and bias scaled by gamma / sqrt(running var + eps), the
 * running mean and beta in the bias), so that generating reads the network
 * only and many generators can run on one network at once.
 */
typedef struct AigcGanGenerator
{
	int			batch;
	int			ld;				/* gx's width: the output layer's input */
	float	   *gx;				/* (B, ld) block n-1's ReLU, ..., block 0's, noise, cond */
	float	   *gin;			/* noise then cond vector: gx's last columns */
	float	   *cond;			/* (B, C) */
	AigcLinear	folded[AIGC_MAX_HIDDEN];
} AigcGanGenerator;

extern void aigc_gan_generator_init(AigcGanGenerator *g, const AigcGan *gan,
									int batch);

/*
 * n activated rows, slot-major (column_encoder_decode's input).  The
 * conditional vector picks a column uniformly and a category by its
 * training frequency, as CTGAN samples, or is fixed to slot fixed_slot of
 * cond column fixed_col.
 */
extern void aigc_gan_generate(const AigcGan *gan, AigcGanGenerator *g, int n,
							  int fixed_col, int fixed_slot, AigcRng *rng,
							  float *act);

/* Training by sampling: the data's rows per cond slot */
typedef struct AigcGanSampler
{
	int64		nrows;
	int64	   *slot_start;		/* (cond_dim + 1) where each slot's rows start */
	int64	   *rows;			/* the rows of slot s from slot_start[s] */
	float	   *weight;			/* (cond_dim) log(count + 1) or count */
} AigcGanSampler;

extern void aigc_gan_sampler_init(AigcGanSampler *s, AigcGan *gan,
								  const float *x, int64 nrows,
								  bool log_frequency);

/* One discriminator and one generator update on the training rows x */
typedef struct AigcGanStepLosses
{
	double		generator;
	double		discriminator;
	double		penalty;
	double		cross_entropy;
} AigcGanStepLosses;

/*
 * DP-SGD's per-row state of one chunk of at most B real rows (docs/
 * privacy.md, "GAN"): the critic pass's layer inputs and output gradients,
 * the penalty's per-row vectors, and the noisy category counts released
 * with each step.
 */
typedef struct AigcGanDp
{
	const AigcPrivacyOptions *privacy;
	double		expected_rows;	/* sample_rate * rows: the noisy sum's divisor */
	double		clip;			/* the gradients' share of max_grad_norm */
	double		count_scale;	/* beta: a row's count vector is beta per cond column */
	float	   *act[AIGC_MAX_HIDDEN];	/* (B, Dh[i]) the critic pass's activations */
	float	   *delta[AIGC_MAX_HIDDEN + 1]; /* (B, out of layer i) */
	float	   *pv[AIGC_MAX_HIDDEN + 1];	/* (B, in of layer i) */
	double	   *sq_norms;		/* (B) */
	float	   *factors;		/* (B) */
	float	   *step_counts;	/* (cond_dim) this step's count vectors, summed */
	double	   *counts;			/* (cond_dim) noisy counts, summed over steps */
	int64		steps;
} AigcGanDp;

typedef struct AigcGanTrainer
{
	AigcGan    *gan;
	AigcGanBuffers buf;
	AigcGanSampler sampler;
	AigcAdam	gen_opt;
	AigcAdam	dis_opt;
	const float *x;
	int			batch;
	double		lambda;
	double		average;		/* generator weight averaging, 0: none */
	float	  **gen_avg;		/* (n_gparams) the running averages of gparams */
	int		   *colsel;			/* (batch) cond column of each row */
	int		   *slot;			/* (batch) its category within that column */
	int64	   *perm;			/* (batch) */
	float	   *cond;			/* (batch, max(cond_dim, 1)) */
	/* the critic's input, one block so that one pass takes all three */
	float	   *fake;			/* (batch, data_dim + cond_dim) */
	float	   *real;			/* (batch, data_dim + cond_dim), after fake */
	float	   *interp;			/* (batch, data_dim + cond_dim), after real */
	AigcGanDp  *dp;				/* NULL without DP-SGD */
	AigcPool   *pool;			/* the step's threads; NULL on one thread */
	AigcRng    *rngs;			/* (threads) their dropout streams, from 1 */
} AigcGanTrainer;

extern void aigc_gan_trainer_init(AigcGanTrainer *t, AigcGan *gan,
								  const float *x, int64 nrows, int batch,
								  bool log_frequency, double lambda, double average,
								  double gen_lr, double gen_decay,
								  double dis_lr, double dis_decay,
								  const AigcPrivacyOptions *privacy,
								  int threads);

/*
 * DP-SGD's work on a chunk of n <= batch real rows in t->real (with their
 * cond vectors) and their interpolations with fake rows in t->interp: adds
 * the clipped sum of the rows' critic and penalty gradients to the
 * discriminator's gradients (t->dp->sq_norms keeps the rows' squared norms
 * before clipping, t->dp->factors the clip factors) and their count
 * vectors to t->dp->step_counts; adds the rows' scores and penalties to
 * the sums.
 */
extern void aigc_gan_dp_chunk(AigcGanTrainer *t, int n, AigcRng *rng,
							  double *real_sum, double *penalty_sum);

/*
 * dis_steps discriminator updates, then one generator update.  With DP-SGD
 * each discriminator update is one noisy step on a Poisson sample of the
 * rows (one step of privacy.steps).
 */
extern void aigc_gan_train_step(AigcGanTrainer *t, int dis_steps, AigcRng *rng,
								AigcGanStepLosses *losses);

/*
 * With generator averaging, install the averaged weights and re-estimate
 * the batch-norm statistics they produce (from training-like batches).
 */
extern void aigc_gan_trainer_finish(AigcGanTrainer *t, AigcRng *rng);

/* Linear layers with the rows each multiplies per step, for benchmarks */
#define AIGC_GAN_MAX_LINEARS (2 * AIGC_MAX_HIDDEN + 2)
extern int	aigc_gan_linears(AigcGan *gan, int batch, AigcLinear **layers,
							 int *rows, bool *need_dx);
extern double aigc_gan_step_flops(AigcGan *gan, int batch, int dis_steps);

extern void aigc_gan_write(const AigcGan *gan, StringInfo buf);
extern void aigc_gan_read(AigcGan *gan, AigcReader *r, const AigcSpan *spans,
						  int nspans, int ncols);

#endif
