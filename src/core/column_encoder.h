/*
 * column_encoder.h
 *		Column encoder (CTGAN's "DataTransformer"): column values <-> the
 *		encoded float vectors that the networks learn from and produce, by
 *		mode-specific normalisation and one-hot encoding.
 */
#ifndef AIGC_COLUMN_ENCODER_H
#define AIGC_COLUMN_ENCODER_H

#include "postgres.h"
#include "lib/stringinfo.h"

#include "core/columns.h"
#include "core/rng.h"
#include "core/serialize.h"

typedef struct AigcColumnEncoder
{
	int			ncols;
	AigcColumn *cols;
	int			dim;			/* width of an encoded row */
	int			nspans;
	AigcSpan   *spans;
} AigcColumnEncoder;

/*
 * Fit the per-column state (mixtures, ranges, NULL slots) from the raw
 * training data.  The caller has filled name/typid/typmod/kind/integral
 * and, for categorical columns, ncats/cats; data[c] holds nrows values.
 * max_modes bounds the mixture size.  Computes offsets, widths and spans.
 */
extern void aigc_column_encoder_fit(AigcColumnEncoder *colenc, const AigcColumnData *data,
								 int64 nrows, int max_modes, AigcRng *rng);

/*
 * Encode rows [first, first + n) of data into out (n x dim, row-major).
 * The mode of a continuous value is drawn from its posterior, as CTGAN does.
 */
extern void aigc_column_encoder_encode(const AigcColumnEncoder *colenc,
									const AigcColumnData *data, int64 first,
									int n, float *out, AigcRng *rng);

/*
 * Encode one row deterministically (the likeliest mode of each continuous
 * value), for scoring.  value[c]/isnull[c] as in AigcColumnData.  A NULL in
 * a column trained without NULLs, or a category index of -1 (a label not
 * seen in training), leaves that column's slots all zero.
 */
extern void aigc_column_encoder_encode_row(const AigcColumnEncoder *colenc,
										const double *value, const bool *isnull,
										float *out);

/*
 * Decode n activated rows (scalars in [-1, 1], each softmax span a
 * probability vector) into out[c].value/isnull for rows [0, n); the mode or
 * category of a row is drawn from its span's probabilities, or with a NULL
 * rng is the likeliest one.
 */
extern void aigc_column_encoder_decode(const AigcColumnEncoder *colenc, const float *act,
									int n, AigcColumnData *out, AigcRng *rng);

/*
 * Stored form, part of the model blob; version 3 added the exact ranges of
 * bigint columns
 */
extern void aigc_column_encoder_write(const AigcColumnEncoder *colenc, StringInfo buf,
								   uint32 version);
extern void aigc_column_encoder_read(AigcColumnEncoder *colenc, AigcReader *r,
								  uint32 version);

/*
 * Index of a categorical column's label (len bytes, no NUL among them), or
 * -1 if training never saw it
 */
extern int	aigc_column_encoder_find_category(const AigcColumn *col,
										   const char *label, int len);

/* Index of a column by name, or -1 */
/*
 * The grid decoding rounds a continuous column's values to (1 for integers
 * and dates, 10^-s for numeric(p, s)), 0 when it does not round
 */
extern double aigc_column_rounding_step(const AigcColumn *col);

extern int	aigc_column_encoder_find_column(const AigcColumnEncoder *colenc, const char *name);

#endif
