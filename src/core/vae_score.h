/*
 * vae_score.h
 *		Anomaly scores of VAE models: the negative ELBO at the posterior
 *		mean, column by column (see vae_score.c).
 */
#ifndef AIGC_VAE_SCORE_H
#define AIGC_VAE_SCORE_H

#include "postgres.h"

#include "core/vae.h"

typedef struct AigcVaeScorer
{
	int			rows;			/* most rows one call scores */
	AigcVaeBuffers buf;			/* mu and out hold the last call's rows */
	double	   *terms;			/* (rows, ncols + 1) when the caller has none */
} AigcVaeScorer;

extern void aigc_vae_scorer_init(AigcVaeScorer *s, const AigcVae *vae,
								 int rows, int ncols);

/*
 * Scores of n encoded rows (n <= s->rows), each the sum of its terms in
 * order; with terms (n rows of ncols + 1), also each column's
 * reconstruction term and, last, the KL term.
 */
extern void aigc_vae_score_rows(AigcVae *vae, AigcVaeScorer *s, const float *x,
								int n, int ncols, double *scores,
								double *terms);

/* The first row of the last call reconstructed, activated: (1, data_dim) */
extern void aigc_vae_expected_row(const AigcVae *vae, const AigcVaeScorer *s,
								  float *act);

#endif
