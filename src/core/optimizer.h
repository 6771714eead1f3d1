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
 * aigc_adam_step, then every gradient zeroed for the next step to
 * accumulate into and, with avg (one array per parameter), the running
 * average avg = k avg + (1 - k) w of the new weights: one pass over them
 */
extern void aigc_adam_step_zero(AigcAdam *opt, float **avg, double k);

#endif
