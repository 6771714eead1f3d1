/*
 * diag.c
 *		Helpers of the self-test functions (gradient check, DP-SGD check).
 */
#include "postgres.h"

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
