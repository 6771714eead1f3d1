/*
 * eval_metrics.c
 *		Column-shape and column-pair metrics as SDMetrics defines them for
 *		its single-table QualityReport, and the ROC AUC of a classifier.
 *
 * Everything here is exact on the rows given (sorting, counting); the
 * caller decides which rows those are.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"

#include "eval/evaluate.h"

int
aigc_cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

static int
cmp_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/* The non-NULL values of a column, sorted; returns how many */
static int64
sorted_values(const AigcColumnData *d, int64 n, double *out)
{
	int64		m = 0;

	for (int64 r = 0; r < n; r++)
		if (!d->isnull[r])
			out[m++] = d->value[r];
	qsort(out, m, sizeof(double), aigc_cmp_double);
	return m;
}

/*
 * KSComplement = 1 - D, D = sup_x |F_real(x) - F_syn(x)| over the non-NULL
 * values (scipy.stats.ks_2samp's statistic, which SDMetrics uses).  The
 * supremum is reached at a data value, so walking both sorted samples past
 * each distinct value in turn visits every candidate.
 */
double
aigc_ks_complement(const AigcColumnData *real, int64 nreal,
				   const AigcColumnData *syn, int64 nsyn)
{
	double	   *a = palloc(sizeof(double) * Max(nreal, 1));
	double	   *b = palloc(sizeof(double) * Max(nsyn, 1));
	int64		na = sorted_values(real, nreal, a);
	int64		nb = sorted_values(syn, nsyn, b);
	int64		i = 0;
	int64		j = 0;
	double		d = 0.0;

	CHECK_FOR_INTERRUPTS();
	if (na == 0 || nb == 0)
	{
		pfree(a);
		pfree(b);
		return NAN;
	}
	while (i < na && j < nb)
	{
		double		v = Min(a[i], b[j]);

		while (i < na && a[i] <= v)
			i++;
		while (j < nb && b[j] <= v)
			j++;
		d = Max(d, fabs((double) i / na - (double) j / nb));
	}
	pfree(a);
	pfree(b);
	return 1.0 - d;
}

/* Pearson correlation over the rows where both values are present */
static double
pearson(const AigcColumnData *x, const AigcColumnData *y, int64 n)
{
	double		mx = 0.0,
				my = 0.0,
				sxx = 0.0,
				syy = 0.0,
				sxy = 0.0;
	int64		m = 0;

	for (int64 r = 0; r < n; r++)
		if (!x->isnull[r] && !y->isnull[r])
		{
			mx += x->value[r];
			my += y->value[r];
			m++;
		}
	if (m < 2)
		return NAN;
	mx /= m;
	my /= m;
	for (int64 r = 0; r < n; r++)
		if (!x->isnull[r] && !y->isnull[r])
		{
			double		dx = x->value[r] - mx;
			double		dy = y->value[r] - my;

			sxx += dx * dx;
			syy += dy * dy;
			sxy += dx * dy;
		}
	if (sxx <= 0.0 || syy <= 0.0)
		return NAN;				/* a constant column has no correlation */
	return Max(-1.0, Min(1.0, sxy / sqrt(sxx * syy)));
}

/* CorrelationSimilarity = 1 - |rho_real - rho_syn| / 2 (Pearson) */
double
aigc_correlation_similarity(const AigcColumnData *rx, const AigcColumnData *ry,
							int64 nreal, const AigcColumnData *sx,
							const AigcColumnData *sy, int64 nsyn)
{
	CHECK_FOR_INTERRUPTS();
	return 1.0 - fabs(pearson(rx, ry, nreal) - pearson(sx, sy, nsyn)) / 2.0;
}

/*
 * numpy.digitize(x, numpy.histogram_bin_edges(real, 10)): the number of
 * edges <= x, so 0 below the real minimum, 1..10 inside, 11 from the real
 * maximum up.  The edges are numpy.linspace's: lo + i * step, last = hi;
 * a constant column gets numpy's range [v - 0.5, v + 0.5].
 */
bool
aigc_column_range(const AigcColumnData *d, int64 n, double *lo, double *hi)
{
	bool		any = false;

	*lo = *hi = 0.0;
	for (int64 r = 0; r < n; r++)
	{
		if (d->isnull[r])
			continue;
		if (!any || d->value[r] < *lo)
			*lo = d->value[r];
		if (!any || d->value[r] > *hi)
			*hi = d->value[r];
		any = true;
	}
	return any;
}

static void
bin_edges(const AigcColumnData *real, int64 nreal, double *edges)
{
	double		lo,
				hi,
				step;

	(void) aigc_column_range(real, nreal, &lo, &hi);
	if (lo == hi)
	{
		lo -= 0.5;
		hi += 0.5;
	}
	step = (hi - lo) / AIGC_EVAL_BINS;
	for (int i = 0; i < AIGC_EVAL_BINS; i++)
		edges[i] = lo + i * step;
	edges[AIGC_EVAL_BINS] = hi;
}

static void
continuous_codes(const AigcColumnData *d, int64 n, const double *edges,
				 int32 *codes)
{
	for (int64 r = 0; r < n; r++)
	{
		int32		k = 0;

		if (d->isnull[r])
		{
			codes[r] = AIGC_EVAL_BINS + 2;
			continue;
		}
		while (k <= AIGC_EVAL_BINS && edges[k] <= d->value[r])
			k++;
		codes[r] = k;
	}
}

static void
categorical_codes(const AigcColumnData *d, int64 n, int ncats, int32 *codes)
{
	for (int64 r = 0; r < n; r++)
		codes[r] = d->isnull[r] ? ncats : (int32) d->value[r];
}

int
aigc_column_codes(const AigcColumn *col, const AigcColumnData *real,
				  int64 nreal, const AigcColumnData *syn, int64 nsyn,
				  int32 *rcodes, int32 *scodes)
{
	double		edges[AIGC_EVAL_BINS + 1];

	if (col->kind == AIGC_CATEGORICAL)
	{
		categorical_codes(real, nreal, col->ncats, rcodes);
		categorical_codes(syn, nsyn, col->ncats, scodes);
		return col->ncats + 1;
	}
	bin_edges(real, nreal, edges);
	continuous_codes(real, nreal, edges, rcodes);
	continuous_codes(syn, nsyn, edges, scodes);
	return AIGC_EVAL_BINS + 3;
}

static void
pair_codes(const int32 *a, const int32 *b, int64 n, int nb, int64 *out)
{
	for (int64 r = 0; r < n; r++)
		out[r] = (int64) a[r] * nb + (b != NULL ? b[r] : 0);
}

/*
 * TVComplement = 1 - 1/2 sum_k |p_real(k) - p_syn(k)| over categories k
 * (NULL is one); ContingencySimilarity is the same over the cells (a, b)
 * of the normalised contingency table.  Counting by sorting keeps memory
 * linear in the rows however many cells the table has.
 */
double
aigc_tv_complement(const int32 *ra, const int32 *rb, int64 nreal,
				   const int32 *sa, const int32 *sb, int64 nsyn,
				   int nb, int64 *scratch)
{
	int64	   *rc = scratch;
	int64	   *sc = scratch + nreal;
	int64		i = 0;
	int64		j = 0;
	double		tv = 0.0;

	CHECK_FOR_INTERRUPTS();
	if (nreal == 0 || nsyn == 0)
		return NAN;
	pair_codes(ra, rb, nreal, nb, rc);
	pair_codes(sa, sb, nsyn, nb, sc);
	qsort(rc, nreal, sizeof(int64), cmp_int64);
	qsort(sc, nsyn, sizeof(int64), cmp_int64);
	while (i < nreal || j < nsyn)
	{
		int64		k;
		int64		ci = 0;
		int64		cj = 0;

		if (j >= nsyn || (i < nreal && rc[i] <= sc[j]))
			k = rc[i];
		else
			k = sc[j];
		while (i < nreal && rc[i] == k)
			i++, ci++;
		while (j < nsyn && sc[j] == k)
			j++, cj++;
		tv += fabs((double) ci / nreal - (double) cj / nsyn);
	}
	return 1.0 - 0.5 * tv;
}

typedef struct ScoredRow
{
	float		score;
	bool		label;
} ScoredRow;

static int
cmp_scored(const void *a, const void *b)
{
	float		x = ((const ScoredRow *) a)->score;
	float		y = ((const ScoredRow *) b)->score;

	return (x > y) - (x < y);
}

/*
 * Mann-Whitney form of the ROC AUC: the chance that a random positive
 * scores above a random negative, ties counting one half (average ranks).
 */
double
aigc_roc_auc(const float *score, const bool *label, int n)
{
	ScoredRow  *rows = palloc(sizeof(ScoredRow) * Max(n, 1));
	double		rank_sum = 0.0;
	int64		npos = 0;
	int64		nneg;
	int			i = 0;

	for (int r = 0; r < n; r++)
	{
		rows[r].score = score[r];
		rows[r].label = label[r];
		npos += label[r];
	}
	nneg = n - npos;
	if (npos == 0 || nneg == 0)
	{
		pfree(rows);
		return NAN;
	}
	qsort(rows, n, sizeof(ScoredRow), cmp_scored);
	while (i < n)
	{
		int			j = i;
		int64		pos = 0;

		while (j < n && rows[j].score == rows[i].score)
			pos += rows[j++].label;
		/* ranks i+1..j share their mean */
		rank_sum += pos * (i + 1 + j) / 2.0;
		i = j;
	}
	pfree(rows);
	return (rank_sum - npos * (npos + 1) / 2.0) / ((double) npos * nneg);
}
