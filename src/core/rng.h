/*
 * rng.h
 *		Seeded pseudo-random numbers for training and sampling.
 *
 * Every run owns its generator, so results depend only on the seed and
 * never on other backends or on PostgreSQL's random().
 */
#ifndef AIGC_RNG_H
#define AIGC_RNG_H

#include "postgres.h"

typedef struct AigcRng
{
	uint64		s[4];			/* xoshiro256** state */
	bool		have_spare;		/* Box-Muller produces normals in pairs */
	double		spare;
} AigcRng;

extern void aigc_rng_seed(AigcRng *rng, uint64 seed);
extern uint64 aigc_rng_next(AigcRng *rng);
/* n draws of aigc_rng_next, the state kept in registers meanwhile */
extern void aigc_rng_fill(AigcRng *rng, uint64 *out, int64 n);
extern double aigc_rng_uniform(AigcRng *rng);	/* in [0, 1) */
extern double aigc_rng_normal(AigcRng *rng);	/* standard normal */
/*
 * n standard normals in float, vectorised: another stream than
 * aigc_rng_normal's, sharing its spare
 */
extern void aigc_rng_normals(AigcRng *rng, float *out, int64 n);
extern uint64 aigc_rng_below(AigcRng *rng, uint64 bound);	/* in [0, bound) */
extern void aigc_rng_shuffle(AigcRng *rng, int64 *items, int64 n);
extern int	aigc_rng_categorical(AigcRng *rng, const float *probs, int n);

#endif
