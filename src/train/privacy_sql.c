/*
 * privacy_sql.c
 *		SQL functions over the Rényi-DP accountant (core/dp_accountant.c):
 *		epsilon spent by DP-SGD, the RDP curve itself, and the noise
 *		multiplier that meets a target epsilon (docs/privacy.md).
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"

#include "core/dp_accountant.h"

PG_FUNCTION_INFO_V1(aigc_dp_privacy_spent);
PG_FUNCTION_INFO_V1(aigc_dp_epsilon);
PG_FUNCTION_INFO_V1(aigc_dp_rdp);
PG_FUNCTION_INFO_V1(aigc_dp_rdp_to_epsilon);
PG_FUNCTION_INFO_V1(aigc_dp_noise_multiplier);

/* Orders above this make the integer-order sums needlessly long */
#define DP_MAX_ORDER 10000.0
/* ... and more orders than this make one call take minutes */
#define DP_MAX_ORDERS 100000

static double
float_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", name)));
	return PG_GETARG_FLOAT8(argno);
}

static double
noise_multiplier_arg(FunctionCallInfo fcinfo, int argno)
{
	double		sigma = float_arg(fcinfo, argno, "noise_multiplier");

	if (!(sigma > 0.0 && sigma < INFINITY))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("noise_multiplier must be positive and finite, not %g", sigma)));
	return sigma;
}

static double
sample_rate_arg(FunctionCallInfo fcinfo, int argno)
{
	double		q = float_arg(fcinfo, argno, "sample_rate");

	if (!(q > 0.0 && q <= 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sample_rate must be in (0, 1], not %g", q)));
	return q;
}

static int64
steps_arg(FunctionCallInfo fcinfo, int argno)
{
	int32		steps;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("steps must not be NULL")));
	steps = PG_GETARG_INT32(argno);
	if (steps < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("steps must be at least 1, not %d", steps)));
	return steps;
}

static double
delta_arg(FunctionCallInfo fcinfo, int argno)
{
	double		delta = float_arg(fcinfo, argno, "delta");

	if (!(delta > 0.0 && delta < 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("delta must be in (0, 1), not %g", delta)));
	return delta;
}

/* A float8[] argument as a palloc'd C array of *n elements, NULLs refused */
static double *
float8_array_arg(FunctionCallInfo fcinfo, int argno, const char *name, int *n)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	double	   *out;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", name)));
	arr = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", name)));
	deconstruct_array(arr, FLOAT8OID, sizeof(float8), FLOAT8PASSBYVAL,
					  TYPALIGN_DOUBLE, &elems, &nulls, n);
	if (*n < 1 || *n > DP_MAX_ORDERS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must have from 1 to %d elements, not %d",
						name, DP_MAX_ORDERS, *n)));
	out = palloc(sizeof(double) * *n);
	for (int k = 0; k < *n; k++)
	{
		if (nulls[k])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not contain NULL", name)));
		out[k] = DatumGetFloat8(elems[k]);
	}
	return out;
}

/* The orders argument, or the default grid when it is NULL */
static double *
orders_arg(FunctionCallInfo fcinfo, int argno, int *n)
{
	double	   *orders;

	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
	{
		*n = DP_N_DEFAULT_ORDERS;
		orders = palloc(sizeof(double) * DP_N_DEFAULT_ORDERS);
		dp_default_orders(orders);
		return orders;
	}
	orders = float8_array_arg(fcinfo, argno, "orders", n);
	for (int k = 0; k < *n; k++)
		if (!(orders[k] > 1.0 && orders[k] <= DP_MAX_ORDER))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("orders must be in (1, %g], not %g",
							DP_MAX_ORDER, orders[k])));
	return orders;
}

static Datum
epsilon_record(FunctionCallInfo fcinfo, double epsilon, double best_order)
{
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, isnan(best_order)};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	values[0] = Float8GetDatum(epsilon);
	values[1] = Float8GetDatum(best_order);
	return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls));
}

/* epsilon and the best order of (noise_multiplier, sample_rate, steps, delta[, orders]) */
static double
privacy_spent(FunctionCallInfo fcinfo, double *best_order)
{
	double		sigma = noise_multiplier_arg(fcinfo, 0),
				q = sample_rate_arg(fcinfo, 1);
	int64		steps = steps_arg(fcinfo, 2);
	double		delta = delta_arg(fcinfo, 3);
	int			n;
	double	   *orders = orders_arg(fcinfo, 4, &n);

	return dp_epsilon(q, sigma, steps, delta, orders, n, best_order);
}

/*
 * aigc.dp_privacy_spent(noise_multiplier, sample_rate, steps, delta,
 *						 orders DEFAULT NULL) -> (epsilon, best_order)
 */
Datum
aigc_dp_privacy_spent(PG_FUNCTION_ARGS)
{
	double		best_order;
	double		epsilon = privacy_spent(fcinfo, &best_order);

	PG_RETURN_DATUM(epsilon_record(fcinfo, epsilon, best_order));
}

/* aigc.dp_epsilon(noise_multiplier, sample_rate, steps, delta, orders DEFAULT NULL) */
Datum
aigc_dp_epsilon(PG_FUNCTION_ARGS)
{
	double		best_order;

	PG_RETURN_FLOAT8(privacy_spent(fcinfo, &best_order));
}

/* aigc.dp_rdp(noise_multiplier, sample_rate, steps, orders DEFAULT NULL) -> float8[] */
Datum
aigc_dp_rdp(PG_FUNCTION_ARGS)
{
	double		sigma = noise_multiplier_arg(fcinfo, 0),
				q = sample_rate_arg(fcinfo, 1);
	int64		steps = steps_arg(fcinfo, 2);
	int			n;
	double	   *orders = orders_arg(fcinfo, 3, &n);
	double	   *rdp = palloc(sizeof(double) * n);
	Datum	   *elems = palloc(sizeof(Datum) * n);

	dp_rdp_sgm_orders(q, sigma, steps, orders, n, rdp);
	for (int k = 0; k < n; k++)
		elems[k] = Float8GetDatum(rdp[k]);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, n, FLOAT8OID, sizeof(float8),
										  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* aigc.dp_rdp_to_epsilon(orders, rdp, delta) -> (epsilon, best_order) */
Datum
aigc_dp_rdp_to_epsilon(PG_FUNCTION_ARGS)
{
	int			n,
				nr;
	double	   *orders,
			   *rdp,
				delta,
				epsilon,
				best_order;

	/* here NULL does not stand for the default grid: rdp is given per order */
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("orders must not be NULL")));
	orders = orders_arg(fcinfo, 0, &n);
	rdp = float8_array_arg(fcinfo, 1, "rdp", &nr);
	delta = delta_arg(fcinfo, 2);
	if (nr != n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rdp must have as many elements as orders (%d), not %d", n, nr)));
	for (int k = 0; k < n; k++)
		if (!(rdp[k] >= 0.0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("rdp must be non-negative, not %g", rdp[k])));
	epsilon = dp_epsilon_from_rdp(orders, rdp, n, delta, &best_order);
	PG_RETURN_DATUM(epsilon_record(fcinfo, epsilon, best_order));
}

/* aigc.dp_noise_multiplier(epsilon, delta, sample_rate, steps, orders DEFAULT NULL) */
Datum
aigc_dp_noise_multiplier(PG_FUNCTION_ARGS)
{
	double		epsilon = float_arg(fcinfo, 0, "epsilon"),
				delta = delta_arg(fcinfo, 1),
				q = sample_rate_arg(fcinfo, 2);
	int64		steps = steps_arg(fcinfo, 3);
	int			n;
	double	   *orders = orders_arg(fcinfo, 4, &n);
	double		sigma;

	if (!(epsilon > 0.0 && epsilon < INFINITY))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("epsilon must be positive and finite, not %g", epsilon)));
	if (!dp_noise_multiplier(epsilon, delta, q, steps, orders, n, &sigma))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("epsilon %g is out of reach for delta %g, sample_rate %g and %lld steps",
						epsilon, delta, q, (long long) steps),
				 errdetail("Even noise_multiplier %g spends more.", DP_SIGMA_MAX),
				 errhint("Raise epsilon or delta, or lower sample_rate or steps.")));
	PG_RETURN_FLOAT8(sigma);
}
