/*
 * vae_kind.c
 *		The VAE's row of the kinds table (kind.h): its operations over the
 *		functions of vae.c, vae_train.c and vae_score.c.
 */
#include "postgres.h"

#include <string.h>

#include "core/vae.h"
#include "core/vae_score.h"

static void *
vae_config_from_options(const AigcTrainOptions *opts, int data_dim)
{
	AigcVaeConfig *cfg = palloc0(sizeof(AigcVaeConfig));

	cfg->data_dim = data_dim;
	cfg->latent_dim = opts->latent_dim;
	cfg->n_enc = opts->n_enc;
	memcpy(cfg->enc_dims, opts->enc_dims, sizeof(cfg->enc_dims));
	cfg->n_dec = opts->n_dec;
	memcpy(cfg->dec_dims, opts->dec_dims, sizeof(cfg->dec_dims));
	cfg->loss_factor = opts->loss_factor;
	return cfg;
}

static void
vae_train_size(const void *cfg, const AigcTrainOptions *opts,
			   const AigcSpan *spans, int nspans, int64 nrows,
			   AigcSizeEstimate *e)
{
	/* a batch is never larger than the table */
	int			batch = (int) Max(Min((int64) opts->batch_size, nrows), 1);

	aigc_vae_train_size(cfg, batch, e);
	if (opts->privacy.enabled)
		aigc_vae_dp_size(cfg, batch, e);
	else
		aigc_vae_replicas_size(cfg, batch, opts->threads, e);
}

static void *
vae_init(const void *cfg, const AigcColumnEncoder *colenc, AigcRng *rng)
{
	AigcVae    *vae = palloc0(sizeof(AigcVae));

	aigc_vae_init(vae, cfg, colenc->spans, colenc->nspans, rng);
	return vae;
}

static void *
vae_generator_init(void *net, int batch)
{
	AigcVaeBuffers *buf = palloc(sizeof(AigcVaeBuffers));

	aigc_vae_buffers_init(buf, net, batch);
	return buf;
}

/* A VAE has no conditional vector: cond_col is always -1 for it */
static bool
vae_generate(void *net, void *gen, int n, int cond_col, int cond_slot,
			 AigcRng *rng, float *act)
{
	aigc_vae_generate(net, gen, n, rng, act);
	return true;
}

static void *
vae_scorer_init(void *net, int rows, int ncols)
{
	AigcVaeScorer *s = palloc(sizeof(AigcVaeScorer));

	aigc_vae_scorer_init(s, net, rows, ncols);
	return s;
}

static void
vae_score(void *net, void *scorer, const float *x, int n, int ncols,
		  double *scores, double *terms)
{
	aigc_vae_score_rows(net, scorer, x, n, ncols, scores, terms);
}

static bool
vae_explain(void *net, void *scorer, float *act)
{
	aigc_vae_expected_row(net, scorer, act);
	return true;
}

/* The posterior mean of the first row of the last call */
static const float *
vae_encode(void *net, void *scorer, int *len)
{
	*len = ((AigcVae *) net)->cfg.latent_dim;
	return ((AigcVaeScorer *) scorer)->buf.mu;
}

static void
vae_write(const void *net, StringInfo buf)
{
	aigc_vae_write(net, buf);
}

static void *
vae_read(AigcReader *r, const AigcColumnEncoder *colenc, uint32 version)
{
	AigcVae    *vae = palloc0(sizeof(AigcVae));

	aigc_vae_read(vae, r, colenc->spans, colenc->nspans);
	return vae;
}

static int
vae_data_dim(const void *net)
{
	return ((const AigcVae *) net)->cfg.data_dim;
}

/* Every layer multiplies the whole batch */
/*
 * The dense products of a training step: the heads as the one product they
 * are, and the first layer only when the encoded rows are not sparse enough
 * for its gather and scatter-add (which are no GEMMs)
 */
static int
vae_linears(void *net, int batch, AigcLinear **layers, int *rows,
			bool *need_dx)
{
	AigcVae    *vae = net;
	int			n = 0;

	for (int i = aigc_vae_sparse_input(vae) ? 1 : 0; i < vae->cfg.n_enc; i++)
	{
		need_dx[n] = i > 0;
		layers[n++] = &vae->enc[i];
	}
	need_dx[n] = vae->cfg.n_enc > 0;
	layers[n++] = &vae->heads;
	for (int i = 0; i <= vae->cfg.n_dec; i++)
	{
		need_dx[n] = true;
		layers[n++] = &vae->dec[i];
	}
	for (int i = 0; i < n; i++)
		rows[i] = batch;
	return n;
}

static int
vae_batch_multiple(const void *net)
{
	return 1;
}

StaticAssertDecl(AIGC_VAE_MAX_LINEARS <= AIGC_KIND_MAX_LINEARS,
				 "AIGC_KIND_MAX_LINEARS must hold the VAE's layers");

static const char *const vae_loss_names[] = {"loss", "reconstruction", "kl"};

const AigcKindOps aigc_vae_ops = {
	.name = "vae",
	.id = AIGC_KIND_VAE,
	.format_version = 1,
	.write_version = 1,
	.config_from_options = vae_config_from_options,
	.init = vae_init,
	.train_size = vae_train_size,
	.nlosses = lengthof(vae_loss_names),
	.loss_names = vae_loss_names,
	.train_begin = aigc_vae_train_begin,
	.train_epoch = aigc_vae_train_epoch,
	.train_end = aigc_vae_train_end,
	.describe_losses = aigc_vae_describe_losses,
	.generator_init = vae_generator_init,
	.generate = vae_generate,
	.scorer_init = vae_scorer_init,
	.score = vae_score,
	.explain = vae_explain,
	.encode = vae_encode,
	.column_term = "reconstruction",
	.last_term = "kl",
	.write = vae_write,
	.read = vae_read,
	.data_dim = vae_data_dim,
	.linears = vae_linears,
	.batch_multiple = vae_batch_multiple,
	.batch_multiple_name = NULL,
};
