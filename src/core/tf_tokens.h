/*
 * tf_tokens.h
 *		A table row as the transformer's token sequence, from the column
 *		encoder's fitted state (transformer.h), and back.
 *
 * A categorical column is one position: one token per category seen in
 * training, plus a NULL token if training saw NULLs.  A continuous column
 * (numbers, dates, integers) is two positions: its mixture mode (one token
 * per mode, plus NULL if seen) then the quantised offset alpha = (x -
 * mean_k) / (4 std_k), clipped to [-1, 1], as one of nbins equal bins.
 * After a NULL mode the offset is always bin 0 (aigc_tf_tokens_mask), so
 * every value has exactly one token sequence and the sequences' model
 * probabilities add up to 1.  Tokens are numbered across positions as
 * AigcTfConfig.first describes.
 */
#ifndef AIGC_TF_TOKENS_H
#define AIGC_TF_TOKENS_H

#include "postgres.h"

#include "core/columns.h"
#include "core/rng.h"
#include "core/column_encoder.h"

typedef struct AigcTfTokens
{
	const AigcColumnEncoder *enc; /* borrowed */
	int			nbins;
	int			T;				/* positions */
	int		   *first;			/* T + 1: position t owns [first[t], first[t + 1]) */
	int		   *col_pos;		/* ncols: each column's first position */
	int		   *pos_col;		/* T: each position's column */
	float	   *scratch;		/* enc->dim: one encoded row */

	/*
	 * (V) 1 for a mode token whose training values were all one value, its
	 * mean (the column encoder's point-mass modes): it decodes to exactly
	 * that value whatever the bin.  All 0 until aigc_tf_tokens_find_atoms.
	 */
	uint8	   *atom;
} AigcTfTokens;

extern void aigc_tf_tokens_init(AigcTfTokens *tk, const AigcColumnEncoder *enc,
								int nbins);

/*
 * One row (value[c]/isnull[c] as in AigcColumnData) into tokens (T).  The
 * mode of a continuous value is its likeliest one (the column encoder's
 * deterministic encoding), so a value has one sequence.  Returns false
 * when some column has no token for its value: a NULL in a column trained
 * without NULLs or a category training never saw (index -1); the model
 * gives such a row probability 0.
 */
extern bool aigc_tf_tokens_encode_row(AigcTfTokens *tk, const double *value,
									  const bool *isnull, int32 *tokens);

/*
 * The same from an encoded row x (enc->dim, as aigc_column_encoder_encode
 * or encode_row writes it): a column whose slots are all zero gets token
 * -1 (at both positions of a continuous column) and the result is false.
 */
extern bool aigc_tf_tokens_from_encoded(const AigcTfTokens *tk, const float *x,
										int32 *tokens);

/*
 * Marks in tk->atom the mode tokens of nrows training rows (n, T) whose
 * offsets x (the encoded rows, (nrows, enc->dim)) are all exactly 0.
 */
extern void aigc_tf_tokens_find_atoms(AigcTfTokens *tk, const float *x,
									  const int32 *tokens, int64 nrows);
/*
 * An offset of mode k of continuous column col, at position p, in [lo, hi)
 * (a bin, or a part of one), drawn from rng (the middle with a NULL rng):
 * 0 for an atom; uniform, or, for a column decoded to a grid (integers,
 * dates, numeric(p, s): its training values all lie on the grid), at one
 * of the grid values there, uniformly, when there is one.
 */
extern double aigc_tf_tokens_offset(const AigcTfTokens *tk, int p, int k,
									double lo, double hi, AigcRng *rng);
/* The share of aigc_tf_tokens_offset(tk, p, k, lo, hi) in [alo, ahi) */
extern double aigc_tf_tokens_offset_share(const AigcTfTokens *tk, int p, int k,
										  double lo, double hi, double alo,
										  double ahi);
/*
 * n rows of tokens (n, T) as activated rows, slot-major (enc->dim, n) as
 * aigc_column_encoder_decode takes them: one-hots that are certain and an offset
 * within its bin (aigc_tf_tokens_offset; the bin's middle with a NULL rng)
 */
extern void aigc_tf_tokens_activate(const AigcTfTokens *tk, const int32 *tokens,
									int n, float *act, AigcRng *rng);

/*
 * n rows of tokens (n, T) into out[c].value/isnull for rows [0, n).  The
 * offset is uniform within its bin (drawn from rng; the bin's centre with
 * a NULL rng), then decoded as the column encoder decodes (range clamp,
 * integer and numeric(p, s) rounding).
 */
extern void aigc_tf_tokens_decode(AigcTfTokens *tk, const int32 *tokens, int n,
								  AigcColumnData *out, AigcRng *rng);

/*
 * The structural mask, an AigcTfMaskFn with arg the AigcTfTokens: after a
 * NULL mode only offset bin 0 is possible.
 */
extern void aigc_tf_tokens_mask(void *arg, int64 row, int pos,
								const int32 *prefix, uint8 *allowed);

#endif
