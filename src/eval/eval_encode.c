/*
 * eval_encode.c
 *		Rows as vectors for the distance-based privacy metrics and the
 *		detection classifier: a continuous value min-max scaled by the real
 *		rows' range, a category one-hot, and NULL as one more slot of the
 *		column wherever any side has NULLs (0 in the value slot).
 *		A column of more than AIGC_EVAL_MAX_ONEHOT labels is left out: its
 *		one-hot would dominate both the distances and the memory.
 */
#include "postgres.h"

#include <string.h>

#include "eval/evaluate.h"

static bool
any_null(const AigcColumnData *d, int64 n)
{
	for (int64 r = 0; r < n; r++)
		if (d->isnull[r])
			return true;
	return false;
}

void
aigc_row_encoding_init(AigcRowEncoding *enc, const AigcEvalInput *in)
{
	int			dim = 0;

	enc->offset = palloc(sizeof(int) * Max(in->ncols, 1));
	enc->min = palloc0(sizeof(double) * Max(in->ncols, 1));
	enc->scale = palloc(sizeof(double) * Max(in->ncols, 1));
	enc->null_slot = palloc(sizeof(bool) * Max(in->ncols, 1));
	for (int c = 0; c < in->ncols; c++)
	{
		const AigcColumn *col = &in->cols[c];
		const AigcColumnData *d = &in->real[c];
		double		lo,
					hi;

		enc->offset[c] = dim;
		enc->null_slot[c] = any_null(d, in->nreal) || any_null(&in->syn[c], in->nsyn) ||
			(in->hold != NULL && any_null(&in->hold[c], in->nhold));
		enc->scale[c] = 1.0;
		if (col->kind == AIGC_CATEGORICAL)
		{
			if (col->ncats > AIGC_EVAL_MAX_ONEHOT)
				enc->offset[c] = -1;
			else
				dim += col->ncats + enc->null_slot[c];
			continue;
		}
		(void) aigc_column_range(d, in->nreal, &lo, &hi);
		enc->min[c] = lo;
		if (hi > lo)
			enc->scale[c] = 1.0 / (hi - lo);
		dim += 1 + enc->null_slot[c];
	}
	enc->dim = dim;
}

/* Encode data's rows rows[0..n) into out (n x dim, row-major) */
void
aigc_encode_rows(const AigcRowEncoding *enc, const AigcEvalInput *in,
				 const AigcColumnData *data, const int64 *rows, int n,
				 float *out)
{
	memset(out, 0, sizeof(float) * (Size) n * enc->dim);
	for (int i = 0; i < n; i++)
	{
		float	   *dst = out + (Size) i * enc->dim;
		int64		r = rows[i];

		for (int c = 0; c < in->ncols; c++)
		{
			const AigcColumn *col = &in->cols[c];
			int			at = enc->offset[c];

			if (at < 0)
				continue;
			if (data[c].isnull[r])
				dst[at + (col->kind == AIGC_CATEGORICAL ? col->ncats : 1)] = 1.0f;
			else if (col->kind == AIGC_CATEGORICAL)
				dst[at + (int) data[c].value[r]] = 1.0f;
			else
				dst[at] = (float) ((data[c].value[r] - enc->min[c]) * enc->scale[c]);
		}
	}
}
