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
 * Noise of the private statistics (docs/privacy.md): every count the fit
 * reads gets N(0, sigma^2) noise (a Gaussian mechanism of sensitivity 1 per
 * histogram); a category seen in training is kept only if its noisy count
 * exceeds cat_threshold; a private range stays within [type_min[c],
 * type_max[c]], what column c's type holds.
 */
typedef struct AigcStatsNoise
{
	double		sigma;
	double		cat_threshold;
	const double *type_min;
	const double *type_max;
} AigcStatsNoise;

/*
 * Fit the per-column state (mixtures, ranges, NULL slots) from the raw
 * training data.  The caller has filled name/typid/typmod/kind/integral
 * and, for categorical columns, ncats/cats; data[c] holds nrows values.
 * A column whose source is AIGC_STAT_PUBLIC keeps its min and max (or its
 * categories, the data already mapped onto them).  Values outside the range
 * are clipped onto it in data.  With noise (NULL: exact statistics) every
 * statistic is private, categories may be dropped (their rows become NULL
 * in data) and categorical columns keep noisy slot counts.  max_modes
 * bounds the mixture size.  Computes offsets, widths and spans.
 */
extern void aigc_column_encoder_fit(AigcColumnEncoder *colenc, AigcColumnData *data,
									int64 nrows, int max_modes,
									const AigcStatsNoise *noise, AigcRng *rng);

/* Gaussian mechanisms the fit runs on col under noise (each one a charge) */
extern int	aigc_column_encoder_dp_mechanisms(const AigcColumn *col);

/*
 * Rows per slot of a categorical column (its categories, then its NULL
 * slot), as the model keeps them: noisy counts for a private model, so a
 * sampler may use them without spending budget; NULL when the model keeps
 * none (trained without privacy, or stored before format version 5).
 */
extern const double *aigc_column_encoder_slot_counts(const AigcColumnEncoder *colenc,
													 int column);

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
 * probability vector), held slot-major: act is dim x n, slot j of row r at
 * act[j * n + r].  Writes out[c].value/isnull for rows [0, n); the mode or
 * category of a row is drawn from its span's weights, or with a NULL rng is
 * the likeliest one.
 */
extern void aigc_column_encoder_decode(const AigcColumnEncoder *colenc, const float *act,
									int n, AigcColumnData *out, AigcRng *rng);

/*
 * The same for n rows of a slot-major block whose slots are ld apart,
 * without interrupt checks: safe on the pool's threads (threads.h)
 */
extern void aigc_column_encoder_decode_rows(const AigcColumnEncoder *colenc,
											const float *act, int ld, int n,
											AigcColumnData *out, AigcRng *rng);

/*
 * Stored form, part of the model blob; version 3 added the exact ranges of
 * bigint columns, version 5 the slot counts of categorical columns
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
