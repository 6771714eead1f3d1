/*
 * optimizer.c
 *		Adam (Kingma & Ba) with bias correction.  Weight decay is added to the
 *		gradient (torch's L2 form, not AdamW) to match TVAE and CTGAN.
 */
#include "postgres.h"

#include <math.h>

#include "core/fastmath.h"
#include "core/optimizer.h"

/* One tensor's update, branch-free so that it vectorises */
static AIGC_VECTOR_CLONES void
adam_update(float *w, const float *g, float *m, float *v, int64 n, float b1,
			float b2, float wd, float eps, float step_size, float inv_sqrt_bc2)
{
	for (int64 i = 0; i < n; i++)
	{
		float		gi = g[i] + wd * w[i];

		m[i] = b1 * m[i] + (1.0f - b1) * gi;
		v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
		w[i] -= step_size * m[i] / (sqrtf(v[i]) * inv_sqrt_bc2 + eps);
	}
}

/*
 * The same, then the gradient zeroed and, with avg, the running average
 * avg = k avg + (1 - k) w of the new weights, in the same pass
 */
static AIGC_VECTOR_CLONES void
adam_update_zero(float *w, float *g, float *m, float *v, float *avg, int64 n,
				 float b1, float b2, float wd, float eps, float step_size,
				 float inv_sqrt_bc2, float k)
{
	if (avg == NULL)
		for (int64 i = 0; i < n; i++)
		{
			float		gi = g[i] + wd * w[i];

			m[i] = b1 * m[i] + (1.0f - b1) * gi;
			v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
			w[i] -= step_size * m[i] / (sqrtf(v[i]) * inv_sqrt_bc2 + eps);
			g[i] = 0.0f;
		}
	else
		for (int64 i = 0; i < n; i++)
		{
			float		gi = g[i] + wd * w[i];

			m[i] = b1 * m[i] + (1.0f - b1) * gi;
			v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
			w[i] -= step_size * m[i] / (sqrtf(v[i]) * inv_sqrt_bc2 + eps);
			g[i] = 0.0f;
			avg[i] = k * avg[i] + (1.0f - k) * w[i];
		}
}

/* Everything but the moments */
static void
adam_setup(AigcAdam *opt, AigcParam *params, int nparams, double lr,
		   double beta1, double beta2, double weight_decay)
{
	opt->nparams = nparams;
	opt->params = params;
	opt->lr = lr;
	opt->beta1 = beta1;
	opt->beta2 = beta2;
	opt->eps = 1e-8;
	opt->weight_decay = weight_decay;
	opt->step = 0;
}

void
aigc_adam_init(AigcAdam *opt, AigcParam *params, int nparams,
			   double lr, double beta1, double beta2, double weight_decay)
{
	opt->m = palloc(sizeof(float *) * nparams);
	opt->v = palloc(sizeof(float *) * nparams);
	for (int i = 0; i < nparams; i++)
	{
		opt->m[i] = palloc0(sizeof(float) * params[i].n);
		opt->v[i] = palloc0(sizeof(float) * params[i].n);
	}
	adam_setup(opt, params, nparams, lr, beta1, beta2, weight_decay);
}

void
aigc_adam_init_state(AigcAdam *opt, AigcParam *params, int nparams,
					 float *state, double lr, double beta1, double beta2,
					 double weight_decay)
{
	opt->m = palloc(sizeof(float *) * nparams);
	opt->v = palloc(sizeof(float *) * nparams);
	for (int i = 0; i < nparams; i++)
	{
		opt->m[i] = state;
		state += params[i].n;
	}
	for (int i = 0; i < nparams; i++)
	{
		opt->v[i] = state;
		state += params[i].n;
	}
	adam_setup(opt, params, nparams, lr, beta1, beta2, weight_decay);
}

/* The step's factors; advances the step count */
typedef struct AdamFactors
{
	float		b1,
				b2,
				wd,
				eps,
				step_size,
				inv_sqrt_bc2;
} AdamFactors;

static void
adam_factors(AigcAdam *opt, AdamFactors *f)
{
	double		bc1,
				bc2;

	opt->step++;
	bc1 = 1.0 - pow(opt->beta1, (double) opt->step);
	bc2 = 1.0 - pow(opt->beta2, (double) opt->step);
	f->b1 = (float) opt->beta1;
	f->b2 = (float) opt->beta2;
	f->wd = (float) opt->weight_decay;
	f->eps = (float) opt->eps;
	f->step_size = (float) (opt->lr / bc1);
	f->inv_sqrt_bc2 = (float) (1.0 / sqrt(bc2));
}

void
aigc_adam_step(AigcAdam *opt)
{
	AdamFactors f;

	adam_factors(opt, &f);
	for (int p = 0; p < opt->nparams; p++)
		adam_update(opt->params[p].w, opt->params[p].g, opt->m[p], opt->v[p],
					opt->params[p].n, f.b1, f.b2, f.wd, f.eps, f.step_size,
					f.inv_sqrt_bc2);
}

void
aigc_adam_step_zero(AigcAdam *opt, float **avg, double k)
{
	AdamFactors f;

	adam_factors(opt, &f);
	for (int p = 0; p < opt->nparams; p++)
		adam_update_zero(opt->params[p].w, opt->params[p].g, opt->m[p], opt->v[p],
						 avg != NULL ? avg[p] : NULL, opt->params[p].n, f.b1,
						 f.b2, f.wd, f.eps, f.step_size, f.inv_sqrt_bc2,
						 (float) k);
}
