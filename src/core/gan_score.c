/*
 * gan_score.c
 *		Anomaly scores of GAN models from their critic (discriminator).
 *
 * A Wasserstein critic gives real-looking rows high values, so a row's score
 * is its negated critic value: higher is more anomalous, in the critic's own
 * units (aigc_calibrate turns it into a percentile of real rows).  The
 * critic reads pac rows and their conditional vectors at once, so a scored
 * row fills a whole pac group, once with the conditional vector of each of
 * its categorical columns (training pairs a real row with one of its
 * categories, column by column), and the critic values are averaged.
 *
 * Without dropout the critic is piecewise linear, so in a row's linear
 * region its value is exactly gradient . input plus what the biases add:
 * each column's term is the gradient times the row's encoded values over
 * the column's slots (a conditional slot counts for the column it copies),
 * and the last term is the biases' part, so the terms add up to the score.
 */
#include "postgres.h"

#include <string.h>

#include "core/gan_score.h"

/* Critic input rows per scored row: pac copies for each conditional column */
static int
groups_per_row(const AigcGan *gan)
{
	return Max(gan->ncond, 1);
}

void
aigc_gan_scorer_init(AigcGanScorer *s, const AigcGan *gan, int rows)
{
	const AigcGanConfig *cfg = &gan->cfg;
	int			groups = rows * groups_per_row(gan);
	int64		in = (int64) groups * cfg->pac * (cfg->data_dim + cfg->cond_dim);
	int			widest = 1;

	/* only what the discriminator's forward and backward passes use */
	memset(&s->buf, 0, sizeof(s->buf));
	s->rows = rows;
	for (int i = 0; i < cfg->n_dis; i++)
	{
		s->buf.dact[i] = palloc(sizeof(float) * groups * cfg->dis_dims[i]);
		s->buf.deriv[i] = palloc(sizeof(float) * groups * cfg->dis_dims[i]);
		widest = Max(widest, cfg->dis_dims[i]);
	}
	s->buf.score = palloc(sizeof(float) * groups);
	s->buf.dscore = palloc(sizeof(float) * groups);
	s->buf.grad_a = palloc(sizeof(float) * Max((int64) groups * widest, in));
	s->buf.grad_b = palloc(sizeof(float) * Max((int64) groups * widest, in));
	s->input = palloc0(sizeof(float) * in);
	s->dinput = palloc(sizeof(float) * in);
}

/* Group k of row r: the row pac times, each with column k's conditional slots */
static void
fill_groups(const AigcGan *gan, const float *x, int n, float *input)
{
	const AigcGanConfig *cfg = &gan->cfg;
	int			D = cfg->data_dim;
	int			W = D + cfg->cond_dim;
	int			reps = groups_per_row(gan);

	memset(input, 0, sizeof(float) * (Size) n * reps * cfg->pac * W);
	for (int r = 0; r < n; r++)
		for (int k = 0; k < reps; k++)
			for (int p = 0; p < cfg->pac; p++)
			{
				float	   *row = input + (((int64) r * reps + k) * cfg->pac + p) * W;

				memcpy(row, x + (int64) r * D, sizeof(float) * D);
				if (gan->ncond > 0)
				{
					const AigcCondColumn *cc = &gan->cond[k];

					memcpy(row + D + cc->cond_offset, x + (int64) r * D + cc->data_offset,
						   sizeof(float) * cc->width);
				}
			}
}

void
aigc_gan_score_rows(AigcGan *gan, AigcGanScorer *s, const float *x, int n,
					double *score, double *terms, int ncols)
{
	const AigcGanConfig *cfg = &gan->cfg;
	int			D = cfg->data_dim;
	int			W = D + cfg->cond_dim;
	int			reps = groups_per_row(gan);
	int			groups = n * reps;

	Assert(n <= s->rows);
	fill_groups(gan, x, n, s->input);
	/* no generator: the critic's dropout is off */
	aigc_gan_discriminator_forward(gan, &s->buf, s->input, groups, NULL);
	for (int r = 0; r < n; r++)
	{
		double		sum = 0.0;

		for (int k = 0; k < reps; k++)
			sum += s->buf.score[r * reps + k];
		score[r] = -sum / reps;
	}
	if (terms == NULL)
		return;

	/* d score / d input */
	for (int g = 0; g < groups; g++)
		s->buf.dscore[g] = (float) (-1.0 / reps);
	aigc_gan_discriminator_input_grad(gan, &s->buf, groups, s->dinput);
	for (int r = 0; r < n; r++)
	{
		double	   *t = terms + (int64) r * (ncols + 1);
		double		columns = 0.0;

		memset(t, 0, sizeof(double) * ncols);
		for (int k = 0; k < reps; k++)
			for (int p = 0; p < cfg->pac; p++)
			{
				int64		at = (((int64) r * reps + k) * cfg->pac + p) * W;
				const float *in = s->input + at;
				const float *d = s->dinput + at;

				for (int sp = 0; sp < gan->nspans; sp++)
				{
					const AigcSpan *span = &gan->spans[sp];

					for (int j = span->offset; j < span->offset + span->width; j++)
						t[span->column] += (double) d[j] * in[j];
				}
				if (gan->ncond > 0)
				{
					const AigcCondColumn *cc = &gan->cond[k];

					for (int j = 0; j < cc->width; j++)
						t[cc->column] += (double) d[D + cc->cond_offset + j] *
							in[D + cc->cond_offset + j];
				}
			}
		for (int c = 0; c < ncols; c++)
			columns += t[c];
		t[ncols] = score[r] - columns;
	}
}
