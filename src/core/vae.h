/*
 * vae.h
 *		TVAE-style variational autoencoder for encoded table rows.
 */
#ifndef AIGC_VAE_H
#define AIGC_VAE_H

#include "postgres.h"
#include "lib/stringinfo.h"

#include "core/columns.h"
#include "core/kind.h"
#include "core/layers.h"
#include "core/rng.h"
#include "core/serialize.h"

typedef struct AigcVaeConfig
{
	int			data_dim;
	int			latent_dim;
	int			n_enc;
	int			enc_dims[AIGC_MAX_HIDDEN];
	int			n_dec;
	int			dec_dims[AIGC_MAX_HIDDEN];
	double		loss_factor;
} AigcVaeConfig;

typedef struct AigcVae
{
	AigcVaeConfig cfg;
	AigcLinear	enc[AIGC_MAX_HIDDEN];
	AigcLinear	mu;
	AigcLinear	logvar;
	AigcLinear	heads;			/* mu's then logvar's rows: one product */
	AigcLinear	dec[AIGC_MAX_HIDDEN + 1];	/* hidden layers, then output */
	AigcParam	sigma;			/* per-output std of the Gaussian decoder */
	int			nspans;
	const AigcSpan *spans;		/* borrowed from the column encoder */
	int			nparams;
	AigcParam	params[2 * (2 * AIGC_MAX_HIDDEN + 3) + 1];
	AigcParam	block;			/* every parameter above, one allocation */
} AigcVae;

/*
 * Activation and gradient buffers for batches of up to `batch` rows (B);
 * D data_dim, L latent_dim, E[i] and H[i] the encoder's and decoder's
 * hidden widths, W the widest of them all.
 */
typedef struct AigcVaeBuffers
{
	int			batch;
	float	   *enc_act[AIGC_MAX_HIDDEN];	/* (B, E[i]) */
	float	   *heads;			/* (B, 2L) mu and logvar rows, then their gradient */
	float	   *mu;				/* (B, L) */
	float	   *logvar;			/* (B, L) */
	float	   *std;			/* (B, L) */
	float	   *eps;			/* (B, L) */
	float	   *z;				/* (B, L) */
	float	   *dec_act[AIGC_MAX_HIDDEN];	/* (B, H[i]) */
	float	   *out;			/* (B, D) decoder logits */
	float	   *grad_a;			/* (B, W) scratch gradients */
	float	   *grad_b;			/* (B, W) */
	float	   *dmu;			/* (B, L) */
	float	   *dlogvar;		/* (B, L) */

	/*
	 * The encoder's input rows as sparse rows when at most
	 * sparse_max_density of their entries are non-zero and there are at
	 * least sparse_min_rows of them (fewer do not pay for transposing the
	 * first layer's weights); x_sparse says whether the last forward pass
	 * used them.  sparse holds up to the sparse_max_density the buffers
	 * were made with.
	 */
	AigcSparseRows sparse;
	double		sparse_max_density;
	int			sparse_min_rows;
	bool		x_sparse;
} AigcVaeBuffers;

/* Defaults of the sparse first layer's thresholds (docs/performance.md) */
#define AIGC_VAE_SPARSE_DENSITY 0.3
#define AIGC_VAE_SPARSE_MIN_ROWS 32

extern void aigc_vae_init(AigcVae *vae, const AigcVaeConfig *cfg,
						  const AigcSpan *spans, int nspans, AigcRng *rng);
extern void aigc_vae_buffers_init(AigcVaeBuffers *buf, const AigcVae *vae, int batch);
/* vae's network sharing its weights, with gradients of its own (data-parallel training) */
extern void aigc_vae_replica(const AigcVae *src, AigcVae *dst);

/*
 * Adds what training a VAE of this configuration on batches of `batch` rows
 * allocates: weights, gradients and Adam state, the serialized copy stored
 * at the end, and the batch buffers (training's and calibration's).
 */
extern void aigc_vae_train_size(const AigcVaeConfig *cfg, int batch,
								AigcSizeEstimate *e);

/*
 * One forward pass over n encoded rows, and with `backward` the gradients
 * of (reconstruction + KL) into the parameters (zeroed first).
 */
extern void aigc_vae_forward_backward(AigcVae *vae, AigcVaeBuffers *buf,
									  const float *x, int n, AigcRng *rng,
									  bool backward, double *recon, double *kl);
/* Keeps the decoder's sigma where TVAE keeps it, [0.01, 1] */
extern void aigc_vae_clamp_sigma(AigcVae *vae);
/* The same for those of sigma's values among the block's [first, first + count) */
extern void aigc_vae_clamp_sigma_part(AigcVae *vae, int64 first, int64 count);

/* n activated rows from the prior, slot-major (column_encoder_decode's input) */
extern void aigc_vae_generate(AigcVae *vae, AigcVaeBuffers *buf, int n,
							  AigcRng *rng, float *act);

/*
 * Shift the output biases of softmax spans until the shares of prior samples
 * match the shares in the encoded training rows x; reports the largest gap
 * in any slot's share before and after.
 */
extern void aigc_vae_calibrate_marginals(AigcVae *vae, AigcVaeBuffers *buf,
										 const float *x, int64 nrows,
										 AigcRng *rng, int iterations,
										 int samples, double *gap_before,
										 double *gap_after);

/*
 * Activate n rows of decoder outputs: tanh scalars and softmax probabilities
 * over each one-hot span; scratch is n x D.
 */
extern void aigc_vae_activate(const AigcVae *vae, const float *out, int n,
							  float *act, float *scratch);

/*
 * Deterministic scoring of n encoded rows (z = posterior mean): terms gets
 * n rows of ncols per-column reconstruction losses (each >= 0: the
 * constant log sigma of scalars is left out) then the KL term; the
 * reconstruction logits stay in buf->out, the posterior mean in buf->mu.
 */
extern void aigc_vae_row_terms(AigcVae *vae, AigcVaeBuffers *buf,
							   const float *x, int n, int ncols, double *terms);

/* Loss pieces, exposed for the gradient check; NULL gradients: loss only */
extern double aigc_vae_recon_loss(const AigcSpan *spans, int nspans, int dim,
								  const float *x, const float *out,
								  const float *sigma, int n, double factor,
								  float *dout, float *dsigma);
extern double aigc_vae_kl_loss(const float *mu, const float *logvar, int n,
							   int latent, float *dmu, float *dlogvar);

#define AIGC_VAE_MAX_LINEARS (2 * AIGC_MAX_HIDDEN + 3)
extern int	aigc_vae_linears(AigcVae *vae, AigcLinear **layers, bool *need_dx);
extern double aigc_vae_step_flops(AigcVae *vae, int n);
/*
 * The GEMM flops of aigc_vae_step_flops the last pass over n rows did not
 * do because its input was sparse: the first layer's product, and with
 * backward its weight gradient.
 */
/*
 * Whether training batches take the sparse first layer: an encoded row has
 * at most one non-zero per span
 */
extern bool aigc_vae_sparse_input(const AigcVae *vae);
extern double aigc_vae_sparse_saved_flops(const AigcVae *vae,
										  const AigcVaeBuffers *buf, int n,
										  bool backward);
/*
 * DP-SGD (docs/privacy.md): per-row output gradients of every linear layer
 * (in aigc_vae_linears' order) and of sigma, for batches of up to `batch`
 * rows.  The mu and logvar layers' are buf->dmu and buf->dlogvar.
 */
typedef struct AigcVaeDpBuffers
{
	float	   *delta[AIGC_VAE_MAX_LINEARS];	/* (B, out) */
	const float *input[AIGC_VAE_MAX_LINEARS];	/* the layers' inputs, (B, in) */
	float	   *dsigma;			/* (B, D) each row's gradient of sigma */
	double	   *sq_norms;		/* (B) */
	float	   *factors;		/* (B) */
} AigcVaeDpBuffers;

extern void aigc_vae_dp_buffers_init(AigcVaeDpBuffers *dp, AigcVae *vae,
									 AigcVaeBuffers *buf);
/* What aigc_vae_dp_buffers_init allocates for batches of `batch` rows */
extern void aigc_vae_dp_size(const AigcVaeConfig *cfg, int batch,
							 AigcSizeEstimate *e);

/*
 * Forward pass over n rows and each row's gradient of its own loss
 * (loss_factor x reconstruction + KL, not divided by n): dp->sq_norms gets
 * each row's squared gradient norm over every parameter, from the layers'
 * output gradients without materialising per-row gradients.  recon and kl
 * get the means over the rows.
 */
extern void aigc_vae_dp_norms(AigcVae *vae, AigcVaeBuffers *buf,
							  AigcVaeDpBuffers *dp, const float *x, int n,
							  AigcRng *rng, double *recon, double *kl);

/*
 * aigc_vae_dp_norms, then the rows' gradients clipped to max_grad_norm are
 * added to the parameters' gradients (which the caller zeroes per step).
 */
extern void aigc_vae_dp_accumulate(AigcVae *vae, AigcVaeBuffers *buf,
								   AigcVaeDpBuffers *dp, const float *x, int n,
								   AigcRng *rng, double max_grad_norm,
								   double *recon, double *kl);

/* Training, as the kind's operations (vae_train.c) */
extern void *aigc_vae_train_begin(void *net, const float *x, int64 nrows,
								  const AigcTrainOptions *opts, AigcRng *rng);
extern void aigc_vae_train_epoch(void *run, double *losses, AigcTrainWork *work);
extern void aigc_vae_train_end(void *run, StringInfo stats);
/* What aigc.threads > 1 adds to aigc_vae_train_size: the replicas */
extern void aigc_vae_replicas_size(const AigcVaeConfig *cfg, int batch,
								   int threads, AigcSizeEstimate *e);
extern void aigc_vae_describe_losses(StringInfo buf, const double *losses);

extern void aigc_vae_write(const AigcVae *vae, StringInfo buf);
extern void aigc_vae_read(AigcVae *vae, AigcReader *r,
						  const AigcSpan *spans, int nspans);

#endif
