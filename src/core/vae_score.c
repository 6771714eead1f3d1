/*
 * vae_score.c
 *		Anomaly scores of VAE models.
 *
 * A VAE scores a row by its negative ELBO at the posterior mean: the
 * encoded row goes through the encoder, z = mu (no sampling, so a row
 * always gets the same score), through the decoder, and each column adds
 * its reconstruction loss; the KL term of the posterior comes last.  The
 * decoder's log sigma is a constant of the model and is left out, so that
 * every term is non-negative (docs/scoring.md).
 */
#include "postgres.h"

#include "core/vae_score.h"

void
aigc_vae_scorer_init(AigcVaeScorer *s, const AigcVae *vae, int rows, int ncols)
{
	s->rows = rows;
	aigc_vae_buffers_init(&s->buf, vae, rows);
	s->terms = palloc(sizeof(double) * rows * (ncols + 1));
}

void
aigc_vae_score_rows(AigcVae *vae, AigcVaeScorer *s, const float *x, int n,
					int ncols, double *scores, double *terms)
{
	double	   *t = terms != NULL ? terms : s->terms;

	Assert(n <= s->rows);
	aigc_vae_row_terms(vae, &s->buf, x, n, ncols, t);
	for (int r = 0; r < n; r++)
	{
		const double *row = t + (int64) r * (ncols + 1);
		double		score = 0.0;

		for (int c = 0; c <= ncols; c++)
			score += row[c];
		scores[r] = score;
	}
}

void
aigc_vae_expected_row(const AigcVae *vae, const AigcVaeScorer *s, float *act)
{
	aigc_vae_activate(vae, s->buf.out, 1, act, s->buf.grad_b);
}
