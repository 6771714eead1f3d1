/*
 * conditions.c
 *		Conditions on sampled rows, as a jsonb object keyed by column name:
 *
 *		{"region": "north"}					a category (categorical columns)
 *		{"age": 30}, {"month": "2024-05-01"}	one value (continuous columns)
 *		{"age": {"min": 30, "max": 40}}		an inclusive range, either end
 *		{"age": [30, 40]}					optional (null or left out)
 *		{"days_late": null}					the column is NULL
 *
 * Every value is read with the column's own type input function, so a date
 * is written as a date and a boolean as true/false; a number for a
 * categorical column is a type mismatch.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/timestamp.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"

#include "sample/conditions.h"
#include "store/column_types.h"

/* Text of a scalar jsonb value, as a type input function wants it */
static char *
scalar_text(const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvString:
			return pnstrdup(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out,
													   NumericGetDatum(v->val.numeric)));
		case jbvBool:
			return pstrdup(v->val.boolean ? "true" : "false");
		default:
			return NULL;
	}
}

static void
type_mismatch(const AigcColumn *col, const char *expected)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("condition on column \"%s\" has the wrong type", col->name),
			 errdetail("Column \"%s\" is %s; expected %s.", col->name,
					   format_type_be(col->typid), expected)));
}

static void
parse_categorical(const AigcColumn *col, const JsonbValue *v, AigcCondition *c)
{
	bool		is_bool = getBaseType(col->typid) == BOOLOID;
	char	   *text;
	Oid			outfunc;
	bool		varlena;
	char	   *label;

	if (v->type != jbvString && !(is_bool && v->type == jbvBool))
		type_mismatch(col, is_bool ? "a JSON boolean or string" : "a JSON string");
	text = scalar_text(v);
	/* the type's canonical spelling, as the training labels are stored */
	getTypeOutputInfo(col->typid, &outfunc, &varlena);
	label = OidOutputFunctionCall(outfunc, aigc_label_to_datum(text, col->typid,
															   col->typmod));
	for (int k = 0; k < col->ncats; k++)
		if (strcmp(col->cats[k], label) == 0)
		{
			c->category = k;
			return;
		}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("value \"%s\" of column \"%s\" in conditions was not seen in training",
					text, col->name),
			 errhint("The model knows %d categories of this column.", col->ncats)));
}

static void
not_finite_bound(const AigcColumn *col, const char *which)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("condition on column \"%s\" is not a finite value", col->name),
			 errdetail("The %s of the condition is NaN, infinite or over 1e300 in magnitude.",
					   which)));
}

/* Whether a value of the column's type is a finite number, date or time */
static bool
datum_is_finite(Datum d, Oid typid)
{
	switch (getBaseType(typid))
	{
		case FLOAT4OID:
			return isfinite(DatumGetFloat4(d));
		case FLOAT8OID:
			return isfinite(DatumGetFloat8(d));
		case NUMERICOID:
			{
				double		unused;

				return aigc_numeric_to_double(DatumGetNumeric(d), &unused);
			}
		case DATEOID:
			return !DATE_NOT_FINITE(DatumGetDateADT(d));
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			return !TIMESTAMP_NOT_FINITE(DatumGetTimestamp(d));
		default:
			return true;
	}
}

/*
 * One end of a continuous range (which: "min", "max" or "value"); false for
 * an open end (JSON null).  NaN and infinity are condition errors here, not
 * the training data's "contains NaN" of the conversion.
 */
static bool
parse_bound(const AigcColumn *col, const JsonbValue *v, const char *which,
			double *out)
{
	double		unused;
	Datum		d;

	if (v->type == jbvNull)
		return false;
	if (v->type != jbvNumeric && v->type != jbvString)
		type_mismatch(col, "a number, a string in the column's type, an array [min, max] or an object with min and max");
	if (v->type == jbvNumeric && !aigc_numeric_to_double(v->val.numeric, &unused))
		not_finite_bound(col, which);
	/* without the typmod first: numeric(p, s) input rejects infinity as an overflow */
	if (!datum_is_finite(aigc_label_to_datum(scalar_text(v), col->typid, -1),
						 col->typid))
		not_finite_bound(col, which);
	d = aigc_label_to_datum(scalar_text(v), col->typid, col->typmod);
	*out = aigc_datum_to_double(d, col->typid, col->name);
	return true;
}

static void
bad_range(const AigcColumn *col)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid range for column \"%s\" in conditions", col->name),
			 errdetail("Expected {\"min\": ..., \"max\": ...} or [min, max], each end optional.")));
}

static void
parse_continuous(const AigcColumn *col, const JsonbValue *v, AigcCondition *c)
{
	c->min = -HUGE_VAL;
	c->max = HUGE_VAL;
	if (v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data))
	{
		JsonbValue *lo = getIthJsonbValueFromContainer(v->val.binary.data, 0);
		JsonbValue *hi = getIthJsonbValueFromContainer(v->val.binary.data, 1);

		if (JsonContainerSize(v->val.binary.data) != 2)
			bad_range(col);
		parse_bound(col, lo, "min", &c->min);
		parse_bound(col, hi, "max", &c->max);
	}
	else if (v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data))
	{
		JsonbIterator *it = JsonbIteratorInit(v->val.binary.data);
		JsonbValue	k,
					val;
		JsonbIteratorToken tok;

		while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
		{
			bool		is_min;

			if (tok != WJB_KEY)
				continue;
			if (k.val.string.len == 3 && strncmp(k.val.string.val, "min", 3) == 0)
				is_min = true;
			else if (k.val.string.len == 3 && strncmp(k.val.string.val, "max", 3) == 0)
				is_min = false;
			else
				bad_range(col);
			tok = JsonbIteratorNext(&it, &val, true);
			parse_bound(col, &val, is_min ? "min" : "max",
						is_min ? &c->min : &c->max);
		}
	}
	else if (parse_bound(col, v, "value", &c->min))
		c->max = c->min;
	if (c->min > c->max)
		bad_range(col);
	/* decoding clamps to the training range: nothing outside can come out */
	if (c->max < col->min || c->min > col->max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("condition on column \"%s\" cannot be satisfied by model samples",
						col->name),
				 errdetail("The model produces values of \"%s\" only within the range seen in training.",
						   col->name)));
}

AigcConditions *
aigc_conditions_parse(Jsonb *json, const AigcModel *model, const char *model_name)
{
	AigcConditions *conds = palloc0(sizeof(AigcConditions));
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (!JB_ROOT_IS_OBJECT(json) || JB_ROOT_IS_SCALAR(json))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("conditions must be a JSON object keyed by column name")));
	conds->text = JsonbToCString(NULL, &json->root, VARSIZE(json));
	conds->conds = palloc0(sizeof(AigcCondition) * Max(JB_ROOT_COUNT(json), 1));
	it = JsonbIteratorInit(&json->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *name;
		int			c;
		const AigcColumn *col;
		AigcCondition *cond;

		if (tok != WJB_KEY)
			continue;
		name = pnstrdup(v.val.string.val, v.val.string.len);
		tok = JsonbIteratorNext(&it, &v, true);
		c = aigc_column_encoder_find_column(&model->colenc, name);
		if (c < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" named in conditions is not modelled by model \"%s\"",
							name, model_name)));
		col = &model->colenc.cols[c];
		cond = &conds->conds[conds->n++];
		cond->column = c;
		if (v.type == jbvNull)
		{
			if (!col->has_nulls || col->null_frac == 0.0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("column \"%s\" in conditions was never NULL in training",
								name)));
			cond->is_null = true;
			cond->category = col->ncats;
		}
		else if (col->kind == AIGC_CATEGORICAL)
			parse_categorical(col, &v, cond);
		else
			parse_continuous(col, &v, cond);
	}
	return conds;
}

bool
aigc_conditions_accept(const AigcConditions *conds, const AigcColumnEncoder *colenc,
					   const AigcColumnData *decoded, int r)
{
	for (int i = 0; i < conds->n; i++)
	{
		const AigcCondition *c = &conds->conds[i];
		const AigcColumn *col = &colenc->cols[c->column];
		const AigcColumnData *d = &decoded[c->column];
		double		v;

		if (d->isnull[r] != c->is_null)
			return false;
		if (c->is_null)
			continue;
		if (col->kind == AIGC_CATEGORICAL)
		{
			if ((int) d->value[r] != c->category)
				return false;
			continue;
		}
		/* the value as it will be returned, after the type's rounding */
		v = aigc_datum_to_double(aigc_double_to_datum(d->value[r], col->typid,
													  col->typmod),
								 col->typid, col->name);
		if (v < c->min || v > c->max)
			return false;
	}
	return true;
}

bool
aigc_conditions_gan_slot(const AigcConditions *conds, const AigcGan *gan,
						 int *cond_col, int *slot)
{
	double		rarest = HUGE_VAL;

	*cond_col = -1;
	for (int i = 0; i < conds->n; i++)
	{
		const AigcCondition *c = &conds->conds[i];

		for (int k = 0; k < gan->ncond; k++)
		{
			const AigcCondColumn *cc = &gan->cond[k];
			double		freq;

			if (cc->column != c->column)
				continue;
			freq = gan->cond_freq[cc->cond_offset + c->category];
			if (freq < rarest)
			{
				rarest = freq;
				*cond_col = k;
				*slot = c->category;
			}
		}
	}
	return *cond_col >= 0;
}
