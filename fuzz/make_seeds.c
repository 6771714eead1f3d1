/*
 * make_seeds.c
 *		Writes the fuzzer's seed corpus: small valid model blobs made by the
 *		extension's own transformer fit, network init and serialiser, so the
 *		seeds always match the current format and need no database.
 *
 *		make_seeds DIR
 */
#include "postgres.h"

#include <float.h>
#include <stdio.h>

#include "catalog/pg_type_d.h"

#include "backend_shim.h"
#include "core/gan.h"
#include "core/model.h"
#include "core/vae.h"

#define SEED_ROWS 200

typedef struct SeedSpec
{
	const char *file;
	bool		continuous;		/* a bimodal float column with NULLs */
	bool		constant;		/* an integral column holding one value */
	bool		bigint;			/* that column a bigint beyond 2^53 (version 3) */
	int			ncats;			/* a text column; 0 makes it all NULL */
	int			nexcluded;
	int			n_enc;			/* VAE layers; for a GAN, generator; for a
								 * transformer, its layers */
	int			n_dec;			/* and discriminator layers; or heads */
	AigcModelKind kind;
	bool		private_stats;	/* noisy statistics and slot counts (version 5) */
} SeedSpec;

static const SeedSpec specs[] = {
	{"vae_mixed", true, false, false, 3, 0, 1, 1, AIGC_KIND_VAE},
	{"vae_only_nulls_excluded", false, false, false, 0, 2, 0, 0, AIGC_KIND_VAE},
	{"vae_constant_deep", true, true, false, 2, 1, 2, 2, AIGC_KIND_VAE},
	{"vae_bigint_exact", false, true, true, 2, 0, 1, 1, AIGC_KIND_VAE},
	{"gan_mixed", true, false, false, 3, 1, 2, 1, AIGC_KIND_GAN},
	{"gan_no_categories", true, true, false, 0, 0, 1, 2, AIGC_KIND_GAN},
	{"gan_bigint_exact", true, true, true, 3, 0, 1, 1, AIGC_KIND_GAN},
	{"transformer_mixed", true, false, false, 3, 1, 1, 2, AIGC_KIND_TRANSFORMER},
	{"transformer_bigint_nulls", false, true, true, 0, 0, 2, 1, AIGC_KIND_TRANSFORMER},
	{"vae_private_stats", true, true, false, 3, 0, 1, 1, AIGC_KIND_VAE, true},
};

static char *labels[] = {"alpha", "beta", "gamma"};
static char *excluded[] = {"id", "note"};

static AigcColumnData *
add_column(AigcColumnEncoder *colenc, AigcColumnData *data, char *name,
		   Oid typid, AigcColumnKind kind)
{
	AigcColumn *col = &colenc->cols[colenc->ncols];
	AigcColumnData *d = &data[colenc->ncols++];

	col->name = name;
	col->typid = typid;
	col->typmod = -1;
	col->kind = kind;
	col->integral = typid == INT4OID || typid == INT8OID;
	d->value = palloc0(sizeof(double) * SEED_ROWS);
	d->isnull = palloc0(sizeof(bool) * SEED_ROWS);
	return d;
}

static bytea *
build_blob(const SeedSpec *spec)
{
	AigcModel	model;
	AigcColumnData data[3];
	AigcColumnData *d;
	AigcVaeConfig cfg;
	AigcRng		rng;

	memset(&model, 0, sizeof(model));
	aigc_rng_seed(&rng, 42);
	model.kind = AIGC_KIND_VAE;
	model.ops = &aigc_vae_ops;
	model.colenc.cols = palloc0(sizeof(AigcColumn) * lengthof(data));

	if (spec->continuous)
	{
		d = add_column(&model.colenc, data, "amount", FLOAT8OID, AIGC_CONTINUOUS);
		for (int r = 0; r < SEED_ROWS; r++)
		{
			d->isnull[r] = r % 10 == 0;
			d->value[r] = (r % 2 ? 100.0 : -5.0) + aigc_rng_normal(&rng);
		}
	}
	if (spec->constant && spec->bigint)
	{
		/* as the reader leaves it: 2^53 + 1 rounds to 2^53 as a double */
		AigcColumn *col;

		d = add_column(&model.colenc, data, "serial_no", INT8OID, AIGC_CONTINUOUS);
		col = &model.colenc.cols[model.colenc.ncols - 1];
		col->has_exact_range = true;
		col->exact_min = col->exact_max = (INT64CONST(1) << 53) + 1;
		for (int r = 0; r < SEED_ROWS; r++)
			d->value[r] = (double) col->exact_min;
	}
	else if (spec->constant)
	{
		d = add_column(&model.colenc, data, "year", INT4OID, AIGC_CONTINUOUS);
		for (int r = 0; r < SEED_ROWS; r++)
			d->value[r] = 2024;
	}
	d = add_column(&model.colenc, data, "party", TEXTOID, AIGC_CATEGORICAL);
	model.colenc.cols[model.colenc.ncols - 1].ncats = spec->ncats;
	/* a private fit may drop labels, reordering its own copy */
	model.colenc.cols[model.colenc.ncols - 1].cats = palloc(sizeof(labels));
	memcpy(model.colenc.cols[model.colenc.ncols - 1].cats, labels, sizeof(labels));
	for (int r = 0; r < SEED_ROWS; r++)
	{
		d->isnull[r] = spec->ncats == 0;
		/* the private seed's third label is too rare to pass the threshold */
		d->value[r] = spec->ncats == 0 ? 0 :
			spec->private_stats ? (r < 2 ? 2 : r % 2) : r % spec->ncats;
	}
	if (spec->private_stats)
	{
		double		type_min[] = {-DBL_MAX, -DBL_MAX, -DBL_MAX};
		double		type_max[] = {DBL_MAX, DBL_MAX, DBL_MAX};
		AigcStatsNoise noise = {1.0, 10.0, type_min, type_max};

		aigc_column_encoder_fit(&model.colenc, data, SEED_ROWS, 4, &noise, &rng);
	}
	else
		aigc_column_encoder_fit(&model.colenc, data, SEED_ROWS, 4, NULL, &rng);

	model.nexcluded = spec->nexcluded;
	model.excluded = excluded;

	if (spec->kind == AIGC_KIND_TRANSFORMER)
	{
		AigcTrainOptions opts;

		memset(&opts, 0, sizeof(opts));
		model.kind = AIGC_KIND_TRANSFORMER;
		model.ops = &aigc_transformer_ops;
		opts.n_layer = spec->n_enc;
		opts.n_head = spec->n_dec;
		opts.d_model = 4 * spec->n_dec;
		opts.offset_bins = 4;
		opts.temperature = spec->n_dec == 2 ? 0.5 : 1.0;
		model.net = model.ops->init(model.ops->config_from_options(&opts, model.colenc.dim),
									&model.colenc, &rng);
		return aigc_model_serialize(&model);
	}
	if (spec->kind == AIGC_KIND_GAN)
	{
		AigcGanConfig gcfg;

		memset(&gcfg, 0, sizeof(gcfg));
		model.kind = AIGC_KIND_GAN;
		model.ops = &aigc_gan_ops;
		gcfg.data_dim = model.colenc.dim;
		gcfg.noise_dim = 4;
		gcfg.n_gen = spec->n_enc;
		gcfg.n_dis = spec->n_dec;
		for (int i = 0; i < AIGC_MAX_HIDDEN; i++)
			gcfg.gen_dims[i] = gcfg.dis_dims[i] = 5 + i;
		gcfg.pac = 2;
		gcfg.leaky_slope = 0.2;
		gcfg.dropout = 0.5;
		gcfg.tau = 0.2;
		model.net = aigc_gan_ops.init(&gcfg, &model.colenc, &rng);
		return aigc_model_serialize(&model);
	}

	memset(&cfg, 0, sizeof(cfg));
	cfg.data_dim = model.colenc.dim;
	cfg.latent_dim = 3;
	cfg.n_enc = spec->n_enc;
	cfg.n_dec = spec->n_dec;
	for (int i = 0; i < AIGC_MAX_HIDDEN; i++)
		cfg.enc_dims[i] = cfg.dec_dims[i] = 5 + i;
	cfg.loss_factor = 2.0;
	model.net = aigc_vae_ops.init(&cfg, &model.colenc, &rng);

	return aigc_model_serialize(&model);
}

int
main(int argc, char **argv)
{
	if (argc != 2)
	{
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	for (int i = 0; i < lengthof(specs); i++)
	{
		char		path[1024];
		bytea	   *blob = build_blob(&specs[i]);
		FILE	   *f;

		/* a seed the reader rejects would waste the corpus: ERROR aborts */
		(void) aigc_model_deserialize(VARDATA(blob), VARSIZE(blob) - VARHDRSZ);

		snprintf(path, sizeof(path), "%s/%s", argv[1], specs[i].file);
		f = fopen(path, "wb");
		if (f == NULL ||
			fwrite(VARDATA(blob), 1, VARSIZE(blob) - VARHDRSZ, f) != VARSIZE(blob) - VARHDRSZ ||
			fclose(f) != 0)
		{
			perror(path);
			return 1;
		}
		aigc_shim_reset();
	}
	return 0;
}
