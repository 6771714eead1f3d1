/*
 * column_types.h
 *		Supported SQL types and their conversions to and from the doubles and
 *		category labels the models work with.
 */
#ifndef AIGC_COLUMN_TYPES_H
#define AIGC_COLUMN_TYPES_H

#include "postgres.h"

#include "core/columns.h"

extern AigcColumnKind aigc_type_kind(Oid typid, const char *colname,
									 bool *integral);
extern double aigc_datum_to_double(Datum d, Oid typid, const char *colname);
extern Datum aigc_double_to_datum(double v, Oid typid, int32 typmod);
extern Datum aigc_label_to_datum(const char *label, Oid typid, int32 typmod);
extern bool aigc_types_compatible(Oid model_typid, Oid target_typid);

#endif
