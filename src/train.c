/*
 * train.c
 *		aigc_train(): read the training rows, fit the column transformer,
 *		train the network and store the result as a new model version.
 *
 * A run owns one memory context, deleted at the end; on error the
 * transaction's cleanup releases it with its parent, and the store row is
 * never written because the INSERT happens last, in the same transaction.
 */
#include "postgres.h"

#include <math.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

#include "fmgr.h"
#include "funcapi.h"
#include "access/htup_details.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "model.h"
#include "model_store.h"
#include "optimizer.h"
#include "options.h"
#include "reader.h"

PG_FUNCTION_INFO_V1(aigc_train_relation);
PG_FUNCTION_INFO_V1(aigc_train_query);

/* Per-epoch losses and timings of one run */
typedef struct TrainHistory
{
	int			epochs;
	double	   *loss;
	double	   *recon;
	double	   *kl;
	double		loop_seconds;
	double		gemm_flops;
	int64		steps;
	double		gap_before;		/* largest category-share gap of samples */
	double		gap_after;
} TrainHistory;

/* Prior-shift calibration: a few passes of 10000 samples cost under an epoch */
#define CALIBRATE_ITERATIONS 5
#define CALIBRATE_SAMPLES 10000

/*
 * Denormal floats make CPU training several times slower and carry no
 * information here, so flush them to zero for the duration of a run.
 */
static unsigned int
flush_denormals(void)
{
#if defined(__x86_64__) || defined(__i386__)
	unsigned int old = _mm_getcsr();

	_mm_setcsr(old | 0x8040);	/* FTZ | DAZ */
	return old;
#else
	return 0;
#endif
}

static void
restore_float_mode(unsigned int saved)
{
#if defined(__x86_64__) || defined(__i386__)
	_mm_setcsr(saved);
#endif
}

static double
seconds_since(instr_time start)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, start);
	return INSTR_TIME_GET_DOUBLE(now);
}

static void
train_vae(const char *name, AigcVae *vae, const float *x, int64 nrows, int dim,
		  const AigcTrainOptions *opts, AigcRng *rng, TrainHistory *hist)
{
	int			batch = (int) Min((int64) opts->batch_size, nrows);
	int64		nbatches = (nrows + batch - 1) / batch;
	int64	   *perm = palloc(sizeof(int64) * nrows);
	float	   *xb = palloc(sizeof(float) * (Size) batch * dim);
	AigcVaeBuffers buf;
	AigcAdam	adam;
	instr_time	start;

	aigc_vae_buffers_init(&buf, vae, batch);
	aigc_adam_init(&adam, vae->params, vae->nparams, opts->learning_rate,
				   0.9, 0.999, opts->weight_decay);
	for (int64 i = 0; i < nrows; i++)
		perm[i] = i;
	hist->epochs = opts->epochs;
	hist->loss = palloc0(sizeof(double) * opts->epochs);
	hist->recon = palloc0(sizeof(double) * opts->epochs);
	hist->kl = palloc0(sizeof(double) * opts->epochs);
	hist->gemm_flops = 0.0;
	hist->steps = 0;

	INSTR_TIME_SET_CURRENT(start);
	for (int epoch = 0; epoch < opts->epochs; epoch++)
	{
		aigc_rng_shuffle(rng, perm, nrows);
		for (int64 b = 0; b < nbatches; b++)
		{
			int64		first = b * batch;
			int			n = (int) Min((int64) batch, nrows - first);
			double		recon,
						kl;

			CHECK_FOR_INTERRUPTS();
			for (int r = 0; r < n; r++)
				memcpy(xb + (Size) r * dim, x + (Size) perm[first + r] * dim,
					   sizeof(float) * dim);
			aigc_vae_forward_backward(vae, &buf, xb, n, rng, true, &recon, &kl);
			aigc_adam_step(&adam);
			aigc_vae_clamp_sigma(vae);
			hist->recon[epoch] += recon / nbatches;
			hist->kl[epoch] += kl / nbatches;
			hist->gemm_flops += aigc_vae_step_flops(vae, n);
			hist->steps++;
		}
		hist->loss[epoch] = hist->recon[epoch] + hist->kl[epoch];
		if (!isfinite(hist->loss[epoch]))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("training of model \"%s\" diverged at epoch %d", name, epoch + 1),
					 errhint("Lower the training option \"learning_rate\".")));
		if (opts->progress_every > 0 &&
			((epoch + 1) % opts->progress_every == 0 || epoch + 1 == opts->epochs))
			ereport(NOTICE,
					(errmsg("aigc_train \"%s\": epoch %d/%d, loss %.4f (reconstruction %.4f, KL %.4f)",
							name, epoch + 1, opts->epochs, hist->loss[epoch],
							hist->recon[epoch], hist->kl[epoch])));
	}
	hist->loop_seconds = seconds_since(start);
	hist->gap_before = hist->gap_after = -1.0;
	if (opts->calibrate)
		aigc_vae_calibrate_marginals(vae, &buf, x, nrows, rng, CALIBRATE_ITERATIONS,
									 CALIBRATE_SAMPLES, &hist->gap_before,
									 &hist->gap_after);
}

static Jsonb *
text_to_jsonb(const char *text)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
}

static void
append_series(StringInfo buf, const char *key, const double *v, int n)
{
	appendStringInfo(buf, "\"%s\": [", key);
	for (int i = 0; i < n; i++)
		appendStringInfo(buf, "%s%.6g", i > 0 ? ", " : "", v[i]);
	appendStringInfoChar(buf, ']');
}

static Jsonb *
columns_jsonb(const AigcTransformer *tf)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	for (int c = 0; c < tf->ncols; c++)
	{
		const AigcColumn *col = &tf->cols[c];

		appendStringInfoString(&buf, c > 0 ? ", {\"name\": " : "{\"name\": ");
		escape_json(&buf, col->name);
		appendStringInfoString(&buf, ", \"type\": ");
		escape_json(&buf, format_type_with_typemod(col->typid, col->typmod));
		if (col->kind == AIGC_CONTINUOUS)
			appendStringInfo(&buf, ", \"encoding\": \"mode-specific normalisation\", \"modes\": %d, \"min\": %.17g, \"max\": %.17g",
							 col->nmodes, col->min, col->max);
		else
			appendStringInfo(&buf, ", \"encoding\": \"one-hot\", \"categories\": %d",
							 col->ncats);
		appendStringInfo(&buf, ", \"null_fraction\": %.6g}", col->null_frac);
	}
	appendStringInfoChar(&buf, ']');
	return text_to_jsonb(buf.data);
}

static Datum
train_common(FunctionCallInfo fcinfo, bool from_query)
{
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext run_cxt;
	TupleDesc	result_desc;
	char	   *name;
	AigcModelKind kind;
	AigcTrainOptions opts;
	AigcTrainingData td;
	AigcModel  *model;
	AigcRng		rng;
	TrainHistory hist;
	AigcStoreEntry entry;
	float	   *encoded;
	instr_time	start;
	int			version;
	unsigned int float_mode;
	Datum		values[7];
	bool		nulls[7] = {false};
	StringInfoData json;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model name, %s and kind must not be NULL",
						from_query ? "query" : "relation")));
	if (get_call_result_type(fcinfo, NULL, &result_desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "aigc_train must return a composite type");
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model name must not be empty")));
	kind = aigc_kind_from_name(text_to_cstring(PG_GETARG_TEXT_PP(2)));

	run_cxt = AllocSetContextCreate(caller, "aigc_train", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(run_cxt);
	INSTR_TIME_SET_CURRENT(start);

	aigc_parse_train_options(PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3), &opts);
	aigc_rng_seed(&rng, opts.seed);

	if (from_query)
		aigc_read_query(text_to_cstring(PG_GETARG_TEXT_PP(1)), opts.exclude,
						opts.max_categories, &td);
	else
		aigc_read_relation(PG_GETARG_OID(1), opts.exclude, opts.max_categories, &td);
	if (td.nrows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot train model \"%s\": %s has no rows", name,
						from_query ? "the query" : td.source)));
	opts.exclude = td.excluded;

	model = palloc0(sizeof(AigcModel));
	model->kind = kind;
	model->tf.ncols = td.ncols;
	model->tf.cols = td.cols;
	model->nexcluded = list_length(td.excluded);
	model->excluded = palloc(sizeof(char *) * (model->nexcluded + 1));
	for (int i = 0; i < model->nexcluded; i++)
		model->excluded[i] = list_nth(td.excluded, i);
	aigc_transformer_fit(&model->tf, td.data, td.nrows, opts.max_modes, &rng);

	encoded = MemoryContextAllocHuge(run_cxt, sizeof(float) * (Size) td.nrows * model->tf.dim);
	for (int64 first = 0; first < td.nrows; first += 10000)
	{
		CHECK_FOR_INTERRUPTS();
		aigc_transformer_encode(&model->tf, td.data, first,
								(int) Min((int64) 10000, td.nrows - first),
								encoded + (Size) first * model->tf.dim, &rng);
	}

	{
		AigcVaeConfig cfg;

		cfg.data_dim = model->tf.dim;
		cfg.latent_dim = opts.latent_dim;
		cfg.n_enc = opts.n_enc;
		memcpy(cfg.enc_dims, opts.enc_dims, sizeof(cfg.enc_dims));
		cfg.n_dec = opts.n_dec;
		memcpy(cfg.dec_dims, opts.dec_dims, sizeof(cfg.dec_dims));
		cfg.loss_factor = opts.loss_factor;
		aigc_vae_init(&model->vae, &cfg, model->tf.spans, model->tf.nspans, &rng);
	}

	float_mode = flush_denormals();
	PG_TRY();
	{
		train_vae(name, &model->vae, encoded, td.nrows, model->tf.dim, &opts,
				  &rng, &hist);
	}
	PG_FINALLY();
	{
		restore_float_mode(float_mode);
	}
	PG_END_TRY();

	memset(&entry, 0, sizeof(entry));
	entry.name = name;
	entry.kind = aigc_kind_name(kind);
	entry.source_kind = from_query ? "query" : "relation";
	entry.source = td.source;
	entry.columns = columns_jsonb(&model->tf);
	entry.hyperparams = aigc_train_options_jsonb(&opts, entry.kind);
	initStringInfo(&json);
	appendStringInfoChar(&json, '{');
	append_series(&json, "loss", hist.loss, hist.epochs);
	appendStringInfoString(&json, ", ");
	append_series(&json, "reconstruction", hist.recon, hist.epochs);
	appendStringInfoString(&json, ", ");
	append_series(&json, "kl", hist.kl, hist.epochs);
	appendStringInfoChar(&json, '}');
	entry.loss = text_to_jsonb(json.data);
	entry.train_rows = td.nrows;
	entry.train_seconds = seconds_since(start);
	resetStringInfo(&json);
	appendStringInfo(&json, "{\"data_dim\": %d, \"steps\": " INT64_FORMAT ", "
					 "\"train_loop_seconds\": %.6g, \"gemm_flops\": %.6g, "
					 "\"gemm_gflops_per_second\": %.6g, \"rows_epochs_per_second\": %.6g",
					 model->tf.dim, hist.steps, hist.loop_seconds, hist.gemm_flops,
					 hist.gemm_flops / Max(hist.loop_seconds, 1e-9) / 1e9,
					 (double) td.nrows * opts.epochs / Max(hist.loop_seconds, 1e-9));
	if (opts.calibrate)
		appendStringInfo(&json, ", \"share_gap_before_calibration\": %.6g, "
						 "\"share_gap_after_calibration\": %.6g",
						 hist.gap_before, hist.gap_after);
	appendStringInfoChar(&json, '}');
	entry.stats = text_to_jsonb(json.data);
	entry.weights = aigc_model_serialize(model);
	version = aigc_store_insert(&entry);

	MemoryContextSwitchTo(caller);
	values[0] = CStringGetTextDatum(name);
	values[1] = Int32GetDatum(version);
	values[2] = CStringGetTextDatum(entry.kind);
	values[3] = Int64GetDatum(td.nrows);
	values[4] = Int32GetDatum(opts.epochs);
	values[5] = Float8GetDatum(hist.loss[opts.epochs - 1]);
	values[6] = Float8GetDatum(entry.train_seconds);
	MemoryContextDelete(run_cxt);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(result_desc, values, nulls)));
}

Datum
aigc_train_relation(PG_FUNCTION_ARGS)
{
	return train_common(fcinfo, false);
}

Datum
aigc_train_query(PG_FUNCTION_ARGS)
{
	return train_common(fcinfo, true);
}
