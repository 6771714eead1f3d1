/*
 * tf_tokens.c
 *		Rows to token sequences and back, through the column encoder's own
 *		encode_row and decode so that both kinds read values identically.
 */
#include "postgres.h"

#include <math.h>
#include <string.h>

#include "core/tf_tokens.h"

/* Tokens of column c's first position: its modes or categories, and NULL */
static int
value_tokens(const AigcColumn *col)
{
	return (col->kind == AIGC_CONTINUOUS ? col->nmodes : col->ncats) +
		(col->has_nulls ? 1 : 0);
}

void
aigc_tf_tokens_init(AigcTfTokens *tk, const AigcColumnEncoder *enc, int nbins)
{
	int			T = 0;
	int64		V = 0;

	if (nbins < 2 || nbins > 65536)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("offset bins must be between 2 and 65536, not %d", nbins)));
	tk->enc = enc;
	tk->nbins = nbins;
	for (int c = 0; c < enc->ncols; c++)
		T += enc->cols[c].kind == AIGC_CONTINUOUS ? 2 : 1;
	tk->T = T;
	tk->first = palloc(sizeof(int) * (T + 1));
	tk->col_pos = palloc(sizeof(int) * enc->ncols);
	tk->pos_col = palloc(sizeof(int) * T);
	tk->scratch = palloc(sizeof(float) * enc->dim);
	T = 0;
	for (int c = 0; c < enc->ncols; c++)
	{
		const AigcColumn *col = &enc->cols[c];

		tk->col_pos[c] = T;
		tk->pos_col[T] = c;
		tk->first[T++] = (int) V;
		V += value_tokens(col);
		if (col->kind == AIGC_CONTINUOUS)
		{
			tk->pos_col[T] = c;
			tk->first[T++] = (int) V;
			V += nbins;
		}
		if (V > PG_INT32_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("the transformer's vocabulary would exceed %d tokens",
							PG_INT32_MAX)));
	}
	tk->first[T] = (int) V;
	tk->atom = palloc0(V);
}

void
aigc_tf_tokens_find_atoms(AigcTfTokens *tk, const float *x,
						  const int32 *tokens, int64 nrows)
{
	const AigcColumnEncoder *enc = tk->enc;
	uint8	   *spread = palloc0(tk->first[tk->T]);

	memset(tk->atom, 0, tk->first[tk->T]);
	for (int64 r = 0; r < nrows; r++)
		for (int c = 0; c < enc->ncols; c++)
		{
			const AigcColumn *col = &enc->cols[c];
			int32		tok = tokens[r * tk->T + tk->col_pos[c]];

			if (col->kind != AIGC_CONTINUOUS)
				continue;
			if (x[(Size) r * enc->dim + col->offset] == 0.0f)
				tk->atom[tok] = 1;
			else
				spread[tok] = 1;
		}
	for (int t = 0; t < tk->first[tk->T]; t++)
		tk->atom[t] &= !spread[t];
	/* a NULL token has no value */
	for (int c = 0; c < enc->ncols; c++)
		if (enc->cols[c].kind == AIGC_CONTINUOUS && enc->cols[c].has_nulls)
			tk->atom[tk->first[tk->col_pos[c]] + enc->cols[c].nmodes] = 0;
	pfree(spread);
}

/* The set slot among w one-hot slots, or -1 if none is */
static int
hot_slot(const float *slots, int w)
{
	for (int k = 0; k < w; k++)
		if (slots[k] > 0.0f)
			return k;
	return -1;
}

bool
aigc_tf_tokens_from_encoded(const AigcTfTokens *tk, const float *x,
							int32 *tokens)
{
	const AigcColumnEncoder *enc = tk->enc;
	bool		complete = true;

	for (int c = 0; c < enc->ncols; c++)
	{
		const AigcColumn *col = &enc->cols[c];
		const float *slots = x + col->offset;
		int			p = tk->col_pos[c];

		if (col->kind == AIGC_CONTINUOUS)
		{
			/* alpha, then the modes and NULL one-hot */
			int			k = hot_slot(slots + 1, col->width - 1);
			int			bin;

			/* a NULL's offset is bin 0, the only one the mask then allows */
			bin = k == col->nmodes ? 0 :
				(int) floor((slots[0] + 1.0) * 0.5 * tk->nbins);
			tokens[p] = k < 0 ? -1 : tk->first[p] + k;
			tokens[p + 1] = k < 0 ? -1 :
				tk->first[p + 1] + Min(Max(bin, 0), tk->nbins - 1);
		}
		else
		{
			int			k = hot_slot(slots, col->width);

			tokens[p] = k < 0 ? -1 : tk->first[p] + k;
		}
		complete &= tokens[p] >= 0;
	}
	return complete;
}

bool
aigc_tf_tokens_encode_row(AigcTfTokens *tk, const double *value,
						  const bool *isnull, int32 *tokens)
{
	aigc_column_encoder_encode_row(tk->enc, value, isnull, tk->scratch);
	return aigc_tf_tokens_from_encoded(tk, tk->scratch, tokens);
}

/*
 * The grid values (aigc_column_rounding_step) of mode k's values whose
 * offset is in [lo, hi), as grid indices g0 .. g1; false when the column
 * has no grid or none lies there
 */
static bool
grid_span(const AigcColumn *col, int k, double lo, double hi, double *g0,
		  double *g1)
{
	double		step = aigc_column_rounding_step(col);
	double		scale = 4.0 * col->mode_std[k];

	if (!(step > 0.0) || !(scale > 0.0) || !(hi > lo))
		return false;
	*g0 = ceil((col->mode_mean[k] + lo * scale) / step);
	*g1 = ceil((col->mode_mean[k] + hi * scale) / step) - 1.0;
	/* (and not so many that a double cannot count them) */
	return *g1 >= *g0 && *g1 - *g0 < 1e15;
}

double
aigc_tf_tokens_offset(const AigcTfTokens *tk, int p, int k, double lo,
					  double hi, AigcRng *rng)
{
	const AigcColumn *col = &tk->enc->cols[tk->pos_col[p]];
	double		u = rng ? aigc_rng_uniform(rng) : 0.5;
	double		g0,
				g1;

	if (tk->atom[tk->first[p] + k])
		return 0.0;
	if (grid_span(col, k, lo, hi, &g0, &g1))
	{
		double		g = Min(g0 + floor(u * (g1 - g0 + 1.0)), g1);

		return (g * aigc_column_rounding_step(col) - col->mode_mean[k]) /
			(4.0 * col->mode_std[k]);
	}
	return lo + u * (hi - lo);
}

double
aigc_tf_tokens_offset_share(const AigcTfTokens *tk, int p, int k, double lo,
							double hi, double alo, double ahi)
{
	const AigcColumn *col = &tk->enc->cols[tk->pos_col[p]];
	double		g0,
				g1,
				s0,
				s1;
	double		from = Max(lo, alo);
	double		to = Min(hi, ahi);

	if (tk->atom[tk->first[p] + k])
		return alo <= 0.0 && 0.0 < ahi ? 1.0 : 0.0;
	if (!(to > from))
		return 0.0;
	if (grid_span(col, k, lo, hi, &g0, &g1))
		return grid_span(col, k, from, to, &s0, &s1) ?
			(s1 - s0 + 1.0) / (g1 - g0 + 1.0) : 0.0;
	return (to - from) / (hi - lo);
}

void
aigc_tf_tokens_activate(const AigcTfTokens *tk, const int32 *tokens, int n,
						float *act, AigcRng *rng)
{
	const AigcColumnEncoder *enc = tk->enc;
	double		width = 2.0 / tk->nbins;

	memset(act, 0, sizeof(float) * (Size) n * enc->dim);
	for (int i = 0; i < n; i++)
	{
		const int32 *row = tokens + (int64) i * tk->T;
		float	   *a = act + i;	/* slot j at a[j * n] */

		for (int c = 0; c < enc->ncols; c++)
		{
			const AigcColumn *col = &enc->cols[c];
			int			p = tk->col_pos[c];
			int			k = row[p] - tk->first[p];

			Assert(k >= 0 && k < value_tokens(col));
			if (col->kind == AIGC_CONTINUOUS)
			{
				int			bin = row[p + 1] - tk->first[p + 1];

				/* a NULL's offset does not matter */
				a[(Size) col->offset * n] = k == col->nmodes ? 0.0f :
					(float) aigc_tf_tokens_offset(tk, p, k, -1.0 + bin * width,
												  -1.0 + (bin + 1) * width, rng);
				a[(Size) (col->offset + 1 + k) * n] = 1.0f;
			}
			else
				a[(Size) (col->offset + k) * n] = 1.0f;
		}
	}
}

void
aigc_tf_tokens_decode(AigcTfTokens *tk, const int32 *tokens, int n,
					  AigcColumnData *out, AigcRng *rng)
{
	float	   *act = palloc(sizeof(float) * (Size) n * tk->enc->dim);

	aigc_tf_tokens_activate(tk, tokens, n, act, rng);
	aigc_column_encoder_decode(tk->enc, act, n, out, NULL);
	pfree(act);
}

void
aigc_tf_tokens_mask(void *arg, int64 row, int pos, const int32 *prefix,
					uint8 *allowed)
{
	AigcTfTokens *tk = arg;
	const AigcColumn *col = &tk->enc->cols[tk->pos_col[pos]];

	/* the offset position of a column whose mode token was NULL */
	if (pos > 0 && tk->pos_col[pos - 1] == tk->pos_col[pos] && col->has_nulls &&
		prefix[pos - 1] == tk->first[pos - 1] + col->nmodes)
		memset(allowed + 1, 0, tk->nbins - 1);
}
