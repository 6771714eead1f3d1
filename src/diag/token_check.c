/*
 * token_check.c
 *		aigc.token_round_trip(): the transformer's tokenizer on a fixed-seed
 *		synthetic table, each row encoded to tokens and decoded back.
 *
 * The table has a bimodal float column with NULLs, a heavy-tailed
 * (log-normal) float column, an integer column and a categorical one with
 * NULLs.  A decoded continuous value must lie within one offset bin of the
 * original (8 std_k / nbins in the column's units, plus 0.5 for integer
 * rounding), except where the offset was clipped to [-1, 1], which is
 * counted instead; categories and NULLs must come back exactly.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

#include "core/tf_tokens.h"

PG_FUNCTION_INFO_V1(aigc_token_round_trip);

#define RT_ROWS 4000
#define RT_COLS 4
#define RT_MAX_MODES 10
#define RT_SEED 20261202

static char *rt_labels[] = {"a", "b", "c", "d"};

/* Value of column c in a synthetic row */
static void
synth_value(int c, AigcRng *rng, double *value, bool *isnull)
{
	static const float label_weight[] = {0.5f, 0.3f, 0.15f, 0.05f};
	double		u = aigc_rng_uniform(rng);

	*isnull = false;
	switch (c)
	{
		case 0:
			*isnull = u < 0.05;
			*value = aigc_rng_uniform(rng) < 0.6 ?
				-10.0 + aigc_rng_normal(rng) : 20.0 + 3.0 * aigc_rng_normal(rng);
			break;
		case 1:
			*value = exp(1.5 * aigc_rng_normal(rng));
			break;
		case 2:
			*value = rint(exp(2.0 + 0.8 * aigc_rng_normal(rng)));
			break;
		default:
			*isnull = u < 0.1;
			*value = aigc_rng_categorical(rng, label_weight, lengthof(label_weight));
			break;
	}
}

static void
define_columns(AigcColumnEncoder *enc)
{
	static const char *const names[RT_COLS] = {"bimodal", "lognormal", "count", "label"};

	enc->ncols = RT_COLS;
	enc->cols = palloc0(sizeof(AigcColumn) * RT_COLS);
	for (int c = 0; c < RT_COLS; c++)
	{
		AigcColumn *col = &enc->cols[c];

		col->name = pstrdup(names[c]);
		col->typid = c == 2 ? INT4OID : c == 3 ? TEXTOID : FLOAT8OID;
		col->typmod = -1;
		col->kind = c == 3 ? AIGC_CATEGORICAL : AIGC_CONTINUOUS;
		col->integral = c == 2;
		if (c == 3)
		{
			col->ncats = lengthof(rt_labels);
			col->cats = rt_labels;
		}
	}
}

Datum
aigc_token_round_trip(PG_FUNCTION_ARGS)
{
	int			nbins = PG_GETARG_INT32(0);
	ReturnSetInfo *rsinfo;
	AigcColumnEncoder enc;
	AigcTfTokens tk;
	AigcColumnData data[RT_COLS],
				back[RT_COLS];
	AigcRng		rng;
	int32	   *tokens;
	double		value[RT_COLS];
	bool		isnull[RT_COLS];

	InitMaterializedSRF(fcinfo, 0);
	rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	aigc_rng_seed(&rng, RT_SEED);
	define_columns(&enc);
	for (int c = 0; c < RT_COLS; c++)
	{
		data[c].value = palloc(sizeof(double) * RT_ROWS);
		data[c].isnull = palloc(sizeof(bool) * RT_ROWS);
		back[c].value = palloc(sizeof(double) * RT_ROWS);
		back[c].isnull = palloc(sizeof(bool) * RT_ROWS);
		for (int r = 0; r < RT_ROWS; r++)
			synth_value(c, &rng, &data[c].value[r], &data[c].isnull[r]);
	}
	aigc_column_encoder_fit(&enc, data, RT_ROWS, RT_MAX_MODES, NULL, &rng);
	aigc_tf_tokens_init(&tk, &enc, nbins);

	tokens = palloc(sizeof(int32) * RT_ROWS * tk.T);
	for (int r = 0; r < RT_ROWS; r++)
	{
		for (int c = 0; c < RT_COLS; c++)
		{
			value[c] = data[c].value[r];
			isnull[c] = data[c].isnull[r];
		}
		if (!aigc_tf_tokens_encode_row(&tk, value, isnull, tokens + r * tk.T))
			elog(ERROR, "training row %d has no token sequence", r);
	}
	aigc_tf_tokens_decode(&tk, tokens, RT_ROWS, back, &rng);

	for (int c = 0; c < RT_COLS; c++)
	{
		const AigcColumn *col = &enc.cols[c];
		int			p = tk.col_pos[c];
		int			nulls = 0,
					clipped = 0;
		double		worst = 0.0;
		Datum		values[6];
		bool		nulls_out[6] = {false};

		for (int r = 0; r < RT_ROWS; r++)
		{
			double		x = data[c].value[r];
			double		err = fabs(back[c].value[r] - x);

			nulls += data[c].isnull[r];
			if (back[c].isnull[r] != data[c].isnull[r])
				worst = HUGE_VAL;
			else if (data[c].isnull[r])
				continue;
			else if (col->kind == AIGC_CATEGORICAL)
				worst = Max(worst, err);
			else
			{
				int			k = tokens[r * tk.T + p] - tk.first[p];
				double		sd = col->mode_std[k];
				double		bound = 8.0 * sd / nbins + (col->integral ? 0.5 : 0.0);

				if (fabs(x - col->mode_mean[k]) >= 4.0 * sd * 0.99)
					clipped++;
				else
					worst = Max(worst, err / (bound * (1.0 + 1e-9)));
			}
		}
		values[0] = CStringGetTextDatum(col->name);
		values[1] = CStringGetTextDatum(col->kind == AIGC_CATEGORICAL ?
										"categorical" : "continuous");
		values[2] = Int32GetDatum(RT_ROWS);
		values[3] = Int32GetDatum(nulls);
		values[4] = Float8GetDatum(worst);
		values[5] = Int32GetDatum(clipped);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls_out);
	}
	return (Datum) 0;
}
