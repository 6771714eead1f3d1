/*
 * options.c
 *		Training options from jsonb.  Unknown keys, wrong JSON types and
 *		out-of-range values are errors: a typo must not silently train with
 *		a default.
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "common/pg_prng.h"
#include "common/shortest_dec.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "options.h"

#define MAX_UNITS 4096

int			aigc_train_memory_limit = 1024 * 1024;

void
aigc_define_settings(void)
{
	DefineCustomIntVariable("aigc.train_memory_limit",
							"Memory a training run may use for its network and the rows it learns from.",
							"Options whose network does not fit are refused; a table whose "
							"rows do not fit in what the network leaves is trained on a "
							"uniform random sample of them.",
							&aigc_train_memory_limit,
							1024 * 1024, 1024, MAX_KILOBYTES,
							PGC_USERSET, GUC_UNIT_KB,
							NULL, NULL, NULL);
	MarkGUCPrefixReserved("aigc");
}

static void
bad_option(const char *key, const char *expected)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid value for training option \"%s\"", key),
			 errdetail("Expected %s.", expected)));
}

/* -1, 0 or 1 as |num| is below, at or above the decimal text bound */
static int
abs_cmp(Numeric num, const char *bound)
{
	Datum		abs = DirectFunctionCall1(numeric_abs, NumericGetDatum(num));
	Datum		b = DirectFunctionCall3(numeric_in, CStringGetDatum(bound),
										ObjectIdGetDatum(InvalidOid),
										Int32GetDatum(-1));

	return DatumGetInt32(DirectFunctionCall2(numeric_cmp, abs, b));
}

/*
 * Converting a numeric beyond double's range fails with all its digits in
 * the message (1e400 is valid JSON), so callers check first: false for NaN,
 * infinity and magnitudes over 1e300; magnitudes under 1e-300 count as 0.
 */
bool
aigc_numeric_to_double(Numeric num, double *out)
{
	if (numeric_is_nan(num) || numeric_is_inf(num) || abs_cmp(num, "1e300") > 0)
		return false;
	if (abs_cmp(num, "1e-300") < 0)
		*out = 0.0;
	else
		*out = DatumGetFloat8(DirectFunctionCall1(numeric_float8,
												  NumericGetDatum(num)));
	return true;
}

/* A JSON number, refused with the expected range when out of double's */
static double
number_value(const char *key, const JsonbValue *v, const char *expected)
{
	double		d;

	if (v->type != jbvNumeric || !aigc_numeric_to_double(v->val.numeric, &d))
		bad_option(key, expected);
	return d;
}

static int
int_value(const char *key, const JsonbValue *v, int lo, int hi)
{
	char	   *expected = psprintf("an integer from %d to %d", lo, hi);
	double		d = number_value(key, v, expected);

	if (isnan(d) || d != floor(d) || d < lo || d > hi)
		bad_option(key, expected);
	return (int) d;
}

static double
real_value(const char *key, const JsonbValue *v, double lo, double hi,
		   bool lo_open)
{
	char	   *expected = psprintf("a number in %s%g, %g]", lo_open ? "(" : "[", lo, hi);
	double		d = number_value(key, v, expected);

	if (isnan(d) || d > hi || d < lo || (lo_open && d == lo))
		bad_option(key, expected);
	return d;
}

/* Elements of a JSON array option, each checked by the caller */
static List *
array_elements(const char *key, const JsonbValue *v, const char *expected)
{
	JsonbIterator *it;
	JsonbValue	elem;
	JsonbIteratorToken tok;
	List	   *result = NIL;

	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		bad_option(key, expected);
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
	{
		if (tok == WJB_ELEM)
		{
			JsonbValue *copy = palloc_object(JsonbValue);

			*copy = elem;
			result = lappend(result, copy);
		}
	}
	return result;
}

static int
dims_value(const char *key, const JsonbValue *v, int *dims)
{
	const char *expected = "an array of at most 8 integers from 1 to 4096";
	List	   *elems = array_elements(key, v, expected);
	ListCell   *lc;
	int			n = 0;

	if (list_length(elems) > AIGC_MAX_HIDDEN)
		bad_option(key, expected);
	foreach(lc, elems)
		dims[n++] = int_value(key, lfirst(lc), 1, MAX_UNITS);
	return n;
}

/* Options that only one kind of model has */
static const char *const vae_only[] = {
	"loss_factor", "latent_dim", "encoder_dims", "decoder_dims", "calibrate"
};
static const char *const gan_only[] = {
	"noise_dim", "generator_dims", "discriminator_dims", "pac",
	"discriminator_learning_rate", "discriminator_weight_decay",
	"discriminator_steps", "gradient_penalty", "gumbel_tau", "log_frequency", "generator_average"
};

static bool
key_in(const char *key, const char *const *keys, int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(key, keys[i]) == 0)
			return true;
	return false;
}

static void
check_kind(const char *key, AigcModelKind kind)
{
	AigcModelKind owner;

	if (key_in(key, vae_only, lengthof(vae_only)))
		owner = AIGC_KIND_VAE;
	else if (key_in(key, gan_only, lengthof(gan_only)))
		owner = AIGC_KIND_GAN;
	else
		return;
	if (owner != kind)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("training option \"%s\" does not apply to kind \"%s\"",
						key, aigc_kind_name(kind)),
				 errhint("It is an option of kind \"%s\" models.",
						 aigc_kind_name(owner))));
}

/*
 * Defaults are TVAE's for a VAE and CTGAN's for a GAN, so comparisons with
 * them are like for like.
 */
static void
set_defaults(AigcModelKind kind, AigcTrainOptions *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->epochs = 300;
	opts->batch_size = 500;
	opts->max_modes = 10;
	opts->max_categories = 1000;
	opts->exclude = NIL;
	if (kind == AIGC_KIND_GAN)
	{
		opts->learning_rate = 2e-4;
		opts->weight_decay = 1e-6;
		opts->noise_dim = 128;
		opts->n_gen = 2;
		opts->gen_dims[0] = opts->gen_dims[1] = 256;
		opts->n_dis = 2;
		opts->dis_dims[0] = opts->dis_dims[1] = 256;
		opts->pac = 10;
		opts->dis_learning_rate = 2e-4;
		opts->dis_weight_decay = 1e-6;
		opts->dis_steps = 1;
		opts->gradient_penalty = 10.0;
		opts->gumbel_tau = 0.2;
		opts->log_frequency = true;
		/* the one default CTGAN lacks: see docs/gan.md, "Fidelity" */
		opts->generator_average = 0.99;
	}
	else
	{
		opts->calibrate = true;
		opts->learning_rate = 1e-3;
		opts->weight_decay = 1e-5;
		opts->loss_factor = 2.0;
		opts->latent_dim = 128;
		opts->n_enc = 2;
		opts->enc_dims[0] = opts->enc_dims[1] = 128;
		opts->n_dec = 2;
		opts->dec_dims[0] = opts->dec_dims[1] = 128;
	}
}

void
aigc_parse_train_options(Jsonb *options, AigcModelKind kind,
						 AigcTrainOptions *opts)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	bool		progress_given = false;

	set_defaults(kind, opts);
	/* within 2^53 so the stored seed can be passed back as a JSON number */
	opts->seed = pg_prng_uint64_range(&pg_global_prng_state, 0,
									  (UINT64CONST(1) << 53) - 1);
	if (options == NULL)
		options = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
	if (!JB_ROOT_IS_OBJECT(options) || JB_ROOT_IS_SCALAR(options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("training options must be a JSON object")));

	it = JsonbIteratorInit(&options->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *key;

		if (tok != WJB_KEY)
			continue;
		key = pnstrdup(v.val.string.val, v.val.string.len);
		tok = JsonbIteratorNext(&it, &v, true);
		Assert(tok == WJB_VALUE);
		check_kind(key, kind);

		if (strcmp(key, "epochs") == 0)
			opts->epochs = int_value(key, &v, 1, 1000000);
		else if (strcmp(key, "batch_size") == 0)
			opts->batch_size = int_value(key, &v, 1, 1000000);
		else if (strcmp(key, "seed") == 0)
		{
			const char *expected = "an integer of at most 2^53 in magnitude";
			double		d = number_value(key, &v, expected);

			if (isnan(d) || d != floor(d) || fabs(d) > 9.007199254740992e15)
				bad_option(key, expected);
			opts->seed = (uint64) (int64) d;
		}
		else if (strcmp(key, "learning_rate") == 0)
			opts->learning_rate = real_value(key, &v, 0.0, 1.0, true);
		else if (strcmp(key, "weight_decay") == 0)
			opts->weight_decay = real_value(key, &v, 0.0, 1.0, false);
		else if (strcmp(key, "loss_factor") == 0)
			opts->loss_factor = real_value(key, &v, 0.0, 1000.0, true);
		else if (strcmp(key, "latent_dim") == 0)
			opts->latent_dim = int_value(key, &v, 1, MAX_UNITS);
		else if (strcmp(key, "encoder_dims") == 0)
			opts->n_enc = dims_value(key, &v, opts->enc_dims);
		else if (strcmp(key, "decoder_dims") == 0)
			opts->n_dec = dims_value(key, &v, opts->dec_dims);
		else if (strcmp(key, "noise_dim") == 0)
			opts->noise_dim = int_value(key, &v, 1, MAX_UNITS);
		else if (strcmp(key, "generator_dims") == 0)
			opts->n_gen = dims_value(key, &v, opts->gen_dims);
		else if (strcmp(key, "discriminator_dims") == 0)
		{
			opts->n_dis = dims_value(key, &v, opts->dis_dims);
			if (opts->n_dis == 0)
				bad_option(key, "an array of 1 to 8 integers from 1 to 4096");
		}
		else if (strcmp(key, "pac") == 0)
			opts->pac = int_value(key, &v, 1, 1000);
		else if (strcmp(key, "discriminator_learning_rate") == 0)
			opts->dis_learning_rate = real_value(key, &v, 0.0, 1.0, true);
		else if (strcmp(key, "discriminator_weight_decay") == 0)
			opts->dis_weight_decay = real_value(key, &v, 0.0, 1.0, false);
		else if (strcmp(key, "discriminator_steps") == 0)
			opts->dis_steps = int_value(key, &v, 1, 100);
		else if (strcmp(key, "gradient_penalty") == 0)
			opts->gradient_penalty = real_value(key, &v, 0.0, 1e6, false);
		else if (strcmp(key, "gumbel_tau") == 0)
			opts->gumbel_tau = real_value(key, &v, 0.0, 100.0, true);
		else if (strcmp(key, "generator_average") == 0)
			opts->generator_average = real_value(key, &v, 0.0, 0.9999, false);
		else if (strcmp(key, "log_frequency") == 0)
		{
			if (v.type != jbvBool)
				bad_option(key, "true or false");
			opts->log_frequency = v.val.boolean;
		}
		else if (strcmp(key, "max_modes") == 0)
			opts->max_modes = int_value(key, &v, 1, 64);
		else if (strcmp(key, "max_categories") == 0)
			opts->max_categories = int_value(key, &v, 1, 1000000);
		else if (strcmp(key, "progress_every") == 0)
		{
			opts->progress_every = int_value(key, &v, 0, 1000000);
			progress_given = true;
		}
		else if (strcmp(key, "calibrate") == 0)
		{
			if (v.type != jbvBool)
				bad_option(key, "true or false");
			opts->calibrate = v.val.boolean;
		}
		else if (strcmp(key, "exclude") == 0)
		{
			const char *expected = "an array of column names";
			ListCell   *lc;

			foreach(lc, array_elements(key, &v, expected))
			{
				JsonbValue *e = lfirst(lc);

				if (e->type != jbvString)
					bad_option(key, expected);
				opts->exclude = lappend(opts->exclude,
										pnstrdup(e->val.string.val, e->val.string.len));
			}
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unrecognized training option \"%s\"", key),
					 errhint("Valid options are epochs, batch_size, seed, learning_rate, weight_decay, max_modes, max_categories, progress_every and exclude; "
							 "for a VAE also loss_factor, latent_dim, encoder_dims, decoder_dims and calibrate; "
							 "for a GAN also noise_dim, generator_dims, discriminator_dims, pac, discriminator_learning_rate, discriminator_weight_decay, discriminator_steps, gradient_penalty, gumbel_tau, log_frequency and generator_average.")));
	}
	/* CTGAN asserts this too: the discriminator sees whole pac groups */
	if (kind == AIGC_KIND_GAN && opts->batch_size % opts->pac != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("training option \"batch_size\" (%d) must be a multiple of \"pac\" (%d)",
						opts->batch_size, opts->pac)));
	if (!progress_given)
		opts->progress_every = Max(1, opts->epochs / 10);
}

static void
append_dims(StringInfo buf, const char *key, const int *dims, int n)
{
	appendStringInfo(buf, ", \"%s\": [", key);
	for (int i = 0; i < n; i++)
		appendStringInfo(buf, "%s%d", i > 0 ? ", " : "", dims[i]);
	appendStringInfoChar(buf, ']');
}

/* Shortest exact decimal form: 1e-5 is stored as 1e-05, not 1.0000000000000001e-05 */
static char *
shortest(double v)
{
	char	   *buf = palloc(DOUBLE_SHORTEST_DECIMAL_LEN);

	double_to_shortest_decimal_buf(v, buf);
	return buf;
}

/* The effective options, including the seed drawn when none was given */
Jsonb *
aigc_train_options_jsonb(const AigcTrainOptions *opts, AigcModelKind kind)
{
	StringInfoData buf;
	ListCell   *lc;
	bool		first = true;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"kind\": \"%s\", \"epochs\": %d, \"batch_size\": %d, "
					 "\"seed\": " INT64_FORMAT ", \"learning_rate\": %s, "
					 "\"weight_decay\": %s",
					 aigc_kind_name(kind), opts->epochs, opts->batch_size,
					 (int64) opts->seed, shortest(opts->learning_rate),
					 shortest(opts->weight_decay));
	if (kind == AIGC_KIND_GAN)
	{
		appendStringInfo(&buf, ", \"noise_dim\": %d", opts->noise_dim);
		append_dims(&buf, "generator_dims", opts->gen_dims, opts->n_gen);
		append_dims(&buf, "discriminator_dims", opts->dis_dims, opts->n_dis);
		appendStringInfo(&buf, ", \"pac\": %d, \"discriminator_learning_rate\": %s, "
						 "\"discriminator_weight_decay\": %s, "
						 "\"discriminator_steps\": %d, \"gradient_penalty\": %s, "
						 "\"gumbel_tau\": %s, \"log_frequency\": %s, "
						 "\"generator_average\": %s",
						 opts->pac, shortest(opts->dis_learning_rate),
						 shortest(opts->dis_weight_decay), opts->dis_steps,
						 shortest(opts->gradient_penalty), shortest(opts->gumbel_tau),
						 opts->log_frequency ? "true" : "false",
						 shortest(opts->generator_average));
	}
	else
	{
		appendStringInfo(&buf, ", \"loss_factor\": %s, \"latent_dim\": %d, "
						 "\"calibrate\": %s",
						 shortest(opts->loss_factor), opts->latent_dim,
						 opts->calibrate ? "true" : "false");
		append_dims(&buf, "encoder_dims", opts->enc_dims, opts->n_enc);
		append_dims(&buf, "decoder_dims", opts->dec_dims, opts->n_dec);
	}
	appendStringInfo(&buf, ", \"max_modes\": %d, \"max_categories\": %d, \"exclude\": [",
					 opts->max_modes, opts->max_categories);
	foreach(lc, opts->exclude)
	{
		if (!first)
			appendStringInfoString(&buf, ", ");
		escape_json(&buf, lfirst(lc));
		first = false;
	}
	appendStringInfoString(&buf, "]}");
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

void
aigc_vae_config_from_options(const AigcTrainOptions *opts, int data_dim,
							 AigcVaeConfig *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->data_dim = data_dim;
	cfg->latent_dim = opts->latent_dim;
	cfg->n_enc = opts->n_enc;
	memcpy(cfg->enc_dims, opts->enc_dims, sizeof(cfg->enc_dims));
	cfg->n_dec = opts->n_dec;
	memcpy(cfg->dec_dims, opts->dec_dims, sizeof(cfg->dec_dims));
	cfg->loss_factor = opts->loss_factor;
}

void
aigc_gan_config_from_options(const AigcTrainOptions *opts, int data_dim,
							 int cond_dim, AigcGanConfig *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->data_dim = data_dim;
	cfg->cond_dim = cond_dim;
	cfg->noise_dim = opts->noise_dim;
	cfg->n_gen = opts->n_gen;
	memcpy(cfg->gen_dims, opts->gen_dims, sizeof(cfg->gen_dims));
	cfg->n_dis = opts->n_dis;
	memcpy(cfg->dis_dims, opts->dis_dims, sizeof(cfg->dis_dims));
	cfg->pac = opts->pac;
	cfg->leaky_slope = 0.2;
	cfg->dropout = 0.5;
	cfg->tau = opts->gumbel_tau;
}

/* What training a network of these options allocates; nrows 0: not known */
static AigcSizeEstimate
network_size(const AigcTrainOptions *opts, AigcModelKind kind, int data_dim,
			 int cond_dim, int64 nrows)
{
	AigcSizeEstimate e = {0.0, 0.0};

	if (kind == AIGC_KIND_GAN)
	{
		AigcGanConfig cfg;

		aigc_gan_config_from_options(opts, data_dim, cond_dim, &cfg);
		/* CTGAN draws batch_size rows with replacement, however few there are */
		aigc_gan_train_size(&cfg, opts->batch_size,
							opts->generator_average > 0.0, &e);
	}
	else
	{
		AigcVaeConfig cfg;

		aigc_vae_config_from_options(opts, data_dim, &cfg);
		aigc_vae_train_size(&cfg, (int) Max(Min((int64) opts->batch_size, nrows), 1),
							&e);
	}
	return e;
}

/* How far over its limits an estimate is: above 1 is too large */
static double
size_excess(const AigcSizeEstimate *e, double limit)
{
	return Max(e->total / limit, e->largest / (double) MaxAllocSize);
}

/* The options that size the network */
static const char *const size_options[] = {
	"batch_size", "latent_dim", "encoder_dims", "decoder_dims", "noise_dim",
	"generator_dims", "discriminator_dims", "pac"
};

static void
reset_size_option(AigcTrainOptions *opts, const AigcTrainOptions *def,
				  const char *key)
{
	if (strcmp(key, "batch_size") == 0)
		opts->batch_size = def->batch_size;
	else if (strcmp(key, "latent_dim") == 0)
		opts->latent_dim = def->latent_dim;
	else if (strcmp(key, "encoder_dims") == 0)
	{
		opts->n_enc = def->n_enc;
		memcpy(opts->enc_dims, def->enc_dims, sizeof(opts->enc_dims));
	}
	else if (strcmp(key, "decoder_dims") == 0)
	{
		opts->n_dec = def->n_dec;
		memcpy(opts->dec_dims, def->dec_dims, sizeof(opts->dec_dims));
	}
	else if (strcmp(key, "noise_dim") == 0)
		opts->noise_dim = def->noise_dim;
	else if (strcmp(key, "generator_dims") == 0)
	{
		opts->n_gen = def->n_gen;
		memcpy(opts->gen_dims, def->gen_dims, sizeof(opts->gen_dims));
	}
	else if (strcmp(key, "discriminator_dims") == 0)
	{
		opts->n_dis = def->n_dis;
		memcpy(opts->dis_dims, def->dis_dims, sizeof(opts->dis_dims));
	}
	else if (strcmp(key, "pac") == 0)
		opts->pac = def->pac;
}

/*
 * Measured against MemoryContextMemAllocated of the run from network
 * allocation to the stored bytea (one epoch; the per-row permutation and
 * sampler index, the rows' share, are in it: under 1 MB here): the
 * estimate is 1.13x the
 * allocations for the default VAE on the 20000-row demo table (6.89 MB
 * against 6.11 MB), 1.14x for the default GAN (27.6 MB against 24.2 MB),
 * 1.32x for a VAE with 1024-wide layers.  The excess is the serializer's
 * buffer, freed before the measurement: it grows by doubling, so it is
 * counted at twice the weights.  The estimate errs high, never low.
 */
double
aigc_check_network_size(const AigcTrainOptions *opts, AigcModelKind kind,
						int data_dim, int cond_dim, int64 nrows)
{
	double		limit = (double) aigc_train_memory_limit * 1024.0;
	AigcSizeEstimate e = network_size(opts, kind, data_dim, cond_dim, nrows);
	AigcTrainOptions def;
	const char *culprit = NULL;
	double		best;
	char	   *over;
	char	   *rows;

	if (size_excess(&e, limit) <= 1.0)
		return e.total;

	/* blame the option whose default would shrink the network the most */
	best = size_excess(&e, limit);
	set_defaults(kind, &def);
	for (int i = 0; i < lengthof(size_options); i++)
	{
		AigcTrainOptions o = *opts;
		AigcSizeEstimate r;
		const char *key = size_options[i];

		if (key_in(key, kind == AIGC_KIND_GAN ? vae_only : gan_only,
				   kind == AIGC_KIND_GAN ? lengthof(vae_only) : lengthof(gan_only)))
			continue;
		reset_size_option(&o, &def, key);
		r = network_size(&o, kind, data_dim, cond_dim, nrows);
		if (size_excess(&r, limit) < best)
		{
			best = size_excess(&r, limit);
			culprit = key;
		}
	}

	if (e.total > limit)
		over = psprintf("an estimated %.0f bytes, over aigc.train_memory_limit (%.0f bytes)",
						e.total, limit);
	else
		over = psprintf("one allocation of an estimated %.0f bytes, over the largest PostgreSQL makes (%zu bytes)",
						e.largest, (size_t) MaxAllocSize);
	rows = nrows > 0 ? psprintf("rows of %d encoded values", data_dim) :
		pstrdup("the narrowest rows (before the rows are read)");
	if (culprit != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("training option \"%s\" makes the network too large: %s",
						culprit, over),
				 errdetail("The estimate counts the weights, their gradients, the optimiser's state, the stored copy and the batch buffers for %s.",
						   rows),
				 errhint("Make \"%s\" smaller%s.", culprit,
						 e.total > limit ? " or raise aigc.train_memory_limit" : "")));
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 nrows > 0 ?
			 errmsg("the network for rows of %d encoded values is too large: %s",
					data_dim, over) :
			 errmsg("the network of these options is too large: %s", over),
			 errdetail("The estimate counts the weights, their gradients, the optimiser's state, the stored copy and the batch buffers."),
			 nrows > 0 ?
			 errhint("Exclude wide columns, lower max_categories or max_modes%s.",
					 e.total > limit ? ", or raise aigc.train_memory_limit" : "") :
			 errhint("Raise aigc.train_memory_limit.")));
	return e.total;				/* keep compiler quiet */
}
