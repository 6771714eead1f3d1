/*
 * column_types.h
 *		Supported SQL types and their conversions to and from the doubles and
 *		category labels the models work with.
 */
#ifndef AIGC_COLUMN_TYPES_H
#define AIGC_COLUMN_TYPES_H

#include "postgres.h"
#include "utils/numeric.h"

#include "core/columns.h"

extern AigcColumnKind aigc_type_kind(Oid typid, const char *colname,
									 bool *integral);
extern double aigc_datum_to_double(Datum d, Oid typid, const char *colname);
extern Datum aigc_double_to_datum(double v, Oid typid, int32 typmod);
extern Datum aigc_column_to_datum(const AigcColumn *col, double v, Oid typid,
								  int32 typmod);
extern Datum aigc_label_to_datum(const char *label, Oid typid, int32 typmod);
extern bool aigc_types_compatible(Oid model_typid, Oid target_typid);

/*
 * num as a double, false if NaN, infinite or over 1e300 in magnitude
 * (converting those fails or echoes every digit); tiny values become 0
 */
extern bool aigc_numeric_to_double(Numeric num, double *out);

#endif
