/*
 * options.c
 *		Training options from jsonb.  Unknown keys, wrong JSON types and
 *		out-of-range values are errors: a typo must not silently train with
 *		a default.
 *
 * Every option is one row of train_options[]: its JSON type, range, the
 * field of AigcTrainOptions it lands in (as pgvector's reloption tables do
 * it, by offsetof), which kinds have it and their defaults.  Parsing,
 * defaults, the hints of errors and the stored hyperparameters are all
 * generated from the table; each kind builds its network's configuration
 * from the filled AigcTrainOptions (config_from_options, core/kind.h).
 */
#include "postgres.h"

#include <limits.h>

#include "common/pg_prng.h"
#include "common/shortest_dec.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "core/threads.h"
#include "train/options.h"

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

typedef enum OptionType
{
	OPT_INT,					/* int, from lo to hi */
	OPT_REAL,					/* double, in [lo, hi] or (lo, hi] */
	OPT_BOOL,					/* bool */
	OPT_SEED,					/* uint64, an integer of at most 2^53 in magnitude */
	OPT_DIMS,					/* int[AIGC_MAX_HIDDEN] and its count, each lo to hi */
	OPT_NAMES,					/* List of char * */
	OPT_PRIVACY,				/* AigcPrivacyOptions, from an object or null */
	OPT_BOUNDS,					/* List of AigcPublicBound * */
	OPT_CATEGORIES				/* List of AigcPublicCategories * */
} OptionType;

typedef struct TrainOption TrainOption;

/*
 * Run once the whole object is parsed, in table order, for the options of
 * the kind: given says whether the user set the option.  Derives what has
 * no fixed default and checks what depends on other options.
 */
typedef void (*OptionFinish) (const TrainOption *o, AigcTrainOptions *opts,
							  bool given);

struct TrainOption
{
	const char *name;
	OptionType	type;
	double		lo;				/* range of the value, or of each element */
	double		hi;
	bool		lo_open;		/* lo itself is out of range */
	int			min_len;		/* OPT_DIMS: fewest elements */
	size_t		offset;			/* the field of AigcTrainOptions */
	size_t		count_offset;	/* OPT_DIMS: the field of the element count */
	uint32		kinds;			/* bit (1 << kind) for each kind that has it */
	const char *all;			/* the default of every kind, as JSON */
	const char *by_kind[AIGC_KIND_SLOTS];	/* else of each kind */
	OptionFinish finish;		/* derives the default where both are NULL */
	bool		stored;			/* part of the model's hyperparams */
	bool		sizes;			/* sizes the network (memory check) */
};

#define EVERY_KIND (~(uint32) 0)
#define KIND(k) ((uint32) 1 << (k))
#define FIELD(f) offsetof(AigcTrainOptions, f)
#define MAX_UNITS 4096

/* within 2^53 so the stored seed can be passed back as a JSON number */
#define SEED_LIMIT (INT64CONST(1) << 53)

static void draw_seed(const TrainOption *o, AigcTrainOptions *opts, bool given);
static void default_progress(const TrainOption *o, AigcTrainOptions *opts, bool given);
static void check_pac(const TrainOption *o, AigcTrainOptions *opts, bool given);
static void check_calibrate(const TrainOption *o, AigcTrainOptions *opts, bool given);
static void check_log_frequency(const TrainOption *o, AigcTrainOptions *opts, bool given);
static void check_heads(const TrainOption *o, AigcTrainOptions *opts, bool given);

/*
 * Defaults are TVAE's for a VAE and CTGAN's for a GAN, so comparisons with
 * them are like for like.  The order is the order of the hints.
 */
static const TrainOption train_options[] = {
	{
		.name = "epochs", .type = OPT_INT, .lo = 1, .hi = 1000000,
		.offset = FIELD(epochs),
		.kinds = EVERY_KIND,
		.by_kind = {[AIGC_KIND_VAE] = "300", [AIGC_KIND_GAN] = "300",
		[AIGC_KIND_TRANSFORMER] = "30"}, .stored = true
	},
	{
		.name = "batch_size", .type = OPT_INT, .lo = 1, .hi = 1000000,
		.offset = FIELD(batch_size),
		.kinds = EVERY_KIND,
		.by_kind = {[AIGC_KIND_VAE] = "500", [AIGC_KIND_GAN] = "500",
		[AIGC_KIND_TRANSFORMER] = "256"}, .stored = true, .sizes = true
	},
	{
		.name = "seed", .type = OPT_SEED, .lo = -SEED_LIMIT, .hi = SEED_LIMIT,
		.offset = FIELD(seed),
		.kinds = EVERY_KIND, .finish = draw_seed, .stored = true
	},
	{
		.name = "learning_rate", .type = OPT_REAL, .lo = 0, .hi = 1,
		.offset = FIELD(learning_rate), .lo_open = true,
		.kinds = EVERY_KIND,
		.by_kind = {[AIGC_KIND_VAE] = "1e-3", [AIGC_KIND_GAN] = "2e-4",
		[AIGC_KIND_TRANSFORMER] = "1e-3"}, .stored = true
	},
	{
		.name = "weight_decay", .type = OPT_REAL, .lo = 0, .hi = 1,
		.offset = FIELD(weight_decay),
		.kinds = EVERY_KIND,
		.by_kind = {[AIGC_KIND_VAE] = "1e-5", [AIGC_KIND_GAN] = "1e-6",
		[AIGC_KIND_TRANSFORMER] = "0"}, .stored = true
	},
	{
		.name = "max_modes", .type = OPT_INT, .lo = 1, .hi = 64,
		.offset = FIELD(max_modes),
		.kinds = EVERY_KIND, .all = "10", .stored = true
	},
	{
		.name = "max_categories", .type = OPT_INT, .lo = 1, .hi = 1000000,
		.offset = FIELD(max_categories),
		.kinds = EVERY_KIND, .all = "1000", .stored = true
	},
	/* how a run reports, not what it learns: not stored */
	{
		.name = "progress_every", .type = OPT_INT, .lo = 0, .hi = 1000000,
		.offset = FIELD(progress_every),
		.kinds = EVERY_KIND, .finish = default_progress
	},
	/* a budget, like statement_timeout: 0 for none; stats record the outcome */
	{
		.name = "max_seconds", .type = OPT_REAL, .lo = 0, .hi = 1e9,
		.offset = FIELD(max_seconds),
		.kinds = EVERY_KIND, .all = "0"
	},
	{
		.name = "exclude", .type = OPT_NAMES,
		.offset = FIELD(exclude),
		.kinds = EVERY_KIND, .all = "[]", .stored = true
	},
	/* public metadata: train/public_stats.c checks them against the columns */
	{
		.name = "bounds", .type = OPT_BOUNDS,
		.offset = FIELD(bounds),
		.kinds = EVERY_KIND, .all = "{}", .stored = true
	},
	{
		.name = "categories", .type = OPT_CATEGORIES,
		.offset = FIELD(categories),
		.kinds = EVERY_KIND, .all = "{}", .stored = true
	},
	/* kinds without DP-SGD refuse it in train.c with 0A000, not as unknown */
	{
		.name = "privacy", .type = OPT_PRIVACY,
		.offset = FIELD(privacy),
		.kinds = EVERY_KIND, .all = "null"
	},

	{
		.name = "loss_factor", .type = OPT_REAL, .lo = 0, .hi = 1000,
		.offset = FIELD(loss_factor), .lo_open = true,
		.kinds = KIND(AIGC_KIND_VAE), .all = "2", .stored = true
	},
	{
		.name = "latent_dim", .type = OPT_INT, .lo = 1, .hi = MAX_UNITS,
		.offset = FIELD(latent_dim),
		.kinds = KIND(AIGC_KIND_VAE), .all = "128", .stored = true, .sizes = true
	},
	{
		.name = "encoder_dims", .type = OPT_DIMS, .lo = 1, .hi = MAX_UNITS,
		.offset = FIELD(enc_dims), .count_offset = FIELD(n_enc),
		.kinds = KIND(AIGC_KIND_VAE), .all = "[128, 128]", .stored = true, .sizes = true
	},
	{
		.name = "decoder_dims", .type = OPT_DIMS, .lo = 1, .hi = MAX_UNITS,
		.offset = FIELD(dec_dims), .count_offset = FIELD(n_dec),
		.kinds = KIND(AIGC_KIND_VAE), .all = "[128, 128]", .stored = true, .sizes = true
	},
	{
		.name = "calibrate", .type = OPT_BOOL,
		.offset = FIELD(calibrate),
		.kinds = KIND(AIGC_KIND_VAE), .all = "true", .finish = check_calibrate,
		.stored = true
	},

	{
		.name = "noise_dim", .type = OPT_INT, .lo = 1, .hi = MAX_UNITS,
		.offset = FIELD(noise_dim),
		.kinds = KIND(AIGC_KIND_GAN), .all = "128", .stored = true, .sizes = true
	},
	{
		.name = "generator_dims", .type = OPT_DIMS, .lo = 1, .hi = MAX_UNITS,
		.offset = FIELD(gen_dims), .count_offset = FIELD(n_gen),
		.kinds = KIND(AIGC_KIND_GAN), .all = "[256, 256]", .stored = true, .sizes = true
	},
	{
		.name = "discriminator_dims", .type = OPT_DIMS, .lo = 1, .hi = MAX_UNITS,
		.offset = FIELD(dis_dims), .min_len = 1, .count_offset = FIELD(n_dis),
		.kinds = KIND(AIGC_KIND_GAN), .all = "[256, 256]", .stored = true, .sizes = true
	},
	/* CTGAN asserts this too: the discriminator sees whole pac groups */
	{
		.name = "pac", .type = OPT_INT, .lo = 1, .hi = 1000,
		.offset = FIELD(pac),
		.kinds = KIND(AIGC_KIND_GAN), .all = "10", .finish = check_pac, .stored = true, .sizes = true
	},
	{
		.name = "discriminator_learning_rate", .type = OPT_REAL, .lo = 0, .hi = 1,
		.offset = FIELD(dis_learning_rate), .lo_open = true,
		.kinds = KIND(AIGC_KIND_GAN), .all = "2e-4", .stored = true
	},
	{
		.name = "discriminator_weight_decay", .type = OPT_REAL, .lo = 0, .hi = 1,
		.offset = FIELD(dis_weight_decay),
		.kinds = KIND(AIGC_KIND_GAN), .all = "1e-6", .stored = true
	},
	{
		.name = "discriminator_steps", .type = OPT_INT, .lo = 1, .hi = 100,
		.offset = FIELD(dis_steps),
		.kinds = KIND(AIGC_KIND_GAN), .all = "1", .stored = true
	},
	{
		.name = "gradient_penalty", .type = OPT_REAL, .lo = 0, .hi = 1e6,
		.offset = FIELD(gradient_penalty),
		.kinds = KIND(AIGC_KIND_GAN), .all = "10", .stored = true
	},
	{
		.name = "gumbel_tau", .type = OPT_REAL, .lo = 0, .hi = 100,
		.offset = FIELD(gumbel_tau), .lo_open = true,
		.kinds = KIND(AIGC_KIND_GAN), .all = "0.2", .stored = true
	},
	{
		.name = "log_frequency", .type = OPT_BOOL,
		.offset = FIELD(log_frequency),
		.kinds = KIND(AIGC_KIND_GAN), .all = "true", .finish = check_log_frequency,
		.stored = true
	},
	/* the one default CTGAN lacks: see docs/gan.md, "Fidelity" */
	{
		.name = "generator_average", .type = OPT_REAL, .lo = 0, .hi = 0.9999,
		.offset = FIELD(generator_average),
		.kinds = KIND(AIGC_KIND_GAN), .all = "0.99", .stored = true
	},

	/* docs/transformer.md: its proposed defaults */
	{
		.name = "n_layer", .type = OPT_INT, .lo = 1, .hi = 64,
		.offset = FIELD(n_layer),
		.kinds = KIND(AIGC_KIND_TRANSFORMER), .all = "2", .stored = true, .sizes = true
	},
	{
		.name = "d_model", .type = OPT_INT, .lo = 1, .hi = MAX_UNITS,
		.offset = FIELD(d_model),
		.kinds = KIND(AIGC_KIND_TRANSFORMER), .all = "64", .stored = true, .sizes = true
	},
	{
		.name = "n_head", .type = OPT_INT, .lo = 1, .hi = MAX_UNITS,
		.offset = FIELD(n_head),
		.kinds = KIND(AIGC_KIND_TRANSFORMER), .all = "4", .finish = check_heads,
		.stored = true, .sizes = true
	},
	{
		.name = "offset_bins", .type = OPT_INT, .lo = 2, .hi = 65536,
		.offset = FIELD(offset_bins),
		.kinds = KIND(AIGC_KIND_TRANSFORMER), .all = "32", .stored = true, .sizes = true
	},
	/* how the model samples, stored in it: 1 draws from p(row) itself */
	{
		.name = "temperature", .type = OPT_REAL, .lo = 0, .hi = 1,
		.offset = FIELD(temperature), .lo_open = true,
		.kinds = KIND(AIGC_KIND_TRANSFORMER), .all = "1", .stored = true
	},
};

#define NOPTIONS lengthof(train_options)

static bool
has_option(const TrainOption *o, AigcModelKind kind)
{
	return (o->kinds & KIND(kind)) != 0;
}

/* "a", "a and b", "a, b and c" of the names of kinds, or of options */
static void
append_list_item(StringInfo buf, int i, int n, const char *fmt, const char *item)
{
	if (i > 0)
		appendStringInfoString(buf, i == n - 1 ? " and " : ", ");
	appendStringInfo(buf, fmt, item);
}

/* What a valid value of o looks like, for errdetail */
static char *
expected_of(const TrainOption *o)
{
	switch (o->type)
	{
		case OPT_INT:
			return psprintf("an integer from %d to %d", (int) o->lo, (int) o->hi);
		case OPT_REAL:
			return psprintf("a number in %s%g, %g]", o->lo_open ? "(" : "[", o->lo, o->hi);
		case OPT_BOOL:
			return "true or false";
		case OPT_SEED:
			return "an integer of at most 2^53 in magnitude";
		case OPT_DIMS:
			if (o->min_len > 0)
				return psprintf("an array of %d to %d integers from %d to %d",
								o->min_len, AIGC_MAX_HIDDEN, (int) o->lo, (int) o->hi);
			return psprintf("an array of at most %d integers from %d to %d",
							AIGC_MAX_HIDDEN, (int) o->lo, (int) o->hi);
		case OPT_NAMES:
			return "an array of column names";
		case OPT_PRIVACY:
			return "null or an object with \"delta\", exactly one of \"epsilon\" and \"noise_multiplier\", and optionally \"max_grad_norm\"";
		case OPT_BOUNDS:
			return "an object mapping column names to [min, max], each a number or a string in the column's type";
		case OPT_CATEGORIES:
			return "an object mapping column names to non-empty arrays of values (strings, numbers or booleans)";
	}
	return NULL;
}

static void
bad_option(const char *key, const char *expected)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid value for training option \"%s\"", key),
			 errdetail("Expected %s.", expected)));
}

static int
numeric_compare(Numeric a, Numeric b)
{
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(a),
											 NumericGetDatum(b)));
}

static Numeric
float_numeric(double d)
{
	return DatumGetNumeric(DirectFunctionCall1(float8_numeric, Float8GetDatum(d)));
}

/*
 * An integer from lo to hi.  The JSON number is compared as a numeric, so
 * that a value no integer type holds (1e400) gets the range, not a
 * conversion error echoing its digits.
 */
static int64
integer_value(const char *key, const JsonbValue *v, int64 lo, int64 hi,
			  const char *expected)
{
	Numeric		n;

	if (v->type != jbvNumeric)
		bad_option(key, expected);
	n = v->val.numeric;
	if (numeric_compare(n, int64_to_numeric(lo)) < 0 ||
		numeric_compare(n, int64_to_numeric(hi)) > 0 ||
		numeric_compare(n, DatumGetNumeric(DirectFunctionCall1(numeric_floor,
															   NumericGetDatum(n)))) != 0)
		bad_option(key, expected);
	return DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(n)));
}

/*
 * Magnitudes below this (half the smallest denormal, about) round to zero
 * as a double, where numeric_float8 would fail with the user's digits
 */
#define REAL_TINY "2.5e-324"

static double
real_value(const TrainOption *o, const JsonbValue *v)
{
	Numeric		n;
	Numeric		abs;
	double		d;

	if (v->type != jbvNumeric)
		bad_option(o->name, expected_of(o));
	n = v->val.numeric;
	if (numeric_compare(n, float_numeric(o->lo)) < 0 ||
		numeric_compare(n, float_numeric(o->hi)) > 0)
		bad_option(o->name, expected_of(o));
	abs = DatumGetNumeric(DirectFunctionCall1(numeric_abs, NumericGetDatum(n)));
	if (numeric_compare(abs, DatumGetNumeric(DirectFunctionCall3(numeric_in,
																 CStringGetDatum(REAL_TINY),
																 ObjectIdGetDatum(InvalidOid),
																 Int32GetDatum(-1)))) < 0)
		d = 0.0;
	else
		d = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(n)));
	if (o->lo_open && d <= o->lo)
		bad_option(o->name, expected_of(o));
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

/* The keys of option privacy, each checked as an option of its own */
static const TrainOption privacy_keys[] = {
	{
		.name = "privacy.epsilon", .type = OPT_REAL, .lo = 0, .hi = 1e6, .lo_open = true,
		.offset = offsetof(AigcPrivacyOptions, epsilon)
	},
	{
		.name = "privacy.noise_multiplier", .type = OPT_REAL, .lo = 0, .hi = 1e6, .lo_open = true,
		.offset = offsetof(AigcPrivacyOptions, noise_multiplier)
	},
	{
		.name = "privacy.delta", .type = OPT_REAL, .lo = 0, .hi = 1, .lo_open = true,
		.offset = offsetof(AigcPrivacyOptions, delta)
	},
	{
		.name = "privacy.max_grad_norm", .type = OPT_REAL, .lo = 0, .hi = 1e6, .lo_open = true,
		.offset = offsetof(AigcPrivacyOptions, max_grad_norm)
	},
};

/*
 * Option privacy from its JSON object (null: no privacy).  delta < 1 here;
 * train.c checks delta < 1 / rows once the rows are read.
 */
static void
set_privacy(const TrainOption *o, const JsonbValue *v, AigcPrivacyOptions *p)
{
	JsonbIterator *it;
	JsonbValue	k,
				val;
	JsonbIteratorToken tok;
	bool		given[lengthof(privacy_keys)] = {false};

	memset(p, 0, sizeof(*p));
	if (v->type == jbvNull)
		return;
	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		bad_option(o->name, expected_of(o));
	p->enabled = true;
	p->max_grad_norm = 1.0;
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		char	   *key;
		int			i;

		if (tok != WJB_KEY)
			continue;
		key = psprintf("privacy.%.*s", k.val.string.len, k.val.string.val);
		tok = JsonbIteratorNext(&it, &val, true);
		Assert(tok == WJB_VALUE);
		for (i = 0; i < lengthof(privacy_keys); i++)
			if (strcmp(key, privacy_keys[i].name) == 0)
				break;
		if (i == lengthof(privacy_keys))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unrecognized training option \"%s\"", key),
					 errhint("Option \"privacy\" has the keys epsilon, noise_multiplier, delta and max_grad_norm.")));
		*(double *) ((char *) p + privacy_keys[i].offset) = real_value(&privacy_keys[i], &val);
		given[i] = true;
	}
	if (given[0] == given[1])
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("training option \"privacy\" needs exactly one of \"epsilon\" and \"noise_multiplier\""),
				 errdetail("Given epsilon, the noise multiplier is the smallest that spends at most it; given the noise multiplier, the epsilon spent is reported.")));
	if (!given[2] || p->delta >= 1.0)
		bad_option("privacy.delta", "a number in (0, 1), below 1 / (rows trained on)");
}

/* Calls fn(o, key, value, list) for each key of option o's object */
static List *
object_entries(const TrainOption *o, const JsonbValue *v,
			   List *(*fn) (const TrainOption *o, char *key,
							const JsonbValue *value, List *list))
{
	JsonbIterator *it;
	JsonbValue	k,
				val;
	JsonbIteratorToken tok;
	List	   *list = NIL;

	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		bad_option(o->name, expected_of(o));
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		if (tok != WJB_KEY)
			continue;
		tok = JsonbIteratorNext(&it, &val, true);
		Assert(tok == WJB_VALUE);
		list = fn(o, pnstrdup(k.val.string.val, k.val.string.len), &val, list);
	}
	return list;
}

/* A JSON scalar's text (a string's contents); false if it is not one */
static bool
scalar_text(const JsonbValue *v, bool allow_bool, char **text)
{
	switch (v->type)
	{
		case jbvString:
			*text = pnstrdup(v->val.string.val, v->val.string.len);
			return true;
		case jbvNumeric:
			*text = DatumGetCString(DirectFunctionCall1(numeric_out,
														NumericGetDatum(v->val.numeric)));
			return true;
		case jbvBool:
			*text = pstrdup(v->val.boolean ? "true" : "false");
			return allow_bool;
		default:
			return false;
	}
}

/* One column's [min, max] of option bounds */
static List *
add_bound(const TrainOption *o, char *key, const JsonbValue *v, List *list)
{
	List	   *elems = array_elements(o->name, v, expected_of(o));
	AigcPublicBound *b = palloc0_object(AigcPublicBound);
	JsonbValue *lo,
			   *hi;

	b->column = key;
	if (list_length(elems) != 2)
		bad_option(o->name, expected_of(o));
	lo = linitial(elems);
	hi = lsecond(elems);
	if (!scalar_text(lo, false, &b->min) || !scalar_text(hi, false, &b->max))
		bad_option(o->name, expected_of(o));
	b->min_quoted = lo->type == jbvString;
	b->max_quoted = hi->type == jbvString;
	/* the order is checked once both are read as the column's type */
	return lappend(list, b);
}

/* One column's list of option categories */
static List *
add_categories(const TrainOption *o, char *key, const JsonbValue *v, List *list)
{
	AigcPublicCategories *pc = palloc0_object(AigcPublicCategories);
	ListCell   *lc;

	pc->column = key;
	foreach(lc, array_elements(o->name, v, expected_of(o)))
	{
		char	   *label;

		if (!scalar_text(lfirst(lc), true, &label))
			bad_option(o->name, expected_of(o));
		pc->labels = lappend(pc->labels, label);
	}
	if (pc->labels == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for training option \"%s\"", o->name),
				 errdetail("The list of column \"%s\" is empty.", key),
				 errhint("Give at least one value, or leave the column out of the option.")));
	return lappend(list, pc);
}

/* Checks v against o and stores it in o's field of opts */
static void
set_option(const TrainOption *o, const JsonbValue *v, AigcTrainOptions *opts)
{
	char	   *field = (char *) opts + o->offset;

	switch (o->type)
	{
		case OPT_INT:
			*(int *) field = (int) integer_value(o->name, v, (int64) o->lo,
												 (int64) o->hi, expected_of(o));
			break;
		case OPT_REAL:
			*(double *) field = real_value(o, v);
			break;
		case OPT_BOOL:
			if (v->type != jbvBool)
				bad_option(o->name, expected_of(o));
			*(bool *) field = v->val.boolean;
			break;
		case OPT_SEED:
			*(uint64 *) field = (uint64) integer_value(o->name, v, -SEED_LIMIT,
													   SEED_LIMIT, expected_of(o));
			break;
		case OPT_DIMS:
			{
				List	   *elems = array_elements(o->name, v, expected_of(o));
				char	   *element = psprintf("an integer from %d to %d",
											   (int) o->lo, (int) o->hi);
				int			n = 0;
				ListCell   *lc;

				if (list_length(elems) > AIGC_MAX_HIDDEN ||
					list_length(elems) < o->min_len)
					bad_option(o->name, expected_of(o));
				foreach(lc, elems)
					((int *) field)[n++] = (int) integer_value(o->name, lfirst(lc),
															   (int64) o->lo,
															   (int64) o->hi,
															   element);
				*(int *) ((char *) opts + o->count_offset) = n;
				break;
			}
		case OPT_NAMES:
			{
				List	   *names = NIL;
				ListCell   *lc;

				foreach(lc, array_elements(o->name, v, expected_of(o)))
				{
					JsonbValue *e = lfirst(lc);

					if (e->type != jbvString)
						bad_option(o->name, expected_of(o));
					names = lappend(names, pnstrdup(e->val.string.val,
													e->val.string.len));
				}
				*(List **) field = names;
				break;
			}
		case OPT_PRIVACY:
			set_privacy(o, v, (AigcPrivacyOptions *) field);
			break;
		case OPT_BOUNDS:
			*(List **) field = object_entries(o, v, add_bound);
			break;
		case OPT_CATEGORIES:
			*(List **) field = object_entries(o, v, add_categories);
			break;
	}
}

static Jsonb *
text_to_jsonb(const char *text)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
}

/* The default of o for kind, from its JSON text; false if it is derived */
static bool
set_default(const TrainOption *o, AigcModelKind kind, AigcTrainOptions *opts)
{
	const char *text = o->all != NULL ? o->all : o->by_kind[kind];
	Jsonb	   *jb;
	JsonbValue	v;

	if (text == NULL)
	{
		if (o->finish == NULL)
			elog(ERROR, "training option \"%s\" has no default for kind \"%s\"",
				 o->name, aigc_kind_name(kind));
		return false;
	}
	jb = text_to_jsonb(text);
	if (JB_ROOT_IS_SCALAR(jb))
		JsonbExtractScalar(&jb->root, &v);
	else
	{
		v.type = jbvBinary;
		v.val.binary.data = &jb->root;
		v.val.binary.len = VARSIZE(jb) - VARHDRSZ;
	}
	set_option(o, &v, opts);
	return true;
}

static void
draw_seed(const TrainOption *o, AigcTrainOptions *opts, bool given)
{
	if (!given)
		opts->seed = pg_prng_uint64_range(&pg_global_prng_state, 0,
										  (uint64) SEED_LIMIT - 1);
}

static void
default_progress(const TrainOption *o, AigcTrainOptions *opts, bool given)
{
	if (!given)
		opts->progress_every = Max(1, opts->epochs / 10);
}

/*
 * Under privacy the discriminator clips each row's gradient, so it sees
 * rows one by one: pac defaults to 1 there, and more is an error.
 */
static void
check_pac(const TrainOption *o, AigcTrainOptions *opts, bool given)
{
	if (opts->privacy.enabled)
	{
		if (given && opts->pac != 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("training option \"pac\" must be 1 with \"privacy\""),
					 errdetail("DP-SGD clips the gradient of each row; a pac group of %d rows would make one gradient of several rows.",
							   opts->pac),
					 errhint("Leave pac out: it defaults to 1 under privacy.")));
		opts->pac = 1;
	}
	if (opts->batch_size % opts->pac != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("training option \"batch_size\" (%d) must be a multiple of \"pac\" (%d)",
						opts->batch_size, opts->pac)));
}

/*
 * The prior-shift calibration matches category shares counted in the
 * training rows, a release DP-SGD's budget does not cover: off under
 * privacy, and an error if asked for.
 */
static void
check_calibrate(const TrainOption *o, AigcTrainOptions *opts, bool given)
{
	if (!opts->privacy.enabled)
		return;
	if (given && opts->calibrate)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("training option \"calibrate\" cannot be used with \"privacy\""),
				 errdetail("The calibration reads category shares from the training rows outside the privacy budget.")));
	opts->calibrate = false;
}

/*
 * Under privacy the real rows carry the categories they hold, at their
 * frequencies, so the fake rows' cond vectors must follow the
 * frequencies too: log_frequency defaults to false, and true is an error.
 */
static void
check_log_frequency(const TrainOption *o, AigcTrainOptions *opts, bool given)
{
	if (!opts->privacy.enabled)
		return;
	if (given && opts->log_frequency)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("training option \"log_frequency\" cannot be used with \"privacy\""),
				 errdetail("Under privacy the real rows are Poisson-sampled with the categories they hold, so the fake rows' conditions follow the categories' (noisy) frequencies.")));
	opts->log_frequency = false;
}

/* Attention splits the width evenly among the heads */
static void
check_heads(const TrainOption *o, AigcTrainOptions *opts, bool given)
{
	if (opts->d_model % opts->n_head != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("training option \"d_model\" (%d) must be a multiple of \"n_head\" (%d)",
						opts->d_model, opts->n_head)));
}

static const TrainOption *
find_option(const char *key)
{
	for (int i = 0; i < NOPTIONS; i++)
		if (strcmp(key, train_options[i].name) == 0)
			return &train_options[i];
	return NULL;
}

/* ERROR for key, which kind does not have: unknown, or another kind's */
static void
reject_option(const char *key, const TrainOption *o, AigcModelKind kind)
{
	StringInfoData list;
	int			n = 0,
				i = 0;

	initStringInfo(&list);
	if (o == NULL)
	{
		for (int j = 0; j < NOPTIONS; j++)
			n += has_option(&train_options[j], kind);
		for (int j = 0; j < NOPTIONS; j++)
			if (has_option(&train_options[j], kind))
				append_list_item(&list, i++, n, "%s", train_options[j].name);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized training option \"%s\"", key),
				 errhint("Valid options for kind \"%s\" are %s.",
						 aigc_kind_name(kind), list.data)));
	}
	for (int k = 0; k < aigc_nkinds; k++)
		n += has_option(o, aigc_kinds[k]->id);
	for (int k = 0; k < aigc_nkinds; k++)
		if (has_option(o, aigc_kinds[k]->id))
			append_list_item(&list, i++, n, "\"%s\"", aigc_kinds[k]->name);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("training option \"%s\" does not apply to kind \"%s\"",
					key, aigc_kind_name(kind)),
			 errhint("It is an option of kind %s models.", list.data)));
}

void
aigc_parse_train_options(Jsonb *options, AigcModelKind kind,
						 AigcTrainOptions *opts)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	bool		given[NOPTIONS] = {false};

	memset(opts, 0, sizeof(*opts));
	opts->threads = aigc_threads;
	for (int i = 0; i < NOPTIONS; i++)
		if (has_option(&train_options[i], kind))
			set_default(&train_options[i], kind, opts);
	if (options == NULL)
		options = text_to_jsonb("{}");
	if (!JB_ROOT_IS_OBJECT(options) || JB_ROOT_IS_SCALAR(options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("training options must be a JSON object")));

	it = JsonbIteratorInit(&options->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *key;
		const TrainOption *o;

		if (tok != WJB_KEY)
			continue;
		key = pnstrdup(v.val.string.val, v.val.string.len);
		tok = JsonbIteratorNext(&it, &v, true);
		Assert(tok == WJB_VALUE);
		o = find_option(key);
		if (o == NULL || !has_option(o, kind))
			reject_option(key, o, kind);
		set_option(o, &v, opts);
		given[o - train_options] = true;
	}
	for (int i = 0; i < NOPTIONS; i++)
		if (has_option(&train_options[i], kind) && train_options[i].finish != NULL)
			train_options[i].finish(&train_options[i], opts, given[i]);
}

/* Shortest exact decimal form: 1e-5 is stored as 1e-05, not 1.0000000000000001e-05 */
char *
aigc_shortest_decimal(double v)
{
	char	   *buf = palloc(DOUBLE_SHORTEST_DECIMAL_LEN);

	double_to_shortest_decimal_buf(v, buf);
	return buf;
}

/* o's value in opts as JSON */
static void
append_value(StringInfo buf, const TrainOption *o, const AigcTrainOptions *opts)
{
	const char *field = (const char *) opts + o->offset;

	switch (o->type)
	{
		case OPT_INT:
			appendStringInfo(buf, "%d", *(const int *) field);
			break;
		case OPT_REAL:
			appendStringInfoString(buf, aigc_shortest_decimal(*(const double *) field));
			break;
		case OPT_BOOL:
			appendStringInfoString(buf, *(const bool *) field ? "true" : "false");
			break;
		case OPT_SEED:
			appendStringInfo(buf, INT64_FORMAT, (int64) *(const uint64 *) field);
			break;
		case OPT_DIMS:
			{
				int			n = *(const int *) ((const char *) opts + o->count_offset);

				appendStringInfoChar(buf, '[');
				for (int i = 0; i < n; i++)
					appendStringInfo(buf, "%s%d", i > 0 ? ", " : "",
									 ((const int *) field)[i]);
				appendStringInfoChar(buf, ']');
				break;
			}
		case OPT_NAMES:
			{
				ListCell   *lc;

				appendStringInfoChar(buf, '[');
				foreach(lc, *(List *const *) field)
				{
					if (lc != list_head(*(List *const *) field))
						appendStringInfoString(buf, ", ");
					escape_json(buf, lfirst(lc));
				}
				appendStringInfoChar(buf, ']');
				break;
			}
		case OPT_PRIVACY:
			/* never stored here: the model's privacy column records it */
			elog(ERROR, "training option \"%s\" is not a hyperparameter", o->name);
			break;
		case OPT_BOUNDS:
			{
				ListCell   *lc;

				appendStringInfoChar(buf, '{');
				foreach(lc, *(List *const *) field)
				{
					AigcPublicBound *b = lfirst(lc);

					if (lc != list_head(*(List *const *) field))
						appendStringInfoString(buf, ", ");
					escape_json(buf, b->column);
					appendStringInfoString(buf, ": [");
					if (b->min_quoted)
						escape_json(buf, b->min);
					else
						appendStringInfoString(buf, b->min);
					appendStringInfoString(buf, ", ");
					if (b->max_quoted)
						escape_json(buf, b->max);
					else
						appendStringInfoString(buf, b->max);
					appendStringInfoChar(buf, ']');
				}
				appendStringInfoChar(buf, '}');
				break;
			}
		case OPT_CATEGORIES:
			{
				ListCell   *lc;

				appendStringInfoChar(buf, '{');
				foreach(lc, *(List *const *) field)
				{
					AigcPublicCategories *pc = lfirst(lc);
					ListCell   *l;

					if (lc != list_head(*(List *const *) field))
						appendStringInfoString(buf, ", ");
					escape_json(buf, pc->column);
					appendStringInfoString(buf, ": [");
					foreach(l, pc->labels)
					{
						if (l != list_head(pc->labels))
							appendStringInfoString(buf, ", ");
						escape_json(buf, lfirst(l));
					}
					appendStringInfoChar(buf, ']');
				}
				appendStringInfoChar(buf, '}');
				break;
			}
	}
}

Jsonb *
aigc_train_options_jsonb(const AigcTrainOptions *opts, AigcModelKind kind)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"kind\": \"%s\"", aigc_kind_name(kind));
	for (int i = 0; i < NOPTIONS; i++)
	{
		const TrainOption *o = &train_options[i];

		if (!o->stored || !has_option(o, kind))
			continue;
		/* public metadata only when given: {} is every model's default */
		if ((o->type == OPT_BOUNDS || o->type == OPT_CATEGORIES) &&
			*(List *const *) ((const char *) opts + o->offset) == NIL)
			continue;
		appendStringInfo(&buf, ", \"%s\": ", o->name);
		append_value(&buf, o, opts);
	}
	appendStringInfoChar(&buf, '}');
	return text_to_jsonb(buf.data);
}

/* What training the network of these options allocates */
static AigcSizeEstimate
network_size(const AigcTrainOptions *opts, AigcModelKind kind, int data_dim,
			 const AigcSpan *spans, int nspans, int64 nrows)
{
	const AigcKindOps *ops = aigc_kind_ops(kind);
	AigcSizeEstimate e = {0.0, 0.0};

	ops->train_size(ops->config_from_options(opts, data_dim), opts, spans,
					nspans, nrows, &e);
	return e;
}

/* How far over its limits an estimate is: above 1 is too large */
static double
size_excess(const AigcSizeEstimate *e, double limit)
{
	return Max(e->total / limit, e->largest / (double) MaxAllocSize);
}

/*
 * Measured against MemoryContextMemAllocated of the run from network
 * allocation to the stored bytea (one epoch; the per-row permutation and
 * sampler index, the rows' share, are in it: under 1 MB here): the
 * estimate is 1.13x the allocations for the default VAE on the 20000-row
 * demo table (6.89 MB against 6.11 MB), 1.14x for the default GAN (27.6 MB
 * against 24.2 MB), 1.32x for a VAE with 1024-wide layers.  The excess is
 * the serializer's buffer, freed before the measurement: it grows by
 * doubling, so it is counted at twice the weights.  The estimate errs
 * high, never low.
 */
double
aigc_check_network_size(const AigcTrainOptions *opts, AigcModelKind kind,
						int data_dim, const AigcSpan *spans, int nspans,
						int64 nrows)
{
	double		limit = (double) aigc_train_memory_limit * 1024.0;
	AigcSizeEstimate e = network_size(opts, kind, data_dim, spans, nspans, nrows);
	const char *culprit = NULL;
	double		best;
	char	   *over;
	char	   *rows;

	if (size_excess(&e, limit) <= 1.0)
		return e.total;

	/* blame the option whose default would shrink the network the most */
	best = size_excess(&e, limit);
	for (int i = 0; i < NOPTIONS; i++)
	{
		const TrainOption *o = &train_options[i];
		AigcTrainOptions reset = *opts;
		AigcSizeEstimate r;

		if (!o->sizes || !has_option(o, kind) || !set_default(o, kind, &reset))
			continue;
		r = network_size(&reset, kind, data_dim, spans, nspans, nrows);
		if (size_excess(&r, limit) < best)
		{
			best = size_excess(&r, limit);
			culprit = o->name;
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
