/*
 * gan_score.h
 *		Anomaly scores of GAN models from their critic (see gan_score.c).
 */
#ifndef AIGC_GAN_SCORE_H
#define AIGC_GAN_SCORE_H

#include "postgres.h"

#include "core/gan.h"

typedef struct AigcGanScorer
{
	int			rows;			/* most rows one call scores */
	AigcGanBuffers buf;			/* the discriminator's buffers only */
	float	   *input;			/* (rows * max(ncond, 1), pac * (D + C)) critic input groups */
	float	   *dinput;			/* same shape: its gradient */
} AigcGanScorer;

extern void aigc_gan_scorer_init(AigcGanScorer *s, const AigcGan *gan, int rows);

/*
 * Scores of n encoded rows (n <= s->rows).  With terms (n rows of ncols + 1),
 * also each column's term and, last, the critic biases' part, which add up
 * to the score.
 */
extern void aigc_gan_score_rows(AigcGan *gan, AigcGanScorer *s, const float *x,
								int n, double *score, double *terms, int ncols);

#endif
