/*
 * public_stats.c
 *		Training options bounds and categories (public metadata, as given by
 *		the user) checked against the columns read and applied to them before
 *		the column encoder is fitted, and the range of values each column's
 *		type holds, which private ranges stay within (docs/privacy.md).
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "core/column_encoder.h"
#include "store/column_types.h"
#include "train/public_stats.h"

/* What the error context names while a value of an option is converted */
typedef struct OptionValueContext
{
	const char *option;
	const char *column;
} OptionValueContext;

static void
option_value_context(void *arg)
{
	OptionValueContext *c = arg;

	errcontext("training option \"%s\", column \"%s\"", c->option, c->column);
}

/* The modelled column of that name, or an ERROR naming the option */
static AigcColumn *
find_column(AigcTrainingData *td, const char *option, const char *name,
			AigcColumnKind kind)
{
	for (int c = 0; c < td->ncols; c++)
	{
		AigcColumn *col = &td->cols[c];

		if (strcmp(col->name, name) != 0)
			continue;
		if (col->kind != kind)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("training option \"%s\" does not apply to column \"%s\" of type %s",
							option, name, format_type_be(col->typid)),
					 errhint(kind == AIGC_CONTINUOUS ?
							 "Option \"bounds\" is for numbers, dates and timestamps; give a categorical column's values in \"categories\"." :
							 "Option \"categories\" is for text, boolean and enum columns; give a numeric column's range in \"bounds\".")));
		return col;
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 errmsg("column \"%s\" named in training option \"%s\" is not among the columns trained on",
					name, option),
			 aigc_name_in_list(td->excluded, name) ?
			 errdetail("It is excluded (option \"exclude\", or a key or generated column).") : 0));
	return NULL;				/* keep compiler quiet */
}

/* text read by the column type's input function (errors name the option) */
static Datum
type_input(const AigcColumn *col, const char *text)
{
	Oid			infunc;
	Oid			ioparam;

	getTypeInputInfo(col->typid, &infunc, &ioparam);
	return OidInputFunctionCall(infunc, unconstify(char *, text), ioparam, col->typmod);
}

static void
apply_bound(AigcTrainingData *td, const AigcPublicBound *b)
{
	AigcColumn *col = find_column(td, "bounds", b->column, AIGC_CONTINUOUS);
	OptionValueContext ctx = {"bounds", b->column};
	ErrorContextCallback cb;
	double		min,
				max;

	cb.callback = option_value_context;
	cb.arg = &ctx;
	cb.previous = error_context_stack;
	error_context_stack = &cb;
	min = aigc_datum_to_double(type_input(col, b->min), col->typid, col->name);
	max = aigc_datum_to_double(type_input(col, b->max), col->typid, col->name);
	error_context_stack = cb.previous;
	if (!isfinite(min) || !isfinite(max))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for training option \"bounds\""),
				 errdetail("The bounds of column \"%s\" must be finite.", b->column)));
	if (min > max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for training option \"bounds\""),
				 errdetail("The minimum of column \"%s\" (%s) is above its maximum (%s).",
						   b->column, b->min, b->max)));
	col->min = min;
	col->max = max;
	col->has_exact_range = false;
	col->source = AIGC_STAT_PUBLIC;
}

static int
cmp_label(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * The column's categories become the given values, each in the type's own
 * text (as the reader labels values), sorted without duplicates; a value
 * read that is not among them becomes NULL.
 */
static void
apply_categories(AigcTrainingData *td, const AigcPublicCategories *pc)
{
	AigcColumn *col = find_column(td, "categories", pc->column, AIGC_CATEGORICAL);
	AigcColumnData *d = &td->data[col - td->cols];
	OptionValueContext ctx = {"categories", pc->column};
	ErrorContextCallback cb;
	AigcColumn given = *col;
	int		   *remap = palloc(sizeof(int) * Max(col->ncats, 1));
	Oid			outfunc;
	bool		varlena;
	int			n = 0;
	ListCell   *lc;

	getTypeOutputInfo(col->typid, &outfunc, &varlena);
	given.cats = palloc(sizeof(char *) * list_length(pc->labels));
	cb.callback = option_value_context;
	cb.arg = &ctx;
	cb.previous = error_context_stack;
	error_context_stack = &cb;
	foreach(lc, pc->labels)
		given.cats[n++] = OidOutputFunctionCall(outfunc, type_input(col, lfirst(lc)));
	error_context_stack = cb.previous;
	qsort(given.cats, n, sizeof(char *), cmp_label);
	given.ncats = 0;
	for (int i = 0; i < n; i++)
		if (given.ncats == 0 || strcmp(given.cats[i], given.cats[given.ncats - 1]) != 0)
			given.cats[given.ncats++] = given.cats[i];

	for (int j = 0; j < col->ncats; j++)
		remap[j] = aigc_column_encoder_find_category(&given, col->cats[j],
													 strlen(col->cats[j]));
	for (int64 r = 0; r < td->nrows; r++)
	{
		if (d->isnull[r])
			continue;
		d->value[r] = remap[(int) d->value[r]];
		if (d->value[r] < 0)
		{
			d->isnull[r] = true;
			d->value[r] = 0.0;
		}
	}
	pfree(remap);
	col->ncats = given.ncats;
	col->cats = given.cats;
	col->source = AIGC_STAT_PUBLIC;
}

void
aigc_apply_public_stats(const AigcTrainOptions *opts, AigcTrainingData *td)
{
	ListCell   *lc;

	foreach(lc, opts->bounds)
		apply_bound(td, lfirst(lc));
	foreach(lc, opts->categories)
		apply_categories(td, lfirst(lc));
}

void
aigc_type_range(Oid typid, int32 typmod, double *lo, double *hi)
{
	int32		basemod = typmod;

	*lo = -DBL_MAX;
	*hi = DBL_MAX;
	switch (getBaseTypeAndTypmod(typid, &basemod))
	{
		case INT2OID:
			*lo = PG_INT16_MIN;
			*hi = PG_INT16_MAX;
			break;
		case INT4OID:
			*lo = PG_INT32_MIN;
			*hi = PG_INT32_MAX;
			break;
		case INT8OID:
			/* the doubles nearest 2^63 inside the range */
			*lo = -9223372036854775808.0;
			*hi = 9223372036854774784.0;
			break;
		case FLOAT4OID:
			*lo = -FLT_MAX;
			*hi = FLT_MAX;
			break;
		case DATEOID:
			*lo = (double) DATETIME_MIN_JULIAN - POSTGRES_EPOCH_JDATE;
			*hi = (double) DATE_END_JULIAN - POSTGRES_EPOCH_JDATE - 1;
			break;
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			*lo = (double) MIN_TIMESTAMP;
			*hi = (double) END_TIMESTAMP - 1e6;
			break;
		case NUMERICOID:
			if (basemod >= (int32) VARHDRSZ)
			{
				/* numeric(p, s): below 10^(p - s) in magnitude at s decimals */
				int			precision = ((basemod - VARHDRSZ) >> 16) & 0xffff;
				int			scale = ((((basemod - VARHDRSZ) & 0x7ff) ^ 1024) - 1024);

				*hi = pow(10.0, precision - scale) - pow(10.0, -scale);
				*lo = -*hi;
			}
			break;
		default:
			break;
	}
}
