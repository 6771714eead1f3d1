/*
 * diag.h
 *		What the self-test functions of src/diag share: their result rows and
 *		their random inputs.
 */
#ifndef AIGC_DIAG_H
#define AIGC_DIAG_H

#include "postgres.h"
#include "fmgr.h"
#include "funcapi.h"

#include "core/rng.h"

/* One result row (component, what was measured, value, how many were checked) */
extern void aigc_diag_emit(ReturnSetInfo *rsinfo, const char *component,
						   const char *what, double value, int checked);

/* n values drawn uniformly from [lo, hi) */
extern void aigc_diag_fill_uniform(float *v, int64 n, AigcRng *rng,
								   double lo, double hi);

/*
 * The DP checks clip at the median of n per-example norms, so that some
 * examples are clipped and some not; clipped_sum_error is the relative L2
 * error of got (np values) against sum_r min(1, bound / norms[r]) per_row[r]
 */
extern double aigc_diag_median(const double *v, int n);
extern double aigc_diag_clipped_sum_error(const double *per_row,
										  const double *norms, int n,
										  int64 np, double bound,
										  const double *got);

/* aigc.dp_sgd_check()'s rows for the GAN's discriminator (dp_gan_check.c) */
extern void aigc_dp_check_gan(ReturnSetInfo *rsinfo, AigcRng *rng);

#endif
