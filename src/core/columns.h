/*
 * columns.h
 *		Column descriptions shared by the reader, the column encoder, the models
 *		and sampling.  The SQL type conversions behind them are in
 *		store/column_types.h (they need the catalog; core/ does not).
 */
#ifndef AIGC_COLUMNS_H
#define AIGC_COLUMNS_H

#include "postgres.h"

typedef enum AigcColumnKind
{
	AIGC_CONTINUOUS = 1,		/* numbers, dates, timestamps */
	AIGC_CATEGORICAL = 2		/* text-like, boolean, enum labels */
} AigcColumnKind;

/* Where a column's range (continuous) or category list came from */
typedef enum AigcStatSource
{
	AIGC_STAT_DATA = 0,			/* read exactly from the training rows */
	AIGC_STAT_DP = 1,			/* a DP mechanism charged to the privacy budget */
	AIGC_STAT_PUBLIC = 2		/* given as public metadata (bounds, categories) */
} AigcStatSource;

/*
 * One column of a training table as the model sees it.
 *
 * Continuous columns are encoded with mode-specific normalisation: a
 * Gaussian mixture is fitted to the column and a value becomes a scalar
 * alpha = (x - mean_k) / (4 std_k) in [-1, 1] plus a one-hot of its mode k.
 * NULL is one more slot in that one-hot (or in the categories' one-hot).
 */
typedef struct AigcColumn
{
	char	   *name;
	Oid			typid;			/* SQL type seen at training */
	int32		typmod;
	AigcColumnKind kind;
	bool		integral;		/* round on decode (integers, dates, ...) */
	bool		has_nulls;		/* NULL seen in training: one more slot */
	double		null_frac;
	AigcStatSource source;		/* of min and max, or of cats */

	/* continuous */
	double		min;
	double		max;
	/* bigint: the exact observed range, which min and max may round */
	bool		has_exact_range;
	int64		exact_min;
	int64		exact_max;
	int			nmodes;
	double	   *mode_mean;
	double	   *mode_std;
	double	   *mode_weight;

	/* categorical: labels are the type's output text, sorted */
	int			ncats;
	char	  **cats;
	/*
	 * rows per slot (ncats, then the NULL slot if any), noisy counts for a
	 * private model; NULL when not kept (models without privacy)
	 */
	double	   *slot_count;

	/* place in the encoded row vector */
	int			offset;
	int			width;
} AigcColumn;

/*
 * Column values for a run of rows: a continuous value, or a category index
 * (stored as a double, exact for any index) for categorical columns.
 */
typedef struct AigcColumnData
{
	double	   *value;
	bool	   *isnull;
} AigcColumnData;

/*
 * One output span of the encoded vector: a scalar passed through tanh, or
 * a group of logits passed through softmax.
 */
typedef struct AigcSpan
{
	int			offset;
	int			width;
	bool		is_scalar;
	int			column;			/* index of the owning column */
} AigcSpan;

/* 10^k for k = 0 .. AIGC_EXACT_POW10 - 1, each exact as a double */
#define AIGC_EXACT_POW10 16
extern const double aigc_exact_pow10[AIGC_EXACT_POW10];

#endif
