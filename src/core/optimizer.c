/*
 * optimizer.c
 *		Adam (Kingma & Ba) with bias correction.  Weight decay is added to the
 *		gradient (torch's L2 form, not AdamW) to match TVAE and CTGAN.
 */
#include "postgres.h"

#include <math.h>
#ifdef __SSE__
#include <xmmintrin.h>
#endif

#include "core/fastmath.h"
#include "core/optimizer.h"
#include "core/threads.h"

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
 * The same, the new weights to out (not in place), each operation rounded
 * on its own: a fused multiply-add in the vector loop but not in the scalar
 * one would make an element's bits depend on which of the two it fell in,
 * and so on the block's address (aigc_adam_update_part)
 */
static AIGC_VECTOR_CLONES AIGC_NO_FP_CONTRACT void
adam_update_out(const float *restrict w, float *restrict out,
				const float *restrict g, float *restrict m, float *restrict v,
				int64 n, float b1, float b2, float wd, float eps,
				float step_size, float inv_sqrt_bc2)
{
	for (int64 i = 0; i < n; i++)
	{
		float		gi = g[i] + wd * w[i];

		m[i] = b1 * m[i] + (1.0f - b1) * gi;
		v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
		out[i] = w[i] - step_size * m[i] / (sqrtf(v[i]) * inv_sqrt_bc2 + eps);
	}
}

/*
 * dst = src for n floats, n a multiple of 4, both 16-byte aligned, with
 * non-temporal stores where the CPU has them (the caller fences)
 */
static void
stream_floats(float *dst, const float *src, int64 n)
{
#ifdef __SSE__
	for (int64 i = 0; i < n; i += 4)
		_mm_stream_ps(dst + i, _mm_load_ps(src + i));
#else
	memcpy(dst, src, sizeof(float) * n);
#endif
}

/*
 * adam_update, then the gradient zeroed and, with avg, the running average
 * avg = k avg + (1 - k) w of the new weights: passes over arrays still in
 * cache, in place of separate passes over the whole model
 */
static AIGC_VECTOR_CLONES void
adam_update_zero(float *w, float *g, float *m, float *v, float *avg, int64 n,
				 float b1, float b2, float wd, float eps, float step_size,
				 float inv_sqrt_bc2, float k)
{
	adam_update(w, g, m, v, n, b1, b2, wd, eps, step_size, inv_sqrt_bc2);
	memset(g, 0, sizeof(float) * n);
	if (avg != NULL)
		for (int64 i = 0; i < n; i++)
			avg[i] = k * avg[i] + (1.0f - k) * w[i];
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

/* The bias-corrected step size and 1 / sqrt(bias correction 2) of opt->step */
static void
adam_corrections(const AigcAdam *opt, float *step_size, float *inv_sqrt_bc2)
{
	double		bc1 = 1.0 - pow(opt->beta1, (double) opt->step);
	double		bc2 = 1.0 - pow(opt->beta2, (double) opt->step);

	*step_size = (float) (opt->lr / bc1);
	*inv_sqrt_bc2 = (float) (1.0 / sqrt(bc2));
}

void
aigc_adam_step(AigcAdam *opt)
{
	float		step_size,
				inv_sqrt_bc2;

	opt->step++;
	adam_corrections(opt, &step_size, &inv_sqrt_bc2);
	for (int p = 0; p < opt->nparams; p++)
		adam_update(opt->params[p].w, opt->params[p].g, opt->m[p], opt->v[p],
					opt->params[p].n, (float) opt->beta1, (float) opt->beta2,
					(float) opt->weight_decay, (float) opt->eps, step_size,
					inv_sqrt_bc2);
}

/*
 * Parameter p's elements [first, first + count) with g their gradient: the
 * new weights written with non-temporal stores (see aigc_adam_update_part)
 * and, with avg, its running average avg = k avg + (1 - k) w
 */
static void
update_streamed(const AigcAdam *opt, int p, const float *g, int64 first,
				int64 count, float *avg, float k)
{
	/* the new weights of up to 16 cache lines at a time */
#define PART_CHUNK 256
	float		out[PART_CHUNK] pg_attribute_aligned(64);
	float	   *w = opt->params[p].w + first;
	int64		head = Min(count, (int64) ((64 - (uintptr_t) w % 64) % 64 / sizeof(float)));
	float		step_size,
				inv_sqrt_bc2;

	Assert(first >= 0 && first + count <= opt->params[p].n);
	adam_corrections(opt, &step_size, &inv_sqrt_bc2);
	/* the partial line before w's first whole one, then up to PART_CHUNK at a time */
	for (int64 i = 0, n; i < count; i += n)
	{
		int64		lines;

		n = i < head ? head : Min((int64) PART_CHUNK, count - i);
		lines = i < head ? 0 : n / 16 * 16;
		adam_update_out(w + i, out, g + i, opt->m[p] + first + i,
						opt->v[p] + first + i, n, (float) opt->beta1,
						(float) opt->beta2, (float) opt->weight_decay,
						(float) opt->eps, step_size, inv_sqrt_bc2);
		stream_floats(w + i, out, lines);
		memcpy(w + i + lines, out + lines, sizeof(float) * (n - lines));
		if (avg != NULL)
			for (int64 j = 0; j < n; j++)
				avg[first + i + j] = k * avg[first + i + j] + (1.0f - k) * out[j];
	}
#ifdef __SSE__
	/* the streamed stores reach memory before the threads meet again */
	_mm_sfence();
#endif
#undef PART_CHUNK
}

void
aigc_adam_update_part(const AigcAdam *opt, const float *g, int64 first,
					  int64 count)
{
	Assert(opt->nparams == 1);
	update_streamed(opt, 0, g, first, count, NULL, 0.0f);
}

void
aigc_adam_step_zero(AigcAdam *opt, float **avg, double k)
{
	opt->step++;
	aigc_adam_step_zero_part(opt, avg, k, 0, 1);
}

void
aigc_adam_step_zero_part(const AigcAdam *opt, float **avg, double k, int part,
						 int nparts)
{
	float		step_size,
				inv_sqrt_bc2;

	adam_corrections(opt, &step_size, &inv_sqrt_bc2);
	for (int p = 0; p < opt->nparams; p++)
	{
		int64		n = opt->params[p].n;
		int64		first,
					count;

		/* whole 16-float lines each, so that no two threads write one */
		aigc_split((n + 15) / 16, part, nparts, &first, &count);
		first *= 16;
		count = Min(count * 16, n - first);
		if (count <= 0)
			continue;
		if (nparts == 1)
			adam_update_zero(opt->params[p].w + first, opt->params[p].g + first,
							 opt->m[p] + first, opt->v[p] + first,
							 avg != NULL ? avg[p] + first : NULL, count,
							 (float) opt->beta1, (float) opt->beta2,
							 (float) opt->weight_decay, (float) opt->eps,
							 step_size, inv_sqrt_bc2, (float) k);
		else
		{
			/*
			 * every thread read the weights in its products: streamed past
			 * the caches, the new ones do not wait for the other cores to
			 * give up their lines (docs/performance.md)
			 */
			update_streamed(opt, p, opt->params[p].g + first, first, count,
							avg != NULL ? avg[p] : NULL, (float) k);
			memset(opt->params[p].g + first, 0, sizeof(float) * count);
		}
	}
}
