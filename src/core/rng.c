/*
 * rng.c
 *		xoshiro256** seeded through splitmix64, plus the few distributions
 *		the models need.
 */
#include "postgres.h"

#include <math.h>
#include <string.h>

#include "core/fastmath.h"
#include "core/rng.h"

/* Pairs of normals aigc_rng_normals makes per pass of its vector loop */
#define NORMAL_CHUNK 128

static inline uint64
rotl(uint64 x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64
splitmix64(uint64 *state)
{
	uint64		z = (*state += UINT64CONST(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64CONST(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64CONST(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

void
aigc_rng_seed(AigcRng *rng, uint64 seed)
{
	uint64		st = seed;

	for (int i = 0; i < 4; i++)
		rng->s[i] = splitmix64(&st);
	rng->have_spare = false;
	rng->spare = 0.0;
}

uint64
aigc_rng_next(AigcRng *rng)
{
	uint64	   *s = rng->s;
	uint64		result = rotl(s[1] * 5, 7) * 9;
	uint64		t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

void
aigc_rng_fill(AigcRng *rng, uint64 *out, int64 n)
{
	uint64		s0 = rng->s[0],
				s1 = rng->s[1],
				s2 = rng->s[2],
				s3 = rng->s[3];

	for (int64 i = 0; i < n; i++)
	{
		uint64		t = s1 << 17;

		out[i] = rotl(s1 * 5, 7) * 9;
		s2 ^= s0;
		s3 ^= s1;
		s1 ^= s2;
		s0 ^= s3;
		s2 ^= t;
		s3 = rotl(s3, 45);
	}
	rng->s[0] = s0;
	rng->s[1] = s1;
	rng->s[2] = s2;
	rng->s[3] = s3;
}

double
aigc_rng_uniform(AigcRng *rng)
{
	/* 53 random bits give every double in [0,1) on a 2^-53 grid */
	return (aigc_rng_next(rng) >> 11) * (1.0 / 9007199254740992.0);
}

double
aigc_rng_normal(AigcRng *rng)
{
	double		u1,
				u2,
				r;

	if (rng->have_spare)
	{
		rng->have_spare = false;
		return rng->spare;
	}
	do
		u1 = aigc_rng_uniform(rng);
	while (u1 <= 0.0);
	u2 = aigc_rng_uniform(rng);
	r = sqrt(-2.0 * log(u1));
	rng->spare = r * sin(2.0 * M_PI * u2);
	rng->have_spare = true;
	return r * cos(2.0 * M_PI * u2);
}

/*
 * Box-Muller over a chunk in float, branch-free so that it vectorises:
 * u1 in (0, 1) and u2 in [0, 1) are 24-bit uniforms (from one 64-bit
 * draw), r = sqrt(-2 log u1), and the angle 2 pi (u2 - 1/2) is taken as
 * twice its half, whose sine and cosine are polynomials.  Normals beyond
 * 5.8 (u1 below 2^-24) are not drawn: 7e-9 of the mass.
 */
static AIGC_VECTOR_CLONES void
normal_pairs(const int32 *a, const int32 *b, int pairs, float *cos_out,
			 float *sin_out)
{
	for (int i = 0; i < pairs; i++)
	{
		float		u1 = ((float) a[i] + 0.5f) * (1.0f / 16777216.0f);
		float		h = ((float) b[i] * (1.0f / 16777216.0f) - 0.5f) * (float) M_PI;
		float		r = sqrtf(-2.0f * aigc_logf(u1));
		float		sh,
					ch;

		aigc_sincos_half(h, &sh, &ch);
		cos_out[i] = r * (1.0f - 2.0f * sh * sh);
		sin_out[i] = r * (2.0f * sh * ch);
	}
}

/*
 * Normals in the order of the pairs, the odd one out kept as the spare, so
 * that the stream does not depend on how it is split into calls.
 */
AIGC_VECTOR_CLONES void
aigc_rng_normals(AigcRng *rng, float *out, int64 n)
{
	int32		a[NORMAL_CHUNK];
	int32		b[NORMAL_CHUNK];
	float		c[NORMAL_CHUNK];
	float		s[NORMAL_CHUNK];
	uint64		draws[NORMAL_CHUNK];
	bool		odd;

	if (n > 0 && rng->have_spare)
	{
		*out++ = (float) rng->spare;
		rng->have_spare = false;
		n--;
	}
	while (n > 0)
	{
		int			pairs = (int) Min((int64) NORMAL_CHUNK, (n + 1) / 2);

		aigc_rng_fill(rng, draws, pairs);
		for (int i = 0; i < pairs; i++)
		{
			a[i] = (int32) (draws[i] >> 40);
			b[i] = (int32) ((draws[i] >> 8) & 0xffffff);
		}
		normal_pairs(a, b, pairs, c, s);
		odd = 2 * (int64) pairs > n;
		pairs -= odd;
		for (int i = 0; i < pairs; i++)
		{
			out[2 * i] = c[i];
			out[2 * i + 1] = s[i];
		}
		out += 2 * pairs;
		n -= 2 * pairs;
		if (odd)
		{
			/* the last pair's sine waits for the next call */
			out[0] = c[pairs];
			rng->spare = s[pairs];
			rng->have_spare = true;
			n--;
		}
	}
}

uint64
aigc_rng_below(AigcRng *rng, uint64 bound)
{
	/* Lemire's rejection keeps the result unbiased for any bound */
	uint64		threshold = (-bound) % bound;

	for (;;)
	{
		uint64		r = aigc_rng_next(rng);

		if (r >= threshold)
			return r % bound;
	}
}

void
aigc_rng_shuffle(AigcRng *rng, int64 *items, int64 n)
{
	for (int64 i = n - 1; i > 0; i--)
	{
		int64		j = (int64) aigc_rng_below(rng, (uint64) i + 1);
		int64		tmp = items[i];

		items[i] = items[j];
		items[j] = tmp;
	}
}

/*
 * Draw an index from unnormalised non-negative weights; falls back to the
 * last positive weight so rounding never returns an impossible index.
 */
int
aigc_rng_categorical(AigcRng *rng, const float *probs, int n)
{
	double		total = 0.0;
	double		u;
	int			last = 0;

	for (int i = 0; i < n; i++)
		total += probs[i];
	u = aigc_rng_uniform(rng) * total;
	for (int i = 0; i < n; i++)
	{
		if (probs[i] <= 0.0f)
			continue;
		last = i;
		u -= probs[i];
		if (u < 0.0)
			return i;
	}
	return last;
}
