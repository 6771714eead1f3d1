/*
 * evaluate.h
 *		Quality, privacy and detection metrics comparing real rows with
 *		synthetic ones (aigc_evaluate, aigc_evaluate_relations).
 */
#ifndef AIGC_EVALUATE_H
#define AIGC_EVALUATE_H

#include "postgres.h"

#include "core/columns.h"
#include "core/rng.h"

/*
 * Real and synthetic rows over the same columns, and optionally holdout
 * rows (real rows the model never saw).  cols[c] describes column c on
 * every side; a categorical column's labels are the union of all sides'
 * labels, and its values index them on every side.
 */
typedef struct AigcEvalInput
{
	int			ncols;
	AigcColumn *cols;
	AigcColumnData *real;
	int64		nreal;
	AigcColumnData *syn;
	int64		nsyn;
	AigcColumnData *hold;		/* NULL: no holdout */
	int64		nhold;
} AigcEvalInput;

/* Bins of a continuous column in ContingencySimilarity, as SDMetrics */
#define AIGC_EVAL_BINS 10

/* eval_metrics.c: SDMetrics definitions; NaN when a score is undefined */
extern int	aigc_cmp_double(const void *a, const void *b);	/* for qsort */
/* Smallest and largest non-NULL value; false (and 0, 0) if there is none */
extern bool aigc_column_range(const AigcColumnData *d, int64 n, double *lo,
							  double *hi);
extern double aigc_ks_complement(const AigcColumnData *real, int64 nreal,
								 const AigcColumnData *syn, int64 nsyn);
extern double aigc_correlation_similarity(const AigcColumnData *rx,
										  const AigcColumnData *ry, int64 nreal,
										  const AigcColumnData *sx,
										  const AigcColumnData *sy, int64 nsyn);

/*
 * Category codes of one column on both sides: the category index, a bin of
 * AIGC_EVAL_BINS equal-width bins over the real range for a continuous
 * column, and one more code for NULL.  Returns the number of codes.
 */
extern int	aigc_column_codes(const AigcColumn *col, const AigcColumnData *real,
							  int64 nreal, const AigcColumnData *syn, int64 nsyn,
							  int32 *rcodes, int32 *scodes);

/*
 * 1 - total variation distance between the distributions of (a, b) code
 * pairs on both sides; b NULL: of the a codes alone (TVComplement).
 * scratch holds nreal + nsyn int64.
 */
extern double aigc_tv_complement(const int32 *ra, const int32 *rb, int64 nreal,
								 const int32 *sa, const int32 *sb, int64 nsyn,
								 int nb, int64 *scratch);

/* Area under the ROC curve of scores for labels (true: positive class) */
extern double aigc_roc_auc(const float *score, const bool *label, int n);

/* eval_encode.c: rows as vectors (min-max scaled numbers, one-hot labels) */
#define AIGC_EVAL_MAX_ONEHOT 1000

typedef struct AigcRowEncoding
{
	int			dim;
	int		   *offset;			/* per column; -1: left out */
	double	   *min;			/* continuous: real minimum */
	double	   *scale;			/* continuous: 1 / real range (or 1) */
	bool	   *null_slot;		/* a slot for NULL: NULLs on either side */
} AigcRowEncoding;

extern void aigc_row_encoding_init(AigcRowEncoding *enc, const AigcEvalInput *in);
extern void aigc_encode_rows(const AigcRowEncoding *enc, const AigcEvalInput *in,
							 const AigcColumnData *data, const int64 *rows,
							 int n, float *out);

/* eval_privacy.c */
extern void aigc_nearest_distances(const float *query, int nquery,
								   const float *ref, int nref, int dim,
								   double *dist);
extern int64 aigc_exact_copies(const AigcEvalInput *in);

/* logreg.c: L2-regularised logistic regression, y in {0, 1} */
extern void aigc_logreg_fit(const float *x, const float *y, int n, int dim,
							double l2, int iterations, float *w);
/* Standardise the columns of x (n x dim) but the last (the bias) over its first ntrain rows */
extern void aigc_standardise(float *x, int n, int ntrain, int dim);

/*
 * eval_efficacy.c: ML efficacy of a target column, trained on synthetic
 * rows (TSTR) and on real rows (TRTR), tested on one real holdout.
 * Classification: accuracy, macro F1 and (two classes) ROC AUC; regression:
 * R squared.  NaN where undefined.
 */
#define AIGC_EFFICACY_MAX_CLASSES 50

typedef struct AigcEfficacy
{
	bool		classification;
	int			nmetrics;
	const char *metric[3];
	double		synthetic[3];
	double		real[3];
	double		majority;		/* holdout share of its most frequent class */
	int			ntrain_syn;
	int			ntrain_real;
	int			ntest;
} AigcEfficacy;

extern void aigc_ml_efficacy(const AigcEvalInput *in, int target,
							 const int64 *real_perm, const int64 *syn_perm,
							 AigcEfficacy *out);

#endif
