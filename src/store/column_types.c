/*
 * column_types.c
 *		Which SQL types the models learn, and conversions between their
 *		Datums and the doubles or category labels the column encoder uses.
 *
 * Domains are treated as their base type.  A Datum of the base type is also
 * a valid Datum of the domain; domain constraints are not checked here.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "access/transam.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "store/column_types.h"

/* Groups of types whose values can stand for one another when sampling */
typedef enum TypeFamily
{
	FAMILY_NONE,
	FAMILY_INTEGER,
	FAMILY_FLOAT,
	FAMILY_TEXT
} TypeFamily;

AigcColumnKind
aigc_type_kind(Oid typid, const char *colname, bool *integral)
{
	Oid			base = getBaseType(typid);

	*integral = false;
	switch (base)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case DATEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			*integral = true;
			return AIGC_CONTINUOUS;
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
			return AIGC_CONTINUOUS;
		case BOOLOID:
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
		case NAMEOID:
			return AIGC_CATEGORICAL;
		default:
			break;
	}
	if (type_is_enum(base))
		return AIGC_CATEGORICAL;
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("column \"%s\" has unsupported type %s",
					colname, format_type_be(typid)),
			 errhint("Supported types are smallint, integer, bigint, real, double precision, numeric, date, timestamp, timestamptz, boolean, text, varchar, char, name and enums.  "
					 "Leave the column out with the training option \"exclude\", or train from a query.")));
}

static void not_finite(const char *colname) pg_attribute_noreturn();

static void
not_finite(const char *colname)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("column \"%s\" contains NaN or infinity", colname),
			 errhint("Filter such values out by training from a query.")));
}

static void beyond_double(Datum num, const char *colname) pg_attribute_noreturn();

/* A finite numeric too large for double precision cannot be modelled */
static void
beyond_double(Datum num, const char *colname)
{
	char	   *text = DatumGetCString(DirectFunctionCall1(numeric_out, num));

	ereport(ERROR,
			(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
			 errmsg("column \"%s\" has a value beyond the range of double precision: %.40s%s",
					colname, text, strlen(text) > 40 ? "..." : ""),
			 errdetail("Continuous columns are modelled in double precision, whose magnitudes end near 1.8e308."),
			 errhint("Filter or rescale such values by training from a query.")));
}

/*
 * The built-in types are tested first so that only domains pay for the
 * catalog lookup of their base type; this runs once per training value.
 */
double
aigc_datum_to_double(Datum d, Oid typid, const char *colname)
{
	double		v;

	switch (typid)
	{
		case INT2OID:
			return DatumGetInt16(d);
		case INT4OID:
			return DatumGetInt32(d);
		case INT8OID:
			return (double) DatumGetInt64(d);
		case FLOAT4OID:
			v = DatumGetFloat4(d);
			break;
		case FLOAT8OID:
			v = DatumGetFloat8(d);
			break;
		case NUMERICOID:
			/* NaN and +-Infinity come out as the matching doubles */
			v = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, d));
			if (isinf(v) && !numeric_is_inf(DatumGetNumeric(d)))
				beyond_double(d, colname);
			break;
		case DATEOID:
			if (DATE_NOT_FINITE(DatumGetDateADT(d)))
				not_finite(colname);
			return DatumGetDateADT(d);
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			if (TIMESTAMP_NOT_FINITE(DatumGetTimestamp(d)))
				not_finite(colname);
			return (double) DatumGetTimestamp(d);
		default:
			{
				Oid			base = getBaseType(typid);

				if (base == typid)
					elog(ERROR, "type %u is not a continuous type", typid);
				return aigc_datum_to_double(d, base, colname);
			}
	}
	if (isnan(v) || isinf(v))
		not_finite(colname);
	return v;
}

/* Round to an integer within [lo, hi] */
static double
clamp_round(double v, double lo, double hi)
{
	double		r = rint(v);

	return Min(Max(r, lo), hi);
}

Datum
aigc_double_to_datum(double v, Oid typid, int32 typmod)
{
	switch (typid)
	{
		case INT2OID:
			return Int16GetDatum((int16) clamp_round(v, PG_INT16_MIN, PG_INT16_MAX));
		case INT4OID:
			return Int32GetDatum((int32) clamp_round(v, PG_INT32_MIN, PG_INT32_MAX));
		case INT8OID:
			{
				double		r = rint(v);

				/* 2^63 is exact as a double but already beyond int64 */
				if (r >= -(double) PG_INT64_MIN)
					return Int64GetDatum(PG_INT64_MAX);
				return Int64GetDatum((int64) Max(r, (double) PG_INT64_MIN));
			}
		case FLOAT4OID:
			/* a value learnt as float8 may not fit; casting it is undefined */
			return Float4GetDatum((float4) Max(Min(v, FLT_MAX), -FLT_MAX));
		case FLOAT8OID:
			return Float8GetDatum(v);
		case NUMERICOID:
			{
				Datum		n;

				/*
				 * A value already on numeric(p, s)'s grid (decoding rounds
				 * to it): its digits as an integer, without float8_numeric's
				 * printing and parsing, which cost more than making the row.
				 */
				if (typmod >= (int32) VARHDRSZ)
				{
					int			scale = ((((typmod - VARHDRSZ) & 0x7ff) ^ 1024) - 1024);

					if (scale >= 0 && scale < AIGC_EXACT_POW10)
					{
						double		k = rint(v * aigc_exact_pow10[scale]);

						/*
						 * Below 10^15 float8_numeric's 15 significant digits
						 * print k / 10^s exactly when v is the double
						 * nearest it, so the result is the same Numeric.
						 */
						if (fabs(k) < 1e15 && k / aigc_exact_pow10[scale] == v)
							return DirectFunctionCall2(numeric,
													   NumericGetDatum(int64_div_fast_to_numeric((int64) k, scale)),
													   Int32GetDatum(typmod));
					}
				}
				n = DirectFunctionCall1(float8_numeric, Float8GetDatum(v));

				if (typmod >= 0)
					n = DirectFunctionCall2(numeric, n, Int32GetDatum(typmod));
				return n;
			}
		case DATEOID:
			/* a forged blob's range can lie beyond the type: casting would be undefined */
			return DateADTGetDatum((DateADT) clamp_round(v, DATETIME_MIN_JULIAN - POSTGRES_EPOCH_JDATE,
														 DATE_END_JULIAN - POSTGRES_EPOCH_JDATE - 1));
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			return TimestampGetDatum((Timestamp) clamp_round(v, (double) MIN_TIMESTAMP,
															 (double) (END_TIMESTAMP - 1024)));
		default:
			{
				/* a domain's typmod, e.g. numeric(10,2), lives on the domain */
				int32		basemod = typmod;
				Oid			base = getBaseTypeAndTypmod(typid, &basemod);

				if (base == typid)
					elog(ERROR, "type %u is not a continuous type", typid);
				return aigc_double_to_datum(v, base, basemod);
			}
	}
}

/*
 * A decoded value of col as a Datum of typid.  A bigint column's value at
 * or beyond an end of its range is that end exactly, so the extremes (and
 * every value of a constant column) survive beyond 2^53, where doubles
 * are no longer exact.
 */
Datum
aigc_column_to_datum(const AigcColumn *col, double v, Oid typid, int32 typmod)
{
	if (col->has_exact_range &&
		(typid == INT8OID || (typid >= FirstGenbkiObjectId && getBaseType(typid) == INT8OID)))
	{
		int64		r;

		if (v <= (double) col->exact_min)
			return Int64GetDatum(col->exact_min);
		if (v >= (double) col->exact_max)
			return Int64GetDatum(col->exact_max);
		r = DatumGetInt64(aigc_double_to_datum(v, INT8OID, -1));
		return Int64GetDatum(Min(Max(r, col->exact_min), col->exact_max));
	}
	return aigc_double_to_datum(v, typid, typmod);
}

Datum
aigc_label_to_datum(const char *label, Oid typid, int32 typmod)
{
	Oid			infunc;
	Oid			ioparam;

	getTypeInputInfo(typid, &infunc, &ioparam);
	return OidInputFunctionCall(infunc, unconstify(char *, label), ioparam, typmod);
}

static TypeFamily
type_family(Oid base)
{
	switch (base)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
			return FAMILY_INTEGER;
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
			return FAMILY_FLOAT;
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
		case NAMEOID:
			return FAMILY_TEXT;
		default:
			return FAMILY_NONE;
	}
}

bool
aigc_types_compatible(Oid model_typid, Oid target_typid)
{
	Oid			model_base = getBaseType(model_typid);
	Oid			target_base = getBaseType(target_typid);
	TypeFamily	family = type_family(model_base);

	if (model_base == target_base)
		return true;
	return family != FAMILY_NONE && family == type_family(target_base);
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
