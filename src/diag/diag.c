/*
 * diag.c
 *		Helpers of the self-test functions (gradient check, DP-SGD check).
 */
#include "postgres.h"

#include <math.h>

#include "utils/builtins.h"
#include "utils/tuplestore.h"

#include "diag/diag.h"

void
aigc_diag_emit(ReturnSetInfo *rsinfo, const char *component, const char *what,
			   double value, int checked)
{
	Datum		values[4];
	bool		nulls[4] = {false};

	values[0] = CStringGetTextDatum(component);
	values[1] = CStringGetTextDatum(what);
	values[2] = Float8GetDatum(value);
	values[3] = Int32GetDatum(checked);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

void
aigc_diag_fill_uniform(float *v, int64 n, AigcRng *rng, double lo, double hi)
{
	for (int64 i = 0; i < n; i++)
		v[i] = (float) (lo + (hi - lo) * aigc_rng_uniform(rng));
}

double
aigc_diag_median(const double *v, int n)
{
	double	   *sorted = palloc(sizeof(double) * n);
	double		median;

	memcpy(sorted, v, sizeof(double) * n);
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && sorted[j - 1] > sorted[j]; j--)
		{
			double		t = sorted[j];

			sorted[j] = sorted[j - 1];
			sorted[j - 1] = t;
		}
	median = sorted[n / 2];
	pfree(sorted);
	return median;
}

double
aigc_diag_clipped_sum_error(const double *per_row, const double *norms, int n,
							int64 np, double bound, const double *got)
{
	double	   *clipped = palloc0(sizeof(double) * np);
	double		diff = 0.0,
				ref = 0.0;

	for (int r = 0; r < n; r++)
	{
		double		c = Min(1.0, bound / norms[r]);

		for (int64 k = 0; k < np; k++)
			clipped[k] += c * per_row[r * np + k];
	}
	for (int64 k = 0; k < np; k++)
	{
		diff += (got[k] - clipped[k]) * (got[k] - clipped[k]);
		ref += clipped[k] * clipped[k];
	}
	pfree(clipped);
	return sqrt(diff / ref);
}
