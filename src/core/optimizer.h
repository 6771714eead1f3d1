/*
 * optimizer.h
 *		Adam with L2 weight decay, as torch.optim.Adam implements it.
 */
#ifndef AIGC_OPTIMIZER_H
#define AIGC_OPTIMIZER_H

#include "postgres.h"

#include "core/layers.h"

typedef struct AigcAdam
{
	int			nparams;
	AigcParam  *params;			/* borrowed: the model owns w and g */
	float	  **m;
	float	  **v;
	double		lr;
	double		beta1;
	double		beta2;
	double		eps;
	double		weight_decay;
	int64		step;
} AigcAdam;

extern void aigc_adam_init(AigcAdam *opt, AigcParam *params, int nparams,
						   double lr, double beta1, double beta2,
						   double weight_decay);
/*
 * The same over caller-owned moments: state holds 2 x (sum of the
 * parameters' sizes) zeroed floats, every m then every v, in params' order
 */
extern void aigc_adam_init_state(AigcAdam *opt, AigcParam *params, int nparams,
								 float *state, double lr, double beta1,
								 double beta2, double weight_decay);
extern void aigc_adam_step(AigcAdam *opt);

/*
 * A step split between threads, over one parameter (a model's block): the
 * caller increments opt->step once, then each thread updates its elements
 * [first, first + count) with this, g holding this step's gradient of those
 * (count floats).  Element by element, each operation rounded on its own,
 * so how the elements are split changes no bit of the weights.  The
 * weights' whole cache lines are written with non-temporal stores, past
 * this core's caches: the other threads read them next, and a plain store
 * to a line another core holds waits for that core to give it up
 * (docs/performance.md).
 */
extern void aigc_adam_update_part(const AigcAdam *opt, const float *g,
								  int64 first, int64 count);

/*
 * aigc_adam_step, then every gradient zeroed for the next step to
 * accumulate into and, with avg (one array per parameter), the running
 * average avg = k avg + (1 - k) w of the new weights: one pass over them
 */
extern void aigc_adam_step_zero(AigcAdam *opt, float **avg, double k);

/*
 * Part `part` of nparts of the same, for threads sharing the step: the
 * caller increments opt->step once first.  Each parameter is split at
 * multiples of 16 floats (a cache line where the array is 64-byte aligned);
 * with more than one part the new weights are written as by
 * aigc_adam_update_part, and how they are split may change a weight's last
 * bit.
 */
extern void aigc_adam_step_zero_part(const AigcAdam *opt, float **avg,
									 double k, int part, int nparts);

#endif
