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
#include "model_cache.h"
#include "model_store.h"
#include "optimizer.h"
#include "options.h"
#include "reader.h"

PG_FUNCTION_INFO_V1(aigc_train_relation);
PG_FUNCTION_INFO_V1(aigc_train_query);

#define MAX_SERIES 4

/* Per-epoch losses (one series per named loss) and timings of one run */
typedef struct TrainHistory
{
	int			epochs;
	int			nseries;
	const char *names[MAX_SERIES];
	double	   *series[MAX_SERIES];
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
 * One kind's training as the shared epoch loop drives it: run_epoch trains
 * one epoch, writes one value per series and adds its GEMM work to the
 * history; report words the progress NOTICE.
 */
typedef struct EpochRunner
{
	void		(*run_epoch) (void *state, double *values, TrainHistory *hist);
	void		(*report) (const char *name, int epoch, int epochs,
						   const double *values);
	void	   *state;
} EpochRunner;

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
history_init(TrainHistory *hist, int epochs, int nseries, const char *const *names)
{
	hist->epochs = epochs;
	hist->nseries = nseries;
	for (int i = 0; i < nseries; i++)
	{
		hist->names[i] = names[i];
		hist->series[i] = palloc0(sizeof(double) * epochs);
	}
	hist->gemm_flops = 0.0;
	hist->steps = 0;
	hist->gap_before = hist->gap_after = -1.0;
}

static void
run_epochs(const char *name, const AigcTrainOptions *opts,
		   const EpochRunner *runner, TrainHistory *hist)
{
	instr_time	start;

	INSTR_TIME_SET_CURRENT(start);
	for (int epoch = 0; epoch < opts->epochs; epoch++)
	{
		double		values[MAX_SERIES];

		runner->run_epoch(runner->state, values, hist);
		for (int i = 0; i < hist->nseries; i++)
		{
			hist->series[i][epoch] = values[i];
			if (!isfinite(values[i]))
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("training of model \"%s\" diverged at epoch %d", name, epoch + 1),
						 errhint("Lower the training option \"learning_rate\".")));
		}
		if (opts->progress_every > 0 &&
			((epoch + 1) % opts->progress_every == 0 || epoch + 1 == opts->epochs))
			runner->report(name, epoch + 1, opts->epochs, values);
	}
	hist->loop_seconds = seconds_since(start);
}

/* The VAE: shuffled mini-batches over every row, once per epoch */
typedef struct VaeRun
{
	AigcVae    *vae;
	AigcVaeBuffers buf;
	AigcAdam	adam;
	const float *x;
	int64		nrows;
	int			dim;
	int			batch;
	int64		nbatches;
	int64	   *perm;
	float	   *xb;
	AigcRng    *rng;
} VaeRun;

static void
vae_epoch(void *state, double *values, TrainHistory *hist)
{
	VaeRun	   *run = state;
	double		recon_sum = 0.0,
				kl_sum = 0.0;

	aigc_rng_shuffle(run->rng, run->perm, run->nrows);
	for (int64 b = 0; b < run->nbatches; b++)
	{
		int64		first = b * run->batch;
		int			n = (int) Min((int64) run->batch, run->nrows - first);
		double		recon,
					kl;

		CHECK_FOR_INTERRUPTS();
		for (int r = 0; r < n; r++)
			memcpy(run->xb + (Size) r * run->dim,
				   run->x + (Size) run->perm[first + r] * run->dim,
				   sizeof(float) * run->dim);
		aigc_vae_forward_backward(run->vae, &run->buf, run->xb, n, run->rng,
								  true, &recon, &kl);
		aigc_adam_step(&run->adam);
		aigc_vae_clamp_sigma(run->vae);
		recon_sum += recon / run->nbatches;
		kl_sum += kl / run->nbatches;
		hist->gemm_flops += aigc_vae_step_flops(run->vae, n);
		hist->steps++;
	}
	values[0] = recon_sum + kl_sum;
	values[1] = recon_sum;
	values[2] = kl_sum;
}

static void
vae_report(const char *name, int epoch, int epochs, const double *values)
{
	ereport(NOTICE,
			(errmsg("aigc_train \"%s\": epoch %d/%d, loss %.4f (reconstruction %.4f, KL %.4f)",
					name, epoch, epochs, values[0], values[1], values[2])));
}

static void
train_vae(const char *name, AigcVae *vae, const float *x, int64 nrows, int dim,
		  const AigcTrainOptions *opts, AigcRng *rng, TrainHistory *hist)
{
	static const char *const names[] = {"loss", "reconstruction", "kl"};
	VaeRun		run;
	EpochRunner runner = {vae_epoch, vae_report, &run};

	run.vae = vae;
	run.x = x;
	run.nrows = nrows;
	run.dim = dim;
	run.batch = (int) Min((int64) opts->batch_size, nrows);
	run.nbatches = (nrows + run.batch - 1) / run.batch;
	run.perm = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * nrows);
	run.xb = palloc(sizeof(float) * (Size) run.batch * dim);
	run.rng = rng;
	aigc_vae_buffers_init(&run.buf, vae, run.batch);
	aigc_adam_init(&run.adam, vae->params, vae->nparams, opts->learning_rate,
				   0.9, 0.999, opts->weight_decay);
	for (int64 i = 0; i < nrows; i++)
		run.perm[i] = i;
	history_init(hist, opts->epochs, lengthof(names), names);
	run_epochs(name, opts, &runner, hist);
	if (opts->calibrate)
		aigc_vae_calibrate_marginals(vae, &run.buf, x, nrows, rng,
									 CALIBRATE_ITERATIONS, CALIBRATE_SAMPLES,
									 &hist->gap_before, &hist->gap_after);
}

/*
 * The GAN: CTGAN's epoch is max(rows / batch, 1) steps, each of
 * discriminator_steps discriminator updates and one generator update on
 * batches drawn by training-by-sampling.
 */
typedef struct GanRun
{
	AigcGanTrainer trainer;
	int64		steps_per_epoch;
	double		step_flops;
	AigcRng    *rng;
} GanRun;

static void
gan_epoch(void *state, double *values, TrainHistory *hist)
{
	GanRun	   *run = state;

	memset(values, 0, sizeof(double) * 4);
	for (int64 s = 0; s < run->steps_per_epoch; s++)
	{
		AigcGanStepLosses l;

		CHECK_FOR_INTERRUPTS();
		aigc_gan_train_step(&run->trainer, run->rng, &l);
		values[0] += l.generator / run->steps_per_epoch;
		values[1] += l.discriminator / run->steps_per_epoch;
		values[2] += l.penalty / run->steps_per_epoch;
		values[3] += l.cross_entropy / run->steps_per_epoch;
		hist->gemm_flops += run->step_flops;
		hist->steps++;
	}
}

static void
gan_report(const char *name, int epoch, int epochs, const double *values)
{
	ereport(NOTICE,
			(errmsg("aigc_train \"%s\": epoch %d/%d, generator loss %.4f, discriminator loss %.4f (gradient penalty %.4f, cross-entropy %.4f)",
					name, epoch, epochs, values[0], values[1], values[2], values[3])));
}

static void
train_gan(const char *name, AigcGan *gan, const float *x, int64 nrows,
		  const AigcTrainOptions *opts, AigcRng *rng, TrainHistory *hist)
{
	static const char *const names[] = {
		"generator", "discriminator", "gradient_penalty", "cross_entropy"
	};
	GanRun		run;
	EpochRunner runner = {gan_epoch, gan_report, &run};

	aigc_gan_trainer_init(&run.trainer, gan, x, nrows, opts->batch_size,
						  opts->log_frequency, opts->gradient_penalty, opts->dis_steps,
						  opts->generator_average,
						  opts->learning_rate, opts->weight_decay,
						  opts->dis_learning_rate, opts->dis_weight_decay);
	run.steps_per_epoch = Max(nrows / opts->batch_size, 1);
	run.step_flops = aigc_gan_step_flops(gan, opts->batch_size, opts->dis_steps);
	run.rng = rng;
	history_init(hist, opts->epochs, lengthof(names), names);
	run_epochs(name, opts, &runner, hist);
	aigc_gan_trainer_finish(&run.trainer, rng);
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
		/* qualified, so that aigc_create_type cannot be rebound by a search_path */
		escape_json(&buf, format_type_extended(col->typid, col->typmod,
											   FORMAT_TYPE_TYPEMOD_GIVEN |
											   FORMAT_TYPE_FORCE_QUALIFY));
		if (col->kind == AIGC_CONTINUOUS)
		{
			appendStringInfo(&buf, ", \"encoding\": \"mode-specific normalisation\", \"modes\": %d",
							 col->nmodes);
			/* a bigint's range exactly, beyond the 2^53 doubles hold */
			if (col->has_exact_range)
				appendStringInfo(&buf, ", \"min\": " INT64_FORMAT ", \"max\": " INT64_FORMAT,
								 col->exact_min, col->exact_max);
			else
				appendStringInfo(&buf, ", \"min\": %.17g, \"max\": %.17g",
								 col->min, col->max);
		}
		else
			appendStringInfo(&buf, ", \"encoding\": \"one-hot\", \"categories\": %d",
							 col->ncats);
		appendStringInfo(&buf, ", \"null_fraction\": %.6g}", col->null_frac);
	}
	appendStringInfoChar(&buf, ']');
	return text_to_jsonb(buf.data);
}

/*
 * Keep a uniform random subset of the rows read, as many as can be encoded
 * within budget bytes: the encoded rows, a permutation of them, and the
 * GAN's per-category row lists take 4 bytes per encoded value and 8 per row
 * and categorical column.  Selection sampling (Knuth's algorithm S) keeps
 * each row with probability (rows still wanted) / (rows left), in place.
 */
static void
fit_rows(AigcTrainingData *td, const AigcTransformer *tf, int64 budget,
		 AigcRng *rng)
{
	int64		per_row = (int64) sizeof(float) * tf->dim + sizeof(int64);
	int64		keep;
	int64		kept = 0;

	for (int c = 0; c < tf->ncols; c++)
		if (tf->cols[c].kind == AIGC_CATEGORICAL)
			per_row += sizeof(int64);
	if (budget < per_row)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the network leaves no room in aigc.train_memory_limit for the training rows"),
				 errdetail("An encoded row takes " INT64_FORMAT " bytes; " INT64_FORMAT " bytes are left.",
						   per_row, Max(budget, 0)),
				 errhint("Raise aigc.train_memory_limit or make the network smaller.")));
	keep = budget / per_row;
	if (td->nrows <= keep)
		return;
	for (int64 r = 0; r < td->nrows && kept < keep; r++)
	{
		if (aigc_rng_below(rng, (uint64) (td->nrows - r)) >= (uint64) (keep - kept))
			continue;
		for (int c = 0; c < td->ncols; c++)
		{
			td->data[c].value[kept] = td->data[c].value[r];
			td->data[c].isnull[kept] = td->data[c].isnull[r];
		}
		kept++;
	}
	td->nrows = keep;
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
	int64		limit;
	int64		budget;
	double		network;
	int64		scanned;
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
	/* a model name may become part of an SQL identifier, as a type's is */
	if (strlen(name) > NAMEDATALEN - 1)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("model name is too long"),
				 errdetail("A model name may have at most %d bytes; this one has %zu.",
						   NAMEDATALEN - 1, strlen(name))));
	kind = aigc_kind_from_name(text_to_cstring(PG_GETARG_TEXT_PP(2)));

	/* privilege and the name's lock before the scan, not after the work */
	aigc_store_claim(name);

	run_cxt = AllocSetContextCreate(caller, "aigc_train", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(run_cxt);
	INSTR_TIME_SET_CURRENT(start);

	aigc_parse_train_options(PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3), kind,
							 &opts);
	aigc_rng_seed(&rng, opts.seed);

	/*
	 * The network must fit in aigc.train_memory_limit; the rows get what it
	 * leaves, half as read and half encoded.  The encoded width is known
	 * only once the rows are read, so the rows as read get half of what the
	 * smallest network of these options (rows of one value) leaves, and the
	 * encoded rows what the actual network and the rows read leave.
	 */
	limit = (int64) aigc_train_memory_limit * 1024;
	budget = (limit - (int64) aigc_check_network_size(&opts, kind, 1, 0, 0)) / 2;
	if (from_query)
		scanned = aigc_read_query_sample(text_to_cstring(PG_GETARG_TEXT_PP(1)),
										 opts.exclude, opts.max_categories, 0,
										 budget, &rng, &td);
	else
		scanned = aigc_read_relation_sample(PG_GETARG_OID(1), opts.exclude,
											opts.max_categories, 0, budget,
											&rng, &td);
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
	network = aigc_check_network_size(&opts, kind, model->tf.dim,
									  kind == AIGC_KIND_GAN ?
									  aigc_gan_cond_dim(model->tf.spans, model->tf.nspans) : 0,
									  td.nrows);
	fit_rows(&td, &model->tf,
			 limit - (int64) network - td.nrows * aigc_row_bytes(td.ncols), &rng);
	if (td.nrows < scanned)
		ereport(NOTICE,
				(errmsg("training model \"%s\" on a uniform sample of " INT64_FORMAT " of the " INT64_FORMAT " rows",
						name, td.nrows, scanned),
				 errdetail("The rows would not fit in what the network leaves of aigc.train_memory_limit (%d kB).",
						   aigc_train_memory_limit),
				 errhint("Raise aigc.train_memory_limit to train on more rows.")));

	encoded = MemoryContextAllocHuge(run_cxt, sizeof(float) * (Size) td.nrows * model->tf.dim);
	for (int64 first = 0; first < td.nrows; first += 10000)
	{
		CHECK_FOR_INTERRUPTS();
		aigc_transformer_encode(&model->tf, td.data, first,
								(int) Min((int64) 10000, td.nrows - first),
								encoded + (Size) first * model->tf.dim, &rng);
	}

	float_mode = flush_denormals();
	PG_TRY();
	{
		if (kind == AIGC_KIND_GAN)
		{
			AigcGanConfig cfg;

			aigc_gan_config_from_options(&opts, model->tf.dim, 0, &cfg);
			aigc_gan_init(&model->gan, &cfg, model->tf.spans, model->tf.nspans, &rng);
			train_gan(name, &model->gan, encoded, td.nrows, &opts, &rng, &hist);
		}
		else
		{
			AigcVaeConfig cfg;

			aigc_vae_config_from_options(&opts, model->tf.dim, &cfg);
			aigc_vae_init(&model->vae, &cfg, model->tf.spans, model->tf.nspans, &rng);
			train_vae(name, &model->vae, encoded, td.nrows, model->tf.dim, &opts,
					  &rng, &hist);
		}
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
	entry.hyperparams = aigc_train_options_jsonb(&opts, kind);
	initStringInfo(&json);
	appendStringInfoChar(&json, '{');
	for (int i = 0; i < hist.nseries; i++)
	{
		if (i > 0)
			appendStringInfoString(&json, ", ");
		append_series(&json, hist.names[i], hist.series[i], hist.epochs);
	}
	appendStringInfoChar(&json, '}');
	entry.loss = text_to_jsonb(json.data);
	entry.train_rows = td.nrows;
	entry.train_seconds = seconds_since(start);
	resetStringInfo(&json);
	appendStringInfo(&json, "{\"data_dim\": %d, \"network_bytes\": %.0f, \"rows_scanned\": " INT64_FORMAT ", "
					 "\"steps\": " INT64_FORMAT ", \"train_loop_seconds\": %.6g, \"gemm_flops\": %.6g, "
					 "\"gemm_gflops_per_second\": %.6g, \"rows_epochs_per_second\": %.6g",
					 model->tf.dim, network, scanned, hist.steps, hist.loop_seconds, hist.gemm_flops,
					 hist.gemm_flops / Max(hist.loop_seconds, 1e-9) / 1e9,
					 (double) td.nrows * opts.epochs / Max(hist.loop_seconds, 1e-9));
	if (opts.calibrate)
		appendStringInfo(&json, ", \"share_gap_before_calibration\": %.6g, "
						 "\"share_gap_after_calibration\": %.6g",
						 hist.gap_before, hist.gap_after);
	appendStringInfoChar(&json, '}');
	entry.stats = text_to_jsonb(json.data);
	entry.weights = aigc_model_serialize(model);
	aigc_model_check_loadable(entry.weights, name);
	version = aigc_store_insert(&entry);

	MemoryContextSwitchTo(caller);
	values[0] = CStringGetTextDatum(name);
	values[1] = Int32GetDatum(version);
	values[2] = CStringGetTextDatum(entry.kind);
	values[3] = Int64GetDatum(td.nrows);
	values[4] = Int32GetDatum(opts.epochs);
	/* the VAE's total loss; the GAN's generator loss */
	values[5] = Float8GetDatum(hist.series[0][opts.epochs - 1]);
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
