/*
 * column_encoder.c
 *		Mode-specific normalisation of continuous columns and one-hot
 *		categories, after the DataTransformer of CTGAN and TVAE.
 *
 * A continuous column is modelled by a one-dimensional Gaussian mixture
 * fitted with EM.  A value x becomes the one-hot of a mode k drawn from its
 * posterior plus alpha = (x - mean_k) / (4 std_k), so columns of any scale
 * or shape, multimodal ones included, reach the network inside [-1, 1].
 */
#include "postgres.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#include "core/column_encoder.h"
#include "core/dp_accountant.h"
#include "core/fastmath.h"

#define GMM_MAX_SAMPLE	20000	/* values a mixture is fitted on */
#define GMM_MAX_ITER	200
#define GMM_TOL			1e-7	/* on the mean log-likelihood */
#define GMM_REG			1e-6	/* added to variances, as sklearn does */
#define GMM_BLOCK		64		/* values of an E step block (e_step_block) */
#define MODE_MIN_WEIGHT 0.005	/* CTGAN drops lighter modes */
#define ALPHA_CLIP		0.99
#define INTERRUPT_EVERY 4096	/* rows between interrupt checks */
#define DECODE_ROWS		64		/* rows decoded at once (decode_rows) */

/*
 * Mode widths are capped so that mean + 4 std * alpha stays finite or at
 * worst overflows to an infinity that decoding clamps to the range: a
 * quarter of DBL_MAX already spans every double from any mean.
 */
#define MAX_MODE_STD	(DBL_MAX / 8)
/*
 * Magnitude beyond which a column is rescaled before its mixture is fitted:
 * GMM_MAX_SAMPLE squares of twice this stay finite
 */
#define RESCALE_ABOVE	1e150
/* distances beyond this many widths are all equally far (z*z stays finite) */
#define MAX_MODE_Z		1e100

/* Limits of a stored column encoder, well above anything training makes */
#define MAX_COLUMNS		10000
#define MAX_MODES		64
#define MAX_CATEGORIES	1000000

/*
 * Private statistics (docs/privacy.md).  A range comes from a noisy
 * histogram of the values on a signed log scale: LOG_PER_OCTAVE bins per
 * power of two from 2^LOG_MIN_EXP to 2^LOG_MAX_EXP each side of a bin of the
 * magnitudes below 2^LOG_MIN_EXP (its edges are 0).  The outermost bins
 * whose noisy count exceeds a threshold give the range; the threshold lets
 * an empty bin through with probability LOG_FALSE_BINS over all bins.
 * Mixtures are fitted to a noisy histogram of HIST_BINS equal bins over the
 * range, represented by up to GMM_MAX_SAMPLE points spread evenly in them.
 */
#define LOG_PER_OCTAVE	2
#define LOG_MIN_EXP		(-40)
#define LOG_MAX_EXP		1024
#define LOG_NMAG		((LOG_MAX_EXP - LOG_MIN_EXP) * LOG_PER_OCTAVE)
#define LOG_NBINS		(2 * LOG_NMAG + 1)
#define LOG_FALSE_BINS	0.01
#define HIST_BINS		32
/*
 * A private column gets a NULL slot when its noisy NULL count exceeds the
 * count noise alone passes with this probability
 */
#define NULL_FALSE_SLOT	0.01

/* an encoded row must fit in one palloc */
#define MAX_DIM			((int64) (MaxAllocSize / sizeof(float)))

static void
alloc_modes(AigcColumn *col, int nmodes)
{
	col->nmodes = nmodes;
	col->mode_mean = palloc(sizeof(double) * nmodes);
	col->mode_std = palloc(sizeof(double) * nmodes);
	col->mode_weight = palloc(sizeof(double) * nmodes);
}

static void
add_span(AigcColumnEncoder *colenc, int offset, int width, bool is_scalar, int column)
{
	AigcSpan   *s = &colenc->spans[colenc->nspans++];

	s->offset = offset;
	s->width = width;
	s->is_scalar = is_scalar;
	s->column = column;
}

/*
 * Place every column in the encoded row and build the spans.  A continuous
 * column is its alpha then a softmax over its modes; a categorical one is a
 * softmax over its categories.  The NULL slot, if any, ends the softmax, so
 * it is always the last slot of the column.
 */
static void
layout(AigcColumnEncoder *colenc)
{
	int64		dim = 0;

	colenc->nspans = 0;
	colenc->spans = palloc(sizeof(AigcSpan) * 2 * colenc->ncols);
	for (int c = 0; c < colenc->ncols; c++)
	{
		AigcColumn *col = &colenc->cols[c];
		int			null_slot = col->has_nulls ? 1 : 0;

		col->offset = (int) dim;
		if (col->kind == AIGC_CONTINUOUS)
		{
			col->width = 1 + col->nmodes + null_slot;
			add_span(colenc, col->offset, 1, true, c);
			add_span(colenc, col->offset + 1, col->width - 1, false, c);
		}
		else
		{
			col->width = col->ncats + null_slot;
			add_span(colenc, col->offset, col->width, false, c);
		}
		dim += col->width;
		if (dim > MAX_DIM)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("encoded rows would have more than %lld values",
							(long long) MAX_DIM),
					 errhint("Lower max_categories, or exclude columns with many categories.")));
	}
	colenc->dim = (int) dim;
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

/*
 * EM's E step over len values of z (at most GMM_BLOCK): adds each value's
 * responsibilities, times 1, z and z^2, to nk, sk and qk, and returns the
 * sum of the values' log-likelihoods.  Mode by mode over the block, so that
 * every loop runs down the values in vector lanes (aigc_exp and aigc_log
 * are libm's within 5e-16, and inline).
 */
static AIGC_VECTOR_CLONES double
e_step_block(const double *z, int len, int k, const double *logc,
			 const double *mean, const double *var, double *nk, double *sk,
			 double *qk)
{
	double		p[MAX_MODES][GMM_BLOCK];
	double		top[GMM_BLOCK];
	double		sum[GMM_BLOCK];
	double		ll = 0.0;

	for (int j = 0; j < k; j++)
	{
		double		half_prec = 0.5 / var[j];

		for (int i = 0; i < len; i++)
		{
			double		d = z[i] - mean[j];

			p[j][i] = logc[j] - d * d * half_prec;
		}
	}
	for (int i = 0; i < len; i++)
	{
		top[i] = p[0][i];
		sum[i] = 0.0;
	}
	for (int j = 1; j < k; j++)
		for (int i = 0; i < len; i++)
			top[i] = Max(top[i], p[j][i]);
	/* relative to the likeliest component, so nothing underflows to 0/0 */
	for (int j = 0; j < k; j++)
		for (int i = 0; i < len; i++)
		{
			p[j][i] = aigc_exp(p[j][i] - top[i]);
			sum[i] += p[j][i];
		}
	for (int i = 0; i < len; i++)
	{
		ll += top[i] + aigc_log(sum[i]);
		sum[i] = 1.0 / sum[i];
	}
	for (int j = 0; j < k; j++)
	{
		double		n0 = 0.0,
					n1 = 0.0,
					n2 = 0.0;

		for (int i = 0; i < len; i++)
		{
			double		resp = p[j][i] * sum[i];

			n0 += resp;
			n1 += resp * z[i];
			n2 += resp * z[i] * z[i];
		}
		nk[j] += n0;
		sk[j] += n1;
		qk[j] += n2;
	}
	return ll;
}

/*
 * Fit a mixture of at most max_modes Gaussians to the n sorted, standardised
 * values z by EM.  Returns the number of components; weight, mean and var
 * are in standardised units.
 */
static int
fit_gmm(const double *z, int n, int max_modes,
		double *weight, double *mean, double *var)
{
	double		zvar = 0.0;
	double		prev_ll = -HUGE_VAL;
	int			k = 0;

	/*
	 * Start at evenly spaced quantiles.  Components that start equal stay
	 * equal under EM, so each starts at a value above the previous one;
	 * columns with few distinct values get fewer components.
	 */
	for (int j = 0; j < max_modes; j++)
	{
		int			i = (int) ((j + 0.5) * n / max_modes);

		while (i < n && k > 0 && z[i] <= mean[k - 1])
			i++;
		if (i == n)
			break;
		mean[k++] = z[i];
	}

	for (int i = 0; i < n; i++)
		zvar += z[i] * z[i];
	zvar /= n;
	for (int j = 0; j < k; j++)
	{
		weight[j] = 1.0 / k;
		var[j] = zvar / k + GMM_REG;
	}

	for (int iter = 0; iter < GMM_MAX_ITER; iter++)
	{
		double		logc[MAX_MODES];
		double		nk[MAX_MODES] = {0};
		double		sk[MAX_MODES] = {0};
		double		qk[MAX_MODES] = {0};
		double		ll = 0.0;
		double		total = 0.0;

		CHECK_FOR_INTERRUPTS();

		/* E step, accumulating the sufficient statistics of the M step */
		for (int j = 0; j < k; j++)
			logc[j] = log(weight[j]) - 0.5 * log(2.0 * M_PI * var[j]);
		for (int i = 0; i < n; i += GMM_BLOCK)
			ll += e_step_block(z + i, Min(GMM_BLOCK, n - i), k, logc, mean, var,
							   nk, sk, qk);
		ll /= n;
		if (ll - prev_ll < GMM_TOL)
			break;
		prev_ll = ll;

		/* M step; sklearn's 10 eps keeps an emptied component defined */
		for (int j = 0; j < k; j++)
		{
			nk[j] += 10 * DBL_EPSILON;
			total += nk[j];
		}
		for (int j = 0; j < k; j++)
		{
			weight[j] = nk[j] / total;
			mean[j] = sk[j] / nk[j];
			var[j] = Max(qk[j] / nk[j] - mean[j] * mean[j], 0.0) + GMM_REG;
		}
	}
	return k;
}

/*
 * The column's value nearest to x, if one lies within width of it (else
 * x): a mixture component collapsed onto a point mass (its variance only
 * the regularisation) then decodes to exactly that value at offset 0
 */
static double
nearest_value(const AigcColumnData *d, int64 nrows, double x, double width)
{
	double		best = x;
	double		gap = width;

	for (int64 r = 0; r < nrows; r++)
	{
		if (r % INTERRUPT_EVERY == 0)
			CHECK_FOR_INTERRUPTS();
		if (!d->isnull[r] && fabs(d->value[r] - x) <= gap)
		{
			gap = fabs(d->value[r] - x);
			best = d->value[r];
		}
	}
	return best;
}

/*
 * Fit col's mixture to the m values of sample (freed here), inside col's
 * range.  Standardised first, so GMM_REG is relative to the spread.  With
 * rows d, a point-mass mode's mean becomes the nearest value they hold;
 * private statistics pass none (the value would be a row's).
 */
static void
fit_mixture(AigcColumn *col, double *sample, int m, int max_modes,
			const AigcColumnData *d, int64 nrows)
{
	double		mu = 0.0;
	double		sd = 0.0;
	double		weight[MAX_MODES];
	double		mean[MAX_MODES];
	double		var[MAX_MODES];
	double		total = 0.0;
	double		std_floor;
	double		scale;
	double		range;
	int			k;
	int			kept = 0;

	/*
	 * Columns whose sums of squares could overflow (1e160 squared, or
	 * 1.7e308 summed) are first divided by their largest magnitude; others
	 * are not, which keeps their fit bit for bit as before.
	 */
	scale = Max(fabs(col->min), fabs(col->max));
	if (scale <= RESCALE_ABOVE)
		scale = 1.0;
	for (int i = 0; i < m; i++)
	{
		sample[i] /= scale;
		mu += sample[i];
	}
	mu /= m;
	for (int i = 0; i < m; i++)
		sd += (sample[i] - mu) * (sample[i] - mu);
	sd = sqrt(sd / m);
	/* the subsample can miss every value but one; any scale does then */
	if (sd == 0.0)
		sd = 1.0;
	for (int i = 0; i < m; i++)
		sample[i] = (sample[i] - mu) / sd;
	qsort(sample, m, sizeof(double), cmp_double);
	k = fit_gmm(sample, m, max_modes, weight, mean, var);
	pfree(sample);

	/* weights sum to 1 over at most MAX_MODES, so one always survives */
	for (int j = 0; j < k; j++)
	{
		if (weight[j] < MODE_MIN_WEIGHT)
			continue;
		weight[kept] = weight[j];
		mean[kept] = mean[j];
		var[kept] = var[j];
		total += weight[j];
		kept++;
	}

	/* max - min overflows for a range like [-1.7e308, 1.7e308] */
	range = col->max - col->min;
	std_floor = 1e-6 * Max(1.0, isfinite(range) ? range : DBL_MAX);
	alloc_modes(col, kept);
	for (int j = 0; j < kept; j++)
	{
		/* rescaled, rounding can push a mean near DBL_MAX to infinity */
		double		m_j = scale * (mu + sd * mean[j]);

		col->mode_weight[j] = weight[j] / total;
		col->mode_mean[j] = Min(Max(m_j, -DBL_MAX), DBL_MAX);
		col->mode_std[j] = Min(Max(scale * (sd * sqrt(var[j])), std_floor),
							   MAX_MODE_STD);
		/* a mode of one repeated value has it as its mean, bit for bit */
		if (d != NULL && var[j] <= 1.01 * GMM_REG)
			col->mode_mean[j] = nearest_value(d, nrows, col->mode_mean[j],
											  col->mode_std[j]);
	}
}

/* One mode at the middle of the range: nothing to fit */
static void
single_mode(AigcColumn *col)
{
	alloc_modes(col, 1);
	col->mode_mean[0] = col->min == col->max ? col->min :
		0.5 * col->min + 0.5 * col->max;
	col->mode_std[0] = 1.0;
	col->mode_weight[0] = 1.0;
}

/* Values of d outside col's range (public or private bounds) onto it */
static void
clip_to_range(const AigcColumn *col, AigcColumnData *d, int64 nrows)
{
	for (int64 r = 0; r < nrows; r++)
		if (!d->isnull[r])
			d->value[r] = Min(Max(d->value[r], col->min), col->max);
}

static void
fit_continuous(AigcColumn *col, AigcColumnData *d, int64 nrows,
			   int max_modes, AigcRng *rng)
{
	int64		nvalid = 0;
	int64		seen = 0;
	double		min = 0.0;
	double		max = 0.0;
	double	   *sample;
	int			m;
	int			taken = 0;

	for (int64 r = 0; r < nrows; r++)
	{
		if (r % INTERRUPT_EVERY == 0)
			CHECK_FOR_INTERRUPTS();
		if (d->isnull[r])
			continue;
		if (nvalid == 0 || d->value[r] < min)
			min = d->value[r];
		if (nvalid == 0 || d->value[r] > max)
			max = d->value[r];
		nvalid++;
	}
	col->has_nulls = nvalid < nrows;
	col->null_frac = nrows > 0 ? (double) (nrows - nvalid) / nrows : 0.0;
	if (col->source == AIGC_STAT_PUBLIC)
		clip_to_range(col, d, nrows);
	else
	{
		/* the reader's exact range covers every row kept, and maybe a few more */
		if (nvalid == 0)
			col->has_exact_range = false;
		if (col->has_exact_range)
		{
			min = (double) col->exact_min;
			max = (double) col->exact_max;
		}
		col->min = min;
		col->max = max;
	}

	if (nvalid == 0 || col->min == col->max)
	{
		/* every alpha decodes to the only value (or 0) */
		single_mode(col);
		return;
	}

	/*
	 * Selection sampling (Knuth's algorithm S): each value is taken with
	 * probability (values still wanted) / (values left), which yields a
	 * uniform subsample of exactly m values.
	 */
	m = (int) Min(nvalid, (int64) GMM_MAX_SAMPLE);
	sample = palloc(sizeof(double) * m);
	for (int64 r = 0; r < nrows && taken < m; r++)
	{
		if (r % INTERRUPT_EVERY == 0)
			CHECK_FOR_INTERRUPTS();
		if (d->isnull[r])
			continue;
		if (aigc_rng_below(rng, (uint64) (nvalid - seen)) < (uint64) (m - taken))
			sample[taken++] = d->value[r];
		seen++;
	}
	fit_mixture(col, sample, m, max_modes, d, nrows);
}

/* Magnitude of the upper edge of log-scale bin j (1 .. LOG_NMAG) */
static double
log_edge(int j)
{
	double		e = ldexp(1.0, LOG_MIN_EXP + j / LOG_PER_OCTAVE);

	if (j % LOG_PER_OCTAVE != 0)
		e *= pow(2.0, (double) (j % LOG_PER_OCTAVE) / LOG_PER_OCTAVE);
	return isfinite(e) ? Min(e, DBL_MAX) : DBL_MAX;
}

/*
 * Log-scale bin of x: 0 .. LOG_NMAG - 1 the negatives (most negative
 * first), LOG_NMAG the magnitudes below 2^LOG_MIN_EXP, then the positives
 */
static int
log_bin(double x)
{
	double		a = fabs(x);
	int			j;

	if (a < ldexp(1.0, LOG_MIN_EXP))
		return LOG_NMAG;
	/* bin j holds (edge(j - 1), edge(j)] */
	j = (int) ceil((log2(a) - LOG_MIN_EXP) * LOG_PER_OCTAVE);
	while (j > 1 && a <= log_edge(j - 1))
		j--;
	while (j < LOG_NMAG && a > log_edge(j))
		j++;
	j = Min(Max(j, 1), LOG_NMAG);
	return x < 0 ? LOG_NMAG - j : LOG_NMAG + j;
}

/* Lower (upper: false) edge of log-scale bin i */
static double
log_bin_edge(int i, bool lower)
{
	if (i == LOG_NMAG)
		return 0.0;
	if (i < LOG_NMAG)
	{
		int			j = LOG_NMAG - i;

		return lower ? -log_edge(j) : (j == 1 ? 0.0 : -log_edge(j - 1));
	}
	return lower ? (i == LOG_NMAG + 1 ? 0.0 : log_edge(i - LOG_NMAG - 1)) :
		log_edge(i - LOG_NMAG);
}

/*
 * A range edge rounded outward to three significant digits, and to a
 * double that prints as itself at 15 digits (float8's output), so that no
 * value clamped to the range prints beyond it
 */
static double
nice_edge(double x, bool up)
{
	char		buf[64];
	double		p,
				r;

	if (x == 0.0)
		return x;
	p = pow(10.0, floor(log10(fabs(x))) - 2);
	r = (up ? ceil(x / p) : floor(x / p)) * p;
	if (!isfinite(r))
		return x;
	snprintf(buf, sizeof(buf), "%.15g", r);
	return strtod(buf, NULL);
}

/*
 * Private range: the outermost log-scale bins whose noisy count exceeds
 * the threshold (or, if none does, the bin of the largest noisy count),
 * within the type's range and, for integral types, widened to integers
 */
static void
dp_range(AigcColumn *col, const AigcColumnData *d, int64 nrows,
		 const AigcStatsNoise *noise, int c, AigcRng *rng)
{
	double	   *count = palloc0(sizeof(double) * LOG_NBINS);
	double		threshold = noise->sigma *
		dp_normal_upper_quantile(LOG_FALSE_BINS / LOG_NBINS);
	int			lo = -1,
				hi = -1,
				best = 0;

	for (int64 r = 0; r < nrows; r++)
	{
		if (r % INTERRUPT_EVERY == 0)
			CHECK_FOR_INTERRUPTS();
		if (!d->isnull[r])
			count[log_bin(d->value[r])] += 1.0;
	}
	for (int i = 0; i < LOG_NBINS; i++)
	{
		count[i] += noise->sigma * aigc_rng_normal(rng);
		if (count[i] > count[best])
			best = i;
		if (count[i] > threshold)
		{
			if (lo < 0)
				lo = i;
			hi = i;
		}
	}
	if (lo < 0)
		lo = hi = best;
	pfree(count);
	col->min = nice_edge(log_bin_edge(lo, true), false);
	col->max = nice_edge(log_bin_edge(hi, false), true);
	if (col->integral)
	{
		col->min = floor(col->min);
		col->max = ceil(col->max);
	}
	col->min = Min(Max(col->min, noise->type_min[c]), noise->type_max[c]);
	col->max = Min(Max(col->max, noise->type_min[c]), noise->type_max[c]);
	col->has_exact_range = false;
	col->source = AIGC_STAT_DP;
}

/*
 * Whether a private column gets a NULL slot, from its noisy NULL count.
 * Without one, its NULLs (and a categorical column's dropped categories)
 * train as all-zero slots, as unseen values score.
 */
static bool
has_null_slot(double noisy_nulls, const AigcStatsNoise *noise)
{
	return noisy_nulls > noise->sigma * dp_normal_upper_quantile(NULL_FALSE_SLOT);
}

/*
 * Private continuous column: its range (unless public), then one noisy
 * histogram of HIST_BINS equal bins over the range plus a NULL bin, which
 * gives the NULL share and the points the mixture is fitted to
 */
static void
fit_continuous_dp(AigcColumn *col, AigcColumnData *d, int64 nrows, int max_modes,
				  const AigcStatsNoise *noise, int c, AigcRng *rng)
{
	double		count[HIST_BINS + 1] = {0};
	int			nbins;
	double		width;
	double		total = 0.0;
	double		cum = 0.0;
	double	   *sample;
	int			m = 0;

	if (col->source != AIGC_STAT_PUBLIC)
		dp_range(col, d, nrows, noise, c, rng);
	clip_to_range(col, d, nrows);
	nbins = col->min == col->max ? 1 : HIST_BINS;
	/* halves, so that a range of doubles beyond DBL_MAX apart is fine */
	width = (0.5 * col->max - 0.5 * col->min) / nbins;
	for (int64 r = 0; r < nrows; r++)
	{
		if (r % INTERRUPT_EVERY == 0)
			CHECK_FOR_INTERRUPTS();
		if (d->isnull[r])
			count[HIST_BINS] += 1.0;
		else if (nbins > 1)
		{
			int			b = (int) ((0.5 * d->value[r] - 0.5 * col->min) / width);

			count[Min(Max(b, 0), nbins - 1)] += 1.0;
		}
		else
			count[0] += 1.0;
	}
	for (int b = 0; b < HIST_BINS + 1; b++)
		if (b < nbins || b == HIST_BINS)
		{
			count[b] += noise->sigma * aigc_rng_normal(rng);
			count[b] = Max(count[b], 0.0);
		}
	for (int b = 0; b < nbins; b++)
		total += count[b];
	col->has_nulls = has_null_slot(count[HIST_BINS], noise);
	if (!col->has_nulls)
		count[HIST_BINS] = 0.0;
	col->null_frac = total + count[HIST_BINS] > 0.0 ?
		count[HIST_BINS] / (total + count[HIST_BINS]) : 0.0;
	if (nbins == 1 || total < 1.0)
	{
		single_mode(col);
		return;
	}

	/*
	 * GMM_MAX_SAMPLE points, each bin's share of them (by rounding the
	 * cumulative share, so they add up) evenly inside the bin
	 */
	sample = palloc(sizeof(double) * GMM_MAX_SAMPLE);
	for (int b = 0; b < nbins; b++)
	{
		int			end;
		int			pts;

		cum += count[b];
		end = (int) Min(rint(cum / total * GMM_MAX_SAMPLE), (double) GMM_MAX_SAMPLE);
		pts = end - m;
		for (int i = 0; i < pts; i++)
			sample[m++] = 2.0 * (0.5 * col->min + width * (b + (i + 0.5) / pts));
	}
	if (m < 2)
	{
		pfree(sample);
		single_mode(col);
		return;
	}
	fit_mixture(col, sample, m, max_modes, NULL, 0);
}

static void
fit_categorical(AigcColumn *col, const AigcColumnData *d, int64 nrows)
{
	int64		nnull = 0;

	for (int64 r = 0; r < nrows; r++)
	{
		if (r % INTERRUPT_EVERY == 0)
			CHECK_FOR_INTERRUPTS();
		if (d->isnull[r])
			nnull++;
	}
	/* a column without categories still needs a slot to produce */
	col->has_nulls = nnull > 0 || col->ncats == 0;
	col->null_frac = nrows > 0 ? (double) nnull / nrows : 0.0;
}

/*
 * Private categorical column: a noisy count per category and for NULL.
 * Categories seen in training (not public ones) are kept only when their
 * noisy count exceeds the threshold, so that a category only one row has
 * appears with probability at most the threshold's delta; the rows of a
 * dropped category become NULL.  The counts are kept as slot_count.
 */
static void
fit_categorical_dp(AigcColumn *col, AigcColumnData *d, int64 nrows,
				   const AigcStatsNoise *noise, AigcRng *rng)
{
	double	   *count = palloc0(sizeof(double) * (col->ncats + 1));
	int		   *remap = palloc(sizeof(int) * Max(col->ncats, 1));
	double		total = 0.0;
	int			kept = 0;

	for (int64 r = 0; r < nrows; r++)
	{
		if (r % INTERRUPT_EVERY == 0)
			CHECK_FOR_INTERRUPTS();
		count[d->isnull[r] ? col->ncats : (int) d->value[r]] += 1.0;
	}
	for (int j = 0; j <= col->ncats; j++)
		count[j] += noise->sigma * aigc_rng_normal(rng);
	for (int j = 0; j < col->ncats; j++)
	{
		if (col->source != AIGC_STAT_PUBLIC && !(count[j] > noise->cat_threshold))
		{
			remap[j] = -1;
			continue;
		}
		remap[j] = kept;
		col->cats[kept] = col->cats[j];
		count[kept] = Max(count[j], 0.0);
		total += count[kept];
		kept++;
	}
	col->has_nulls = has_null_slot(count[col->ncats], noise) || kept == 0;
	count[kept] = col->has_nulls ? Max(count[col->ncats], 0.0) : 0.0;
	total += count[kept];
	col->ncats = kept;
	for (int64 r = 0; r < nrows; r++)
		if (!d->isnull[r] && remap[(int) d->value[r]] < 0)
			d->isnull[r] = true;
		else if (!d->isnull[r])
			d->value[r] = remap[(int) d->value[r]];
	pfree(remap);
	if (col->source != AIGC_STAT_PUBLIC)
		col->source = AIGC_STAT_DP;
	col->null_frac = total > 0.0 ? count[kept] / total : 0.0;
	col->slot_count = count;
}

int
aigc_column_encoder_dp_mechanisms(const AigcColumn *col)
{
	if (col->kind == AIGC_CONTINUOUS && col->source != AIGC_STAT_PUBLIC)
		return 2;
	return 1;
}

void
aigc_column_encoder_fit(AigcColumnEncoder *colenc, AigcColumnData *data,
						int64 nrows, int max_modes, const AigcStatsNoise *noise,
						AigcRng *rng)
{
	if (max_modes < 1 || max_modes > MAX_MODES)
		elog(ERROR, "max_modes %d is out of range", max_modes);

	for (int c = 0; c < colenc->ncols; c++)
	{
		AigcColumn *col = &colenc->cols[c];

		if (col->kind == AIGC_CONTINUOUS && noise != NULL)
			fit_continuous_dp(col, &data[c], nrows, max_modes, noise, c, rng);
		else if (col->kind == AIGC_CONTINUOUS)
			fit_continuous(col, &data[c], nrows, max_modes, rng);
		else if (noise != NULL)
			fit_categorical_dp(col, &data[c], nrows, noise, rng);
		else
			fit_categorical(col, &data[c], nrows);
	}
	layout(colenc);
}

const double *
aigc_column_encoder_slot_counts(const AigcColumnEncoder *colenc, int column)
{
	return colenc->cols[column].slot_count;
}

/* An index drawn from the weights, or without a generator the heaviest one */
static int
choose(AigcRng *rng, const float *probs, int n)
{
	int			best = 0;

	if (rng != NULL)
		return aigc_rng_categorical(rng, probs, n);
	for (int i = 1; i < n; i++)
		if (probs[i] > probs[best])
			best = i;
	return best;
}

/* Write alpha and the one-hot of a mode chosen from x's posterior */
static void
encode_continuous(const AigcColumn *col, double x, float *dst, AigcRng *rng)
{
	double		logp[MAX_MODES];
	float		probs[MAX_MODES];
	double		top = -HUGE_VAL;
	double		alpha;
	int			k;

	for (int j = 0; j < col->nmodes; j++)
	{
		double		z = (x - col->mode_mean[j]) / col->mode_std[j];

		z = Min(Max(z, -MAX_MODE_Z), MAX_MODE_Z);
		logp[j] = log(col->mode_weight[j] / col->mode_std[j]) - 0.5 * z * z;
		top = Max(top, logp[j]);
	}
	/* relative to the likeliest mode, so far-off values cannot underflow */
	for (int j = 0; j < col->nmodes; j++)
		probs[j] = (float) exp(logp[j] - top);
	k = choose(rng, probs, col->nmodes);

	alpha = (x - col->mode_mean[k]) / (4.0 * col->mode_std[k]);
	dst[0] = (float) Min(Max(alpha, -ALPHA_CLIP), ALPHA_CLIP);
	dst[1 + k] = 1.0f;
}

/*
 * One value into its column's zeroed slots.  A NULL without a NULL slot (a
 * scored row, see aigc_column_encoder_encode_row, or a private model's
 * training row, see has_null_slot) leaves them all zero.
 */
static void
encode_value(const AigcColumn *col, double value, bool isnull, float *dst,
			 AigcRng *rng)
{
	if (isnull)
	{
		/* alpha stays 0 */
		if (col->has_nulls)
			dst[col->width - 1] = 1.0f;
	}
	else if (col->kind == AIGC_CONTINUOUS)
		encode_continuous(col, value, dst, rng);
	else if (value >= 0)
	{
		Assert(value < col->ncats);
		dst[(int) value] = 1.0f;
	}
}

void
aigc_column_encoder_encode(const AigcColumnEncoder *colenc, const AigcColumnData *data,
						int64 first, int n, float *out, AigcRng *rng)
{
	memset(out, 0, sizeof(float) * (Size) n * colenc->dim);
	for (int i = 0; i < n; i++)
	{
		int64		r = first + i;
		float	   *row = out + (Size) i * colenc->dim;

		if (i % INTERRUPT_EVERY == 0)
			CHECK_FOR_INTERRUPTS();
		for (int c = 0; c < colenc->ncols; c++)
		{
			const AigcColumn *col = &colenc->cols[c];

			encode_value(col, data[c].value[r], data[c].isnull[r],
						 row + col->offset, rng);
		}
	}
}

void
aigc_column_encoder_encode_row(const AigcColumnEncoder *colenc, const double *value,
							const bool *isnull, float *out)
{
	memset(out, 0, sizeof(float) * colenc->dim);
	for (int c = 0; c < colenc->ncols; c++)
		encode_value(&colenc->cols[c], value[c], isnull[c],
					 out + colenc->cols[c].offset, NULL);
}

/* 10^0 .. 10^15, every one exact as a double (as pow(10, k) returns them) */
const double aigc_exact_pow10[AIGC_EXACT_POW10] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15
};

/* numeric(p, s)'s scale s, when within the range as_stored rounds to */
static bool
numeric_scale(const AigcColumn *col, int *scale)
{
	if (col->typid != NUMERICOID || col->typmod < (int32) VARHDRSZ)
		return false;
	/* numeric's typmod packs the scale as 11 signed bits */
	*scale = ((((col->typmod - VARHDRSZ) & 0x7ff) ^ 1024) - 1024);
	return *scale >= -15 && *scale <= 15;
}

double
aigc_column_rounding_step(const AigcColumn *col)
{
	int			scale;

	if (col->integral)
		return 1.0;
	if (numeric_scale(col, &scale))
		return pow(10.0, -scale);
	return 0.0;
}

/*
 * A decoded value as its column will store it: integers rounded, and
 * numeric(p, s) to s decimals, so that conditions see what the row holds.
 * (A domain over numeric(p, s) keeps its typmod on the domain and is
 * rounded only when converted.)
 */
static double
as_stored(const AigcColumn *col, double x)
{
	int			scale;

	if (col->integral)
		return rint(x);
	if (numeric_scale(col, &scale))
	{
		/* pow() per value costs as much as the rest of the row */
		double		p = scale >= 0 ? aigc_exact_pow10[scale] : pow(10.0, scale);
		double		r = rint(x * p) / p;

		/* a range off the scale's grid (a forged blob) must still hold */
		if (r < col->min)
			r = ceil(col->min * p) / p;
		if (r > col->max)
			r = floor(col->max * p) / p;
		return r >= col->min && r <= col->max ? r : x;
	}
	return x;
}

void
aigc_column_encoder_decode(const AigcColumnEncoder *colenc, const float *act, int n,
						AigcColumnData *out, AigcRng *rng)
{
	AigcColumnData *part = palloc(sizeof(AigcColumnData) * Max(colenc->ncols, 1));

	for (int first = 0; first < n; first += INTERRUPT_EVERY)
	{
		CHECK_FOR_INTERRUPTS();
		for (int c = 0; c < colenc->ncols; c++)
		{
			part[c].value = out[c].value + first;
			part[c].isnull = out[c].isnull + first;
		}
		aigc_column_encoder_decode_rows(colenc, act + first, n,
										Min(n - first, INTERRUPT_EVERY), part, rng);
	}
	pfree(part);
}

/*
 * The slot of each of len rows drawn from its span's weights: w rows of the
 * slot-major block p (row stride n), unnormalised and non-negative; u holds
 * the rows' uniform draws in [0, 1).  Row r takes the first slot whose
 * running sum exceeds u[r] times the span's total, counted without a
 * branch; rounding past the end falls back to the last positive weight, so
 * a zero weight is never chosen.  Without draws (u NULL), the heaviest
 * slot, the first of equals.
 */
static AIGC_VECTOR_CLONES void
draw_slots(const float *p, int w, int n, int len, const float *u, int *slot)
{
	float		total[DECODE_ROWS];
	float		run[DECODE_ROWS];
	int			last[DECODE_ROWS];

	for (int r = 0; r < len; r++)
	{
		total[r] = p[r];
		run[r] = 0.0f;
		last[r] = 0;
		slot[r] = 0;
	}
	if (u == NULL)
	{
		/* total holds the heaviest weight so far */
		for (int k = 1; k < w; k++)
			for (int r = 0; r < len; r++)
			{
				bool		heavier = p[(int64) k * n + r] > total[r];

				total[r] = heavier ? p[(int64) k * n + r] : total[r];
				slot[r] = heavier ? k : slot[r];
			}
		return;
	}
	for (int r = 0; r < len; r++)
		total[r] = 0.0f;
	for (int k = 0; k < w; k++)
		for (int r = 0; r < len; r++)
		{
			total[r] += p[(int64) k * n + r];
			last[r] = p[(int64) k * n + r] > 0.0f ? k : last[r];
		}
	for (int r = 0; r < len; r++)
		total[r] *= u[r];
	for (int k = 0; k < w; k++)
		for (int r = 0; r < len; r++)
		{
			run[r] += p[(int64) k * n + r];
			slot[r] += run[r] <= total[r];
		}
	for (int r = 0; r < len; r++)
		slot[r] = slot[r] < w ? slot[r] : last[r];
}

/*
 * Column by column over the rows, in blocks of DECODE_ROWS: slot-major, a
 * span's slots for consecutive rows are contiguous, so every draw runs over
 * a block of rows at once.  Each block and column takes its rows' uniforms
 * in row order.
 */
void
aigc_column_encoder_decode_rows(const AigcColumnEncoder *colenc, const float *act,
								int ld, int n, AigcColumnData *out, AigcRng *rng)
{
	for (int r0 = 0; r0 < n; r0 += DECODE_ROWS)
	{
		int			len = Min(DECODE_ROWS, n - r0);

		for (int c = 0; c < colenc->ncols; c++)
		{
			const AigcColumn *col = &colenc->cols[c];
			const float *t = act + (int64) col->offset * ld + r0;
			double	   *value = out[c].value + r0;
			bool	   *isnull = out[c].isnull + r0;
			float		u[DECODE_ROWS];
			int			k[DECODE_ROWS];

			if (rng != NULL)
				for (int r = 0; r < len; r++)
					u[r] = (float) (aigc_rng_next(rng) >> 40) * (1.0f / 16777216.0f);
			if (col->kind == AIGC_CONTINUOUS)
			{
				draw_slots(t + ld, col->width - 1, ld, len, rng ? u : NULL, k);
				for (int r = 0; r < len; r++)
				{
					double		alpha;
					double		x;

					value[r] = 0.0;
					isnull[r] = (k[r] == col->nmodes);
					if (isnull[r])
						continue;
					alpha = Min(Max((double) t[r], -1.0), 1.0);
					x = alpha * 4.0 * col->mode_std[k[r]] + col->mode_mean[k[r]];
					x = Min(Max(x, col->min), col->max);
					value[r] = as_stored(col, x);
				}
			}
			else
			{
				draw_slots(t, col->width, ld, len, rng ? u : NULL, k);
				for (int r = 0; r < len; r++)
				{
					isnull[r] = (k[r] == col->ncats);
					value[r] = isnull[r] ? 0.0 : k[r];
				}
			}
		}
	}
}

void
aigc_column_encoder_write(const AigcColumnEncoder *colenc, StringInfo buf,
					   uint32 version)
{
	aigc_write_u32(buf, (uint32) colenc->ncols);
	for (int c = 0; c < colenc->ncols; c++)
	{
		const AigcColumn *col = &colenc->cols[c];

		aigc_write_string(buf, col->name);
		aigc_write_u32(buf, col->typid);
		aigc_write_u32(buf, (uint32) col->typmod);
		aigc_write_u32(buf, (uint32) col->kind);
		aigc_write_u32(buf, col->integral);
		aigc_write_u32(buf, col->has_nulls);
		aigc_write_f64(buf, col->null_frac);
		if (col->kind == AIGC_CONTINUOUS)
		{
			aigc_write_f64(buf, col->min);
			aigc_write_f64(buf, col->max);
			if (version >= 3)
			{
				aigc_write_u32(buf, col->has_exact_range);
				if (col->has_exact_range)
				{
					aigc_write_u64(buf, (uint64) col->exact_min);
					aigc_write_u64(buf, (uint64) col->exact_max);
				}
			}
			aigc_write_u32(buf, (uint32) col->nmodes);
			for (int j = 0; j < col->nmodes; j++)
			{
				aigc_write_f64(buf, col->mode_mean[j]);
				aigc_write_f64(buf, col->mode_std[j]);
				aigc_write_f64(buf, col->mode_weight[j]);
			}
		}
		else
		{
			aigc_write_u32(buf, (uint32) col->ncats);
			for (int j = 0; j < col->ncats; j++)
				aigc_write_string(buf, col->cats[j]);
			if (version >= 5)
			{
				aigc_write_u32(buf, col->slot_count != NULL);
				if (col->slot_count != NULL)
					for (int j = 0; j < col->ncats + col->has_nulls; j++)
						aigc_write_f64(buf, col->slot_count[j]);
			}
		}
	}
}

static bool
read_bool(AigcReader *r)
{
	uint32		v = aigc_read_u32(r);

	if (v > 1)
		aigc_corrupt("A column flag is neither true nor false.");
	return v == 1;
}

static void
read_column(AigcColumn *col, AigcReader *r, uint32 version)
{
	uint32		kind;

	/* typid may name a type dropped since training; it is only compared */
	col->name = aigc_read_string(r);
	col->typid = aigc_read_u32(r);
	col->typmod = (int32) aigc_read_u32(r);
	kind = aigc_read_u32(r);
	if (kind != AIGC_CONTINUOUS && kind != AIGC_CATEGORICAL)
		aigc_corrupt("A column has an unknown kind.");
	col->kind = (AigcColumnKind) kind;
	col->integral = read_bool(r);
	col->has_nulls = read_bool(r);
	col->null_frac = aigc_read_f64(r);
	if (!(col->null_frac >= 0.0 && col->null_frac <= 1.0))
		aigc_corrupt("A column's fraction of NULLs is out of range.");

	if (col->kind == AIGC_CONTINUOUS)
	{
		int			nmodes;

		col->min = aigc_read_f64(r);
		col->max = aigc_read_f64(r);
		if (!isfinite(col->min) || !isfinite(col->max) || col->min > col->max)
			aigc_corrupt("A column's range is invalid.");
		/* decoding rounds integral values, which must stay inside the range */
		if (col->integral && (col->min != rint(col->min) || col->max != rint(col->max)))
			aigc_corrupt("An integral column's range is not integral.");
		/* versions before 3 kept no exact range */
		if (version >= 3)
			col->has_exact_range = read_bool(r);
		if (col->has_exact_range)
		{
			col->exact_min = (int64) aigc_read_u64(r);
			col->exact_max = (int64) aigc_read_u64(r);
			if (!col->integral || col->exact_min > col->exact_max ||
				(double) col->exact_min != col->min ||
				(double) col->exact_max != col->max)
				aigc_corrupt("A column's exact range does not match its range.");
		}
		nmodes = (int) aigc_read_count(r, MAX_MODES, "mixture modes");
		if (nmodes == 0)
			aigc_corrupt("A continuous column has no mixture modes.");
		alloc_modes(col, nmodes);
		for (int j = 0; j < nmodes; j++)
		{
			col->mode_mean[j] = aigc_read_f64(r);
			col->mode_std[j] = aigc_read_f64(r);
			col->mode_weight[j] = aigc_read_f64(r);
			if (!isfinite(col->mode_mean[j]) ||
				!(col->mode_std[j] > 0.0 && isfinite(col->mode_std[j])) ||
				!(col->mode_weight[j] > 0.0 && col->mode_weight[j] <= 1.0))
				aigc_corrupt("A mixture mode is invalid.");
		}
	}
	else
	{
		col->ncats = (int) aigc_read_count(r, MAX_CATEGORIES, "categories");
		if (col->ncats == 0 && !col->has_nulls)
			aigc_corrupt("A categorical column has neither categories nor NULLs.");
		col->cats = palloc(sizeof(char *) * Max(col->ncats, 1));
		for (int j = 0; j < col->ncats; j++)
			col->cats[j] = aigc_read_string(r);
		/* versions before 5 kept no counts */
		if (version >= 5 && read_bool(r))
		{
			int			nslots = col->ncats + col->has_nulls;

			col->slot_count = palloc(sizeof(double) * Max(nslots, 1));
			for (int j = 0; j < nslots; j++)
			{
				col->slot_count[j] = aigc_read_f64(r);
				if (!(col->slot_count[j] >= 0.0 && isfinite(col->slot_count[j])))
					aigc_corrupt("A category count is invalid.");
			}
		}
	}
}

void
aigc_column_encoder_read(AigcColumnEncoder *colenc, AigcReader *r, uint32 version)
{
	colenc->ncols = (int) aigc_read_count(r, MAX_COLUMNS, "columns");
	if (colenc->ncols == 0)
		aigc_corrupt("The model has no columns.");
	colenc->cols = palloc0(sizeof(AigcColumn) * colenc->ncols);
	for (int c = 0; c < colenc->ncols; c++)
		read_column(&colenc->cols[c], r, version);
	layout(colenc);
}

int
aigc_column_encoder_find_category(const AigcColumn *col, const char *label, int len)
{
	int			lo = 0;
	int			hi = col->ncats - 1;

	/* the reader sorted the labels with strcmp; this is its order too */
	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;
		int			cmp = strncmp(label, col->cats[mid], len);

		if (cmp == 0 && col->cats[mid][len] != '\0')
			cmp = -1;			/* label is a prefix of the category */
		if (cmp == 0)
			return mid;
		if (cmp < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return -1;
}

int
aigc_column_encoder_find_column(const AigcColumnEncoder *colenc, const char *name)
{
	for (int c = 0; c < colenc->ncols; c++)
		if (strcmp(colenc->cols[c].name, name) == 0)
			return c;
	return -1;
}
