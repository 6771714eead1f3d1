/*
 * dp_accountant.h
 *		Rényi-DP accountant for the Poisson-subsampled Gaussian mechanism
 *		(DP-SGD), with conversion to (epsilon, delta) and the inverse search
 *		for the noise multiplier.  Pure computation: no catalog, no ereport.
 *
 * See docs/privacy.md for the definitions and the references.
 */
#ifndef AIGC_DP_ACCOUNTANT_H
#define AIGC_DP_ACCOUNTANT_H

#include "postgres.h"

/* Size of the default order grid (dp_default_orders) */
#define DP_N_DEFAULT_ORDERS 155

/* Relative tolerance of dp_noise_multiplier on sigma */
#define DP_SIGMA_REL_TOL 1e-6

/* Largest noise multiplier dp_noise_multiplier tries (as Opacus' MAX_SIGMA) */
#define DP_SIGMA_MAX 1e6

extern void dp_default_orders(double *orders);

/* RDP of one step at order alpha > 1; +inf when it cannot be bounded */
extern double dp_rdp_sgm(double q, double sigma, double alpha);

/* RDP of steps steps at every order: rdp[k] = steps * dp_rdp_sgm(orders[k]) */
extern void dp_rdp_sgm_orders(double q, double sigma, int64 steps,
							  const double *orders, int n, double *rdp);

/*
 * Smallest epsilon such that the RDP curve implies (epsilon, delta)-DP, and
 * the order attaining it (NaN when no order gives a finite bound).
 */
extern double dp_epsilon_from_rdp(const double *orders, const double *rdp,
								  int n, double delta, double *best_order);

/* epsilon of steps steps of the subsampled Gaussian over the orders given */
extern double dp_epsilon(double q, double sigma, int64 steps, double delta,
						 const double *orders, int n, double *best_order);

/*
 * Smallest noise multiplier (to relative tolerance DP_SIGMA_REL_TOL) whose
 * epsilon after steps steps is at most target_epsilon; false when even
 * DP_SIGMA_MAX does not reach it.
 */
extern bool dp_noise_multiplier(double target_epsilon, double delta, double q,
								int64 steps, const double *orders, int n,
								double *sigma);

/*
 * As dp_noise_multiplier, with the steps composed with other mechanisms
 * whose RDP at each order is base[k] (NULL: none)
 */
extern bool dp_noise_multiplier_composed(double target_epsilon, double delta,
										 double q, int64 steps,
										 const double *base,
										 const double *orders, int n,
										 double *sigma);

/* z with P(N(0, 1) > z) = p, for p in (0, 1/2] */
extern double dp_normal_upper_quantile(double p);

#endif
