/*
 * dp_accountant.c
 *		Rényi differential privacy of the Poisson-subsampled Gaussian
 *		mechanism (Mironov, Talwar, Zhang 2019, "Rényi Differential Privacy
 *		of the Sampled Gaussian Mechanism", section 3.3), its conversion to
 *		(epsilon, delta) and the search for the noise multiplier.
 *
 * One step adds N(0, sigma^2) noise to a sum of per-example contributions of
 * L2 norm at most 1, each example entering the sum independently with
 * probability q.  Its RDP at order alpha is log(A_alpha) / (alpha - 1) with
 *
 *		A_alpha = E_{z ~ N(0, sigma^2)} [((1 - q) + q exp((2z - 1) / (2 sigma^2)))^alpha]
 *
 * which for integer alpha is a finite binomial sum and for fractional alpha
 * a convergent series split at z0, where the two mixture densities cross.
 * Every sum is taken in log space so that neither large orders nor small
 * noise overflow.  The same formulas are used by TensorFlow Privacy
 * (rdp_privacy_accountant.py) and Opacus (accountants/analysis/rdp.py); this
 * is an independent implementation compared with their published test
 * values in test/pgtap/20_dp_accountant.sql.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "miscadmin.h"

#include "core/dp_accountant.h"

/* The fractional-order series stops once both new terms are below e^-30 */
#define DP_SERIES_LOG_EPS (-30.0)
/* ... and gives up (RDP +inf, a valid if useless bound) after this many */
#define DP_SERIES_MAX_TERMS 10000000

/* A real number as sign and log of its magnitude (sign 0: the number 0) */
typedef struct SignedLog
{
	int			sign;
	double		mag;
} SignedLog;

static double
log_add(double a, double b)
{
	double		hi = Max(a, b),
				lo = Min(a, b);

	if (lo == -INFINITY)
		return hi;
	return hi + log1p(exp(lo - hi));
}

/* acc += sign * exp(mag) */
static void
signed_log_add(SignedLog *acc, int sign, double mag)
{
	if (mag == -INFINITY)
		return;
	if (acc->sign == 0)
	{
		acc->sign = sign;
		acc->mag = mag;
	}
	else if (acc->sign == sign)
		acc->mag = log_add(acc->mag, mag);
	else if (acc->mag > mag)
		acc->mag += log(-expm1(mag - acc->mag));
	else if (mag > acc->mag)
	{
		acc->mag = mag + log(-expm1(acc->mag - mag));
		acc->sign = sign;
	}
	else
		acc->sign = 0;
}

/*
 * log(erfc(x)), accurate where erfc(x) underflows: beyond x = 25 the
 * asymptotic expansion erfc(x) ~ exp(-x^2) / (x sqrt(pi)) (1 - 1/(2x^2) +
 * 3/(4x^4) - 15/(8x^6) + 105/(16x^8)) has relative error below 1e-12.
 */
static double
log_erfc(double x)
{
	double		r;

	if (x < 25.0)
		return log(erfc(x));
	r = 1.0 / (2.0 * x * x);
	return -x * x - log(x) - 0.5 * log(M_PI) +
		log1p(-r + 3.0 * r * r - 15.0 * r * r * r + 105.0 * r * r * r * r);
}

/* log(A_alpha) for integer alpha >= 2 and 0 < q < 1: a binomial sum */
static double
log_a_int(double q, double sigma, int alpha)
{
	double		log_q = log(q),
				log_1mq = log1p(-q),
				two_s2 = 2.0 * sigma * sigma,
				log_coef = 0.0, /* log binom(alpha, i) */
				acc = -INFINITY;

	for (int i = 0; i <= alpha; i++)
	{
		double		di = i;

		acc = log_add(acc, log_coef + di * log_q + (alpha - di) * log_1mq +
					  (di * di - di) / two_s2);
		log_coef += log((double) (alpha - i)) - log(di + 1.0);
	}
	return acc;
}

/*
 * log(A_alpha) for fractional alpha and 0 < q < 1: the integral over
 * (-inf, z0] and [z0, inf) expanded as binomial series whose terms are
 * Gaussian tail probabilities.  Coefficients binom(alpha, i) change sign
 * for i > alpha, so the partial sums carry a sign.
 */
static double
log_a_frac(double q, double sigma, double alpha)
{
	double		log_q = log(q),
				log_1mq = log1p(-q),
				two_s2 = 2.0 * sigma * sigma,
				sqrt2_sigma = M_SQRT2 * sigma,
				z0 = sigma * sigma * (log_1mq - log_q) + 0.5,
				log_coef = 0.0;
	int			sign = 1;
	SignedLog	a0 = {0, 0.0},
				a1 = {0, 0.0};

	for (int i = 0; i < DP_SERIES_MAX_TERMS; i++)
	{
		double		di = i,
					j = alpha - di,
					s0,
					s1;

		s0 = log_coef + di * log_q + j * log_1mq + (di * di - di) / two_s2 +
			log(0.5) + log_erfc((di - z0) / sqrt2_sigma);
		s1 = log_coef + j * log_q + di * log_1mq + (j * j - j) / two_s2 +
			log(0.5) + log_erfc((z0 - j) / sqrt2_sigma);
		signed_log_add(&a0, sign, s0);
		signed_log_add(&a1, sign, s1);
		if (Max(s0, s1) < DP_SERIES_LOG_EPS)
		{
			signed_log_add(&a0, a1.sign, a1.mag);
			/* A_alpha >= 1; a non-positive sum is round-off gone wrong */
			return a0.sign > 0 ? a0.mag : INFINITY;
		}
		/* binom(alpha, i + 1) = binom(alpha, i) (alpha - i) / (i + 1) */
		log_coef += log(fabs(j)) - log(di + 1.0);
		if (j < 0)
			sign = -sign;
	}
	return INFINITY;
}

void
dp_default_orders(double *orders)
{
	int			k = 0;

	/* Opacus' RDPAccountant.DEFAULT_ALPHAS: 1.1, 1.2, ..., 10.9, 12, ..., 63 */
	for (int x = 1; x < 100; x++)
		orders[k++] = 1.0 + x / 10.0;
	for (int a = 12; a <= 63; a++)
		orders[k++] = a;
	/* and TensorFlow Privacy's large orders, for small epsilon */
	orders[k++] = 64;
	orders[k++] = 128;
	orders[k++] = 256;
	orders[k++] = 512;
	Assert(k == DP_N_DEFAULT_ORDERS);
}

double
dp_rdp_sgm(double q, double sigma, double alpha)
{
	double		log_a;

	Assert(q > 0 && q <= 1 && sigma > 0 && alpha > 1);
	if (isinf(alpha))
		return INFINITY;
	/*
	 * sigma^2 underflowing to 0 (sigma below about 1e-154) would make the
	 * sums' exponents 0/0, NaN, which the clamp below turns into 0: no
	 * finite bound instead
	 */
	if (sigma * sigma == 0.0)
		return INFINITY;
	/* no subsampling: the Gaussian mechanism's closed form */
	if (q == 1.0)
		return alpha / (2.0 * sigma * sigma);
	if (alpha == floor(alpha) && alpha <= PG_INT32_MAX)
		log_a = log_a_int(q, sigma, (int) alpha);
	else
		log_a = log_a_frac(q, sigma, alpha);
	/*
	 * NaN comes from inf - inf in the terms when sigma is tiny enough for
	 * the exponents to overflow: no finite bound, as the safe answer
	 */
	if (isnan(log_a))
		return INFINITY;
	/* A_alpha >= 1 exactly; clamp round-off below */
	return Max(log_a, 0.0) / (alpha - 1.0);
}

void
dp_rdp_sgm_orders(double q, double sigma, int64 steps,
				  const double *orders, int n, double *rdp)
{
	for (int k = 0; k < n; k++)
	{
		/* a fractional order can take many series terms */
		CHECK_FOR_INTERRUPTS();
		rdp[k] = (double) steps * dp_rdp_sgm(q, sigma, orders[k]);
	}
}

/*
 * The conversion of Canonne, Kamath, Steinke 2020 (arXiv:2004.00010,
 * Proposition 12) = Balle et al. 2020 (arXiv:1905.09982, Theorem 21):
 *
 *		epsilon = rdp + log((alpha - 1) / alpha) - (log delta + log alpha) / (alpha - 1)
 *
 * minimised over the orders, exactly as TensorFlow Privacy's
 * rdp_privacy_accountant._compute_epsilon: orders at or below 1.01 are
 * numerically unstable there and skipped, an RDP small enough that the KL
 * bound delta <= sqrt(1 - exp(-rdp)) holds gives epsilon 0, and epsilon is
 * at least 0.  Opacus' get_privacy_spent uses the same formula without the
 * last two refinements, so the two agree whenever epsilon > 0.
 */
double
dp_epsilon_from_rdp(const double *orders, const double *rdp, int n,
					double delta, double *best_order)
{
	double		best = INFINITY;

	*best_order = NAN;
	for (int k = 0; k < n; k++)
	{
		double		a = orders[k],
					r = rdp[k],
					eps;

		if (isnan(r) || isinf(r))
			continue;
		if (delta * delta + expm1(-r) > 0)
			eps = 0.0;
		else if (a > 1.01)
			eps = r + log1p(-1.0 / a) - (log(delta) + log(a)) / (a - 1.0);
		else
			continue;
		if (eps < best)
		{
			best = eps;
			*best_order = a;
		}
	}
	return Max(best, 0.0);
}

double
dp_epsilon(double q, double sigma, int64 steps, double delta,
		   const double *orders, int n, double *best_order)
{
	double	   *rdp = palloc(sizeof(double) * n);
	double		eps;

	dp_rdp_sgm_orders(q, sigma, steps, orders, n, rdp);
	eps = dp_epsilon_from_rdp(orders, rdp, n, delta, best_order);
	pfree(rdp);
	return eps;
}

/* epsilon of steps of the SGM composed with base (NULL: nothing); rdp is scratch */
static double
eps_composed(double q, double sigma, int64 steps, double delta,
			 const double *base, const double *orders, int n, double *rdp,
			 double *best_order)
{
	dp_rdp_sgm_orders(q, sigma, steps, orders, n, rdp);
	if (base != NULL)
		for (int k = 0; k < n; k++)
			rdp[k] += base[k];
	return dp_epsilon_from_rdp(orders, rdp, n, delta, best_order);
}

/*
 * Bisection on sigma: epsilon does not increase with sigma (more noise is
 * post-processing of less), so keep eps(lo) > target >= eps(hi) and halve
 * the bracket until it is DP_SIGMA_REL_TOL * hi wide.  base, when not NULL,
 * is the RDP of mechanisms composed with the steps (added order by order).
 */
bool
dp_noise_multiplier_composed(double target_epsilon, double delta, double q,
							 int64 steps, const double *base,
							 const double *orders, int n, double *sigma)
{
	double	   *rdp = palloc(sizeof(double) * n);
	double		lo,
				hi = 1.0,
				best_order;

#define EPS_AT(s) eps_composed(q, (s), steps, delta, base, orders, n, rdp, &best_order)

	if (EPS_AT(hi) <= target_epsilon)
	{
		/* epsilon grows without bound as sigma -> 0, so this stops */
		lo = 0.5;
		while (lo > DBL_MIN && EPS_AT(lo) <= target_epsilon)
		{
			hi = lo;
			lo /= 2.0;
		}
	}
	else
	{
		do
		{
			if (hi >= DP_SIGMA_MAX)
			{
				pfree(rdp);
				return false;
			}
			lo = hi;
			hi = Min(2.0 * hi, DP_SIGMA_MAX);
		} while (EPS_AT(hi) > target_epsilon);
	}

	while (hi - lo > DP_SIGMA_REL_TOL * hi)
	{
		double		mid = 0.5 * (lo + hi);

		if (EPS_AT(mid) <= target_epsilon)
			hi = mid;
		else
			lo = mid;
	}
#undef EPS_AT
	pfree(rdp);
	*sigma = hi;
	return true;
}

bool
dp_noise_multiplier(double target_epsilon, double delta, double q,
					int64 steps, const double *orders, int n, double *sigma)
{
	return dp_noise_multiplier_composed(target_epsilon, delta, q, steps, NULL,
										orders, n, sigma);
}

/*
 * Upper quantile of the standard normal: z with P(N(0, 1) > z) = p, for p
 * in (0, 1/2], by bisection on log(erfc(z / sqrt 2) / 2), which stays
 * accurate far into the tail
 */
double
dp_normal_upper_quantile(double p)
{
	double		lo = 0.0,
				hi = 1.0,
				target = log(p);

	Assert(p > 0.0 && p <= 0.5);
	while (log_erfc(hi / M_SQRT2) - M_LN2 > target)
		hi *= 2.0;
	for (int i = 0; i < 200 && hi - lo > 1e-12 * hi; i++)
	{
		double		mid = 0.5 * (lo + hi);

		if (log_erfc(mid / M_SQRT2) - M_LN2 > target)
			lo = mid;
		else
			hi = mid;
	}
	return hi;
}
