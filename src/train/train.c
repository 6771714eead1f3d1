/*
 * train.c
 *		aigc_train(): read the training rows, fit the column encoder,
 *		encode the rows, train the kind's network (through its operations,
 *		core/kind.h: the training step itself lives beside the kind) and
 *		store the result as a new model version.
 *
 * A run owns one memory context, deleted at the end; on error the
 * transaction's cleanup releases it with its parent, and the store row is
 * never written because the INSERT happens last, in the same transaction.
 */
#include "postgres.h"

#include <math.h>
#include <string.h>
#include <sys/resource.h>
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

#include "core/dp_accountant.h"
#include "core/model.h"
#include "core/threads.h"
#include "store/model_cache.h"
#include "store/model_store.h"
#include "store/reader.h"
#include "train/options.h"
#include "train/public_stats.h"

PG_FUNCTION_INFO_V1(aigc_train_relation);
PG_FUNCTION_INFO_V1(aigc_train_query);

/*
 * Shares of a private run's budget that the column statistics get: of the
 * target epsilon (or, given a noise multiplier, STATS_SHARE / (1 -
 * STATS_SHARE) of what DP-SGD spends), and of delta for the thresholds that
 * keep categories seen in training (docs/privacy.md)
 */
#define STATS_SHARE			0.1
#define STATS_DELTA_SHARE	0.1

/* The private column statistics of a run, planned before the fit */
typedef struct StatsPlan
{
	int			mechanisms;		/* Gaussian mechanisms of sensitivity 1 */
	int			selections;		/* categorical columns thresholded */
	double		select_delta;	/* delta of each threshold */
	double		conversion_delta;	/* delta left for the RDP conversion */
	AigcStatsNoise noise;
} StatsPlan;

/* Per-epoch losses (one series per loss the kind names) and work of one run */
typedef struct TrainHistory
{
	int			epochs;			/* done: fewer than asked when max_seconds ran out */
	bool		out_of_time;
	int			nseries;
	const char *const *names;	/* (nseries) */
	double	   *series[AIGC_MAX_LOSSES];	/* (nseries, epochs) */
	double		loop_seconds;
	double		loop_cpu_seconds;	/* user and system, every thread of the backend */
	AigcTrainWork work;
	StringInfoData kind_stats;	/* the kind's own ", \"key\": value" pairs */
} TrainHistory;

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

static double
cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0.0;
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
		(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void
history_init(TrainHistory *hist, int epochs, const AigcKindOps *ops)
{
	Assert(ops->nlosses <= AIGC_MAX_LOSSES);
	hist->epochs = epochs;
	hist->nseries = ops->nlosses;
	hist->names = ops->loss_names;
	for (int i = 0; i < hist->nseries; i++)
		hist->series[i] = palloc0(sizeof(double) * epochs);
	hist->work.gemm_flops = 0.0;
	hist->work.steps = 0;
	initStringInfo(&hist->kind_stats);
}

/*
 * The kind's epochs, with the divergence check and the progress NOTICEs;
 * with option max_seconds it stops after the epoch that ends past the
 * budget, counted from call_start (the start of aigc_train).
 */
static void
run_epochs(const char *name, const AigcKindOps *ops, void *run,
		   const AigcTrainOptions *opts, instr_time call_start,
		   TrainHistory *hist)
{
	instr_time	start;
	StringInfoData progress;

	initStringInfo(&progress);
	INSTR_TIME_SET_CURRENT(start);
	hist->loop_cpu_seconds = cpu_seconds();
	hist->epochs = 0;
	hist->out_of_time = false;
	for (int epoch = 0; epoch < opts->epochs; epoch++)
	{
		double		losses[AIGC_MAX_LOSSES];

		ops->train_epoch(run, losses, &hist->work);
		for (int i = 0; i < hist->nseries; i++)
		{
			hist->series[i][epoch] = losses[i];
			if (!isfinite(losses[i]))
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("training of model \"%s\" diverged at epoch %d", name, epoch + 1),
						 errhint("Lower the training option \"learning_rate\".")));
		}
		if (opts->progress_every > 0 &&
			((epoch + 1) % opts->progress_every == 0 || epoch + 1 == opts->epochs))
		{
			resetStringInfo(&progress);
			ops->describe_losses(&progress, losses);
			ereport(NOTICE,
					(errmsg("aigc_train \"%s\": epoch %d/%d, %s",
							name, epoch + 1, opts->epochs, progress.data)));
		}
		hist->epochs = epoch + 1;
		if (opts->max_seconds > 0 && epoch + 1 < opts->epochs &&
			seconds_since(call_start) >= opts->max_seconds)
		{
			hist->out_of_time = true;
			break;
		}
	}
	hist->loop_seconds = seconds_since(start);
	hist->loop_cpu_seconds = cpu_seconds() - hist->loop_cpu_seconds;
}

/*
 * Build the kind's network for the encoded rows and train it, with
 * denormals flushed (they make CPU training several times slower; the
 * kinds' threads inherit the mode) and OpenBLAS on aigc.threads threads,
 * which a kind that splits batches across threads of its own sets to one.
 */
static void
train_network(const char *name, AigcModel *model, const float *encoded,
			  int64 nrows, const AigcTrainOptions *opts, AigcRng *rng,
			  instr_time call_start, TrainHistory *hist)
{
	const AigcKindOps *ops = model->ops;
	unsigned int float_mode = flush_denormals();
	int			blas_threads = aigc_blas_set_threads(opts->threads);

	PG_TRY();
	{
		void	   *cfg = ops->config_from_options(opts, model->colenc.dim);
		void	   *run;

		model->net = ops->init(cfg, &model->colenc, rng);
		run = ops->train_begin(model->net, encoded, nrows, opts, rng);
		history_init(hist, opts->epochs, ops);
		run_epochs(name, ops, run, opts, call_start, hist);
		ops->train_end(run, &hist->kind_stats);
	}
	PG_FINALLY();
	{
		restore_float_mode(float_mode);
		aigc_blas_set_threads(blas_threads);
	}
	PG_END_TRY();
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
columns_jsonb(const AigcColumnEncoder *colenc)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	for (int c = 0; c < colenc->ncols; c++)
	{
		const AigcColumn *col = &colenc->cols[c];

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
		appendStringInfo(&buf, ", \"null_fraction\": %.6g, \"source\": \"%s\"}", col->null_frac,
						 col->source == AIGC_STAT_DP ? "differentially private" :
						 col->source == AIGC_STAT_PUBLIC ? "public" : "data");
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
fit_rows(AigcTrainingData *td, const AigcColumnEncoder *colenc, int64 budget,
		 AigcRng *rng)
{
	int64		per_row = (int64) sizeof(float) * colenc->dim + sizeof(int64);
	int64		keep;
	int64		kept = 0;

	for (int c = 0; c < colenc->ncols; c++)
		if (colenc->cols[c].kind == AIGC_CATEGORICAL)
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

/*
 * The rows to learn from, at most budget bytes of them as read; returns the
 * number of rows scanned.
 */
static int64
read_rows(FunctionCallInfo fcinfo, bool from_query, const char *name,
		  AigcTrainOptions *opts, int64 budget, AigcRng *rng,
		  AigcTrainingData *td)
{
	int64		scanned;

	if (from_query)
		scanned = aigc_read_query_sample(text_to_cstring(PG_GETARG_TEXT_PP(1)),
										 opts->exclude, opts->max_categories, 0,
										 budget, rng, td);
	else
		scanned = aigc_read_relation_sample(PG_GETARG_OID(1), opts->exclude,
											opts->max_categories, 0, budget,
											rng, td);
	if (td->nrows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot train model \"%s\": %s has no rows", name,
						from_query ? "the query" : td->source)));
	/* what was excluded in the end, key columns included, is stored */
	opts->exclude = td->excluded;
	return scanned;
}

/*
 * A model of kind with the column encoder fitted to the rows read (with
 * noise, privately).  Its
 * network, now that the encoded width is known, must fit in limit bytes
 * (*network: its estimate); the rows are then cut down to what fits encoded
 * in what the network and the rows as read leave.
 */
static AigcModel *
fit_columns(const char *name, AigcModelKind kind, AigcTrainingData *td,
			const AigcTrainOptions *opts, int64 limit, int64 scanned,
			const AigcStatsNoise *noise, AigcRng *rng, double *network)
{
	AigcModel  *model = palloc0(sizeof(AigcModel));

	model->kind = kind;
	model->ops = aigc_kind_ops(kind);
	model->colenc.ncols = td->ncols;
	model->colenc.cols = td->cols;
	model->nexcluded = list_length(td->excluded);
	model->excluded = palloc(sizeof(char *) * (model->nexcluded + 1));
	for (int i = 0; i < model->nexcluded; i++)
		model->excluded[i] = list_nth(td->excluded, i);
	aigc_column_encoder_fit(&model->colenc, td->data, td->nrows, opts->max_modes,
							noise, rng);
	*network = aigc_check_network_size(opts, kind, model->colenc.dim, model->colenc.spans,
									   model->colenc.nspans, td->nrows);
	fit_rows(td, &model->colenc,
			 limit - (int64) *network - td->nrows * aigc_row_bytes(td->ncols), rng);
	if (td->nrows < scanned)
		ereport(NOTICE,
				(errmsg("training model \"%s\" on a uniform sample of " INT64_FORMAT " of the " INT64_FORMAT " rows",
						name, td->nrows, scanned),
				 errdetail("The rows would not fit in what the network leaves of aigc.train_memory_limit (%d kB).",
						   aigc_train_memory_limit),
				 errhint("Raise aigc.train_memory_limit to train on more rows.")));
	return model;
}

/*
 * (nrows, colenc.dim) encoded rows, in chunks so that a cancel is heard;
 * with likeliest_modes each continuous value takes its likeliest mode, as
 * scoring encodes it
 */
static float *
encode_rows(const AigcColumnEncoder *colenc, const AigcTrainingData *td,
			bool likeliest_modes, AigcRng *rng)
{
	float	   *encoded = MemoryContextAllocHuge(CurrentMemoryContext,
												 sizeof(float) * (Size) td->nrows * colenc->dim);
	double	   *value = palloc(sizeof(double) * Max(colenc->ncols, 1));
	bool	   *isnull = palloc(sizeof(bool) * Max(colenc->ncols, 1));

	for (int64 first = 0; first < td->nrows; first += 10000)
	{
		int			n = (int) Min((int64) 10000, td->nrows - first);

		CHECK_FOR_INTERRUPTS();
		if (!likeliest_modes)
		{
			aigc_column_encoder_encode(colenc, td->data, first, n,
									   encoded + (Size) first * colenc->dim, rng);
			continue;
		}
		for (int64 r = first; r < first + n; r++)
		{
			for (int c = 0; c < colenc->ncols; c++)
			{
				value[c] = td->data[c].value[r];
				isnull[c] = td->data[c].isnull[r];
			}
			aigc_column_encoder_encode_row(colenc, value, isnull,
										   encoded + (Size) r * colenc->dim);
		}
	}
	pfree(value);
	pfree(isnull);
	return encoded;
}

static Jsonb *
loss_jsonb(const TrainHistory *hist)
{
	StringInfoData json;

	initStringInfo(&json);
	appendStringInfoChar(&json, '{');
	for (int i = 0; i < hist->nseries; i++)
	{
		if (i > 0)
			appendStringInfoString(&json, ", ");
		append_series(&json, hist->names[i], hist->series[i], hist->epochs);
	}
	appendStringInfoChar(&json, '}');
	return text_to_jsonb(json.data);
}

static Jsonb *
stats_jsonb(const AigcModel *model, const TrainHistory *hist, int64 nrows,
			int64 scanned, double network)
{
	StringInfoData json;
	double		loop = Max(hist->loop_seconds, 1e-9);

	initStringInfo(&json);
	appendStringInfo(&json, "{\"data_dim\": %d, \"network_bytes\": %.0f, \"rows_scanned\": " INT64_FORMAT ", "
					 "\"steps\": " INT64_FORMAT ", \"train_loop_seconds\": %.6g, "
					 "\"train_loop_cpu_seconds\": %.6g, \"gemm_flops\": %.6g, "
					 "\"gemm_gflops_per_second\": %.6g, \"rows_epochs_per_second\": %.6g, "
					 "\"epochs_done\": %d, \"stop_reason\": \"%s\"%s}",
					 model->colenc.dim, network, scanned, hist->work.steps, hist->loop_seconds,
					 hist->loop_cpu_seconds, hist->work.gemm_flops, hist->work.gemm_flops / loop / 1e9,
					 (double) nrows * hist->epochs / loop, hist->epochs,
					 hist->out_of_time ? "max_seconds" : "epochs", hist->kind_stats.data);
	return text_to_jsonb(json.data);
}

/* The run's sample rate and steps: as many per epoch as batches cover nrows */
static void
plan_batches(const AigcTrainOptions *opts, int64 nrows, double *q, int64 *steps)
{
	int64		batch = Min((int64) opts->batch_size, nrows);

	*q = (double) batch / (double) nrows;
	*steps = (int64) opts->epochs * ((nrows + batch - 1) / batch);
}

/*
 * Option privacy once the rows are read, before the column encoder is
 * fitted: delta below 1 / rows, and the noise of the column statistics.
 * Each statistic not given as public metadata is a Gaussian mechanism of
 * sensitivity 1 (aigc_column_encoder_dp_mechanisms) with one noise
 * multiplier, all of them together spending STATS_SHARE of the target
 * epsilon; categories seen in training must pass a threshold that a
 * category of one row passes with probability select_delta.
 */
static void
plan_statistics(AigcTrainOptions *opts, const AigcTrainingData *td, StatsPlan *sp)
{
	AigcPrivacyOptions *p = &opts->privacy;
	double		orders[DP_N_DEFAULT_ORDERS];
	double		target;
	double	   *type_min = palloc(sizeof(double) * td->ncols);
	double	   *type_max = palloc(sizeof(double) * td->ncols);

	if (p->delta >= 1.0 / (double) td->nrows)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for training option \"privacy.delta\""),
				 errdetail("delta must be below 1 / rows: %g is not below 1 / " INT64_FORMAT ".",
						   p->delta, td->nrows),
				 errhint("A delta of 1 / rows or more allows releasing a row outright; take one well below it.")));
	memset(sp, 0, sizeof(*sp));
	for (int c = 0; c < td->ncols; c++)
	{
		const AigcColumn *col = &td->cols[c];

		sp->mechanisms += aigc_column_encoder_dp_mechanisms(col);
		if (col->kind == AIGC_CATEGORICAL && col->source != AIGC_STAT_PUBLIC)
			sp->selections++;
		aigc_type_range(col->typid, col->typmod, &type_min[c], &type_max[c]);
	}
	sp->select_delta = sp->selections > 0 ?
		STATS_DELTA_SHARE * p->delta / sp->selections : 0.0;
	sp->conversion_delta = p->delta - sp->select_delta * sp->selections;

	dp_default_orders(orders);
	if (p->epsilon > 0.0)
		target = STATS_SHARE * p->epsilon;
	else
	{
		/* DP-SGD's epsilon on the rows read (the fit may sample fewer) */
		double		q,
					best_order;
		int64		steps;

		plan_batches(opts, td->nrows, &q, &steps);
		target = STATS_SHARE / (1.0 - STATS_SHARE) *
			dp_epsilon(q, p->noise_multiplier, steps, sp->conversion_delta,
					   orders, DP_N_DEFAULT_ORDERS, &best_order);
		if (!isfinite(target))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("training option \"privacy.noise_multiplier\" (%g) is too small to bound epsilon",
							p->noise_multiplier),
					 errhint("Raise the noise multiplier, or lower epochs or batch_size.")));
	}
	/* m Gaussian mechanisms of noise sigma: the sampled Gaussian at q = 1, m steps */
	if (!dp_noise_multiplier(target, sp->conversion_delta, 1.0, sp->mechanisms,
							 orders, DP_N_DEFAULT_ORDERS, &sp->noise.sigma))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("training option \"privacy.epsilon\" (%g) is out of reach", p->epsilon),
				 errdetail("Even a noise multiplier of %g on each of the %d column statistics spends more than their share, %g%% of epsilon.",
						   DP_SIGMA_MAX, sp->mechanisms, 100 * STATS_SHARE),
				 errhint("Raise epsilon, or give the columns' bounds and categories as public metadata.")));
	sp->noise.cat_threshold = sp->selections > 0 ?
		1.0 + sp->noise.sigma * dp_normal_upper_quantile(sp->select_delta) : 0.0;
	sp->noise.type_min = type_min;
	sp->noise.type_max = type_max;
}

/* One charge of the record: a Gaussian mechanism of sensitivity 1 */
static void
append_charge(StringInfo json, const char *mechanism, const char *column,
			  double sigma, double q, int64 steps, double epsilon)
{
	appendStringInfo(json, "{\"mechanism\": \"%s\", ", mechanism);
	if (column != NULL)
	{
		appendStringInfoString(json, "\"column\": ");
		escape_json(json, column);
		appendStringInfoString(json, ", ");
	}
	appendStringInfo(json, "\"noise_multiplier\": %s, \"sample_rate\": %s, "
					 "\"steps\": " INT64_FORMAT ", \"epsilon\": %s",
					 aigc_shortest_decimal(sigma), aigc_shortest_decimal(q), steps,
					 aigc_shortest_decimal(epsilon));
}

/*
 * Option privacy once the column encoder is fitted and the rows counted:
 * the run's sample rate and steps, and either the smallest noise
 * multiplier that, composed with the column statistics, spends at most the
 * target epsilon, or the epsilon the given multiplier spends with them.
 * Returns the record for the privacy column, a charge per mechanism.
 */
static Jsonb *
plan_privacy(AigcTrainOptions *opts, int64 nrows, const AigcColumnEncoder *colenc,
			 const StatsPlan *sp)
{
	AigcPrivacyOptions *p = &opts->privacy;
	double		orders[DP_N_DEFAULT_ORDERS];
	double		base[DP_N_DEFAULT_ORDERS];
	double		rdp[DP_N_DEFAULT_ORDERS];
	double		delta = sp->conversion_delta;
	double		epsilon,
				best_order,
				ignored,
				stat_epsilon,
				sgd_epsilon;
	StringInfoData json;

	plan_batches(opts, nrows, &p->sample_rate, &p->steps);
	dp_default_orders(orders);
	/* the statistics: sp->mechanisms Gaussians of one noise multiplier */
	dp_rdp_sgm_orders(1.0, sp->noise.sigma, sp->mechanisms, orders,
					  DP_N_DEFAULT_ORDERS, base);
	if (p->epsilon > 0.0 &&
		!dp_noise_multiplier_composed(p->epsilon, delta, p->sample_rate, p->steps,
									  base, orders, DP_N_DEFAULT_ORDERS,
									  &p->noise_multiplier))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("training option \"privacy.epsilon\" (%g) is out of reach", p->epsilon),
				 errdetail("Even a noise multiplier of %g spends more over " INT64_FORMAT " steps at sample rate %g.",
						   DP_SIGMA_MAX, p->steps, p->sample_rate),
				 errhint("Raise epsilon, or lower epochs or batch_size.")));
	dp_rdp_sgm_orders(p->sample_rate, p->noise_multiplier, p->steps, orders,
					  DP_N_DEFAULT_ORDERS, rdp);
	for (int k = 0; k < DP_N_DEFAULT_ORDERS; k++)
		rdp[k] += base[k];
	epsilon = dp_epsilon_from_rdp(orders, rdp, DP_N_DEFAULT_ORDERS, delta, &best_order);
	if (!isfinite(epsilon))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("training option \"privacy.noise_multiplier\" (%g) is too small to bound epsilon",
						p->noise_multiplier),
				 errhint("Raise the noise multiplier, or lower epochs or batch_size.")));
	stat_epsilon = dp_epsilon(1.0, sp->noise.sigma, 1, delta, orders,
							  DP_N_DEFAULT_ORDERS, &ignored);
	sgd_epsilon = dp_epsilon(p->sample_rate, p->noise_multiplier, p->steps, delta,
							 orders, DP_N_DEFAULT_ORDERS, &ignored);

	/* shortest round-trip decimals: the accountant recomputes epsilon exactly */
	initStringInfo(&json);
	appendStringInfo(&json, "{\"epsilon\": %s, \"delta\": %s, \"conversion_delta\": %s, "
					 "\"noise_multiplier\": %s, ",
					 aigc_shortest_decimal(epsilon), aigc_shortest_decimal(p->delta),
					 aigc_shortest_decimal(delta),
					 aigc_shortest_decimal(p->noise_multiplier));
	appendStringInfo(&json, "\"max_grad_norm\": %s, \"sample_rate\": %s, "
					 "\"steps\": " INT64_FORMAT ", \"accountant\": \"rdp\", \"best_order\": %s, ",
					 aigc_shortest_decimal(p->max_grad_norm),
					 aigc_shortest_decimal(p->sample_rate), p->steps,
					 aigc_shortest_decimal(best_order));
	if (p->epsilon > 0.0)
		appendStringInfo(&json, "\"target_epsilon\": %s, ",
						 aigc_shortest_decimal(p->epsilon));
	appendStringInfo(&json, "\"statistics_share\": %s, \"charges\": [",
					 aigc_shortest_decimal(STATS_SHARE));
	for (int c = 0; c < colenc->ncols; c++)
	{
		const AigcColumn *col = &colenc->cols[c];

		if (col->kind == AIGC_CONTINUOUS && col->source == AIGC_STAT_DP)
		{
			append_charge(&json, "range", col->name, sp->noise.sigma, 1.0, 1, stat_epsilon);
			appendStringInfoString(&json, "}, ");
		}
		append_charge(&json, col->kind == AIGC_CONTINUOUS ? "histogram" :
					  col->source == AIGC_STAT_DP ? "categories" : "category counts",
					  col->name, sp->noise.sigma, 1.0, 1, stat_epsilon);
		if (col->kind == AIGC_CATEGORICAL && col->source == AIGC_STAT_DP)
			appendStringInfo(&json, ", \"threshold\": %s, \"delta\": %s",
							 aigc_shortest_decimal(sp->noise.cat_threshold),
							 aigc_shortest_decimal(sp->select_delta));
		appendStringInfoString(&json, "}, ");
	}
	append_charge(&json, "dp-sgd", NULL, p->noise_multiplier, p->sample_rate,
				  p->steps, sgd_epsilon);
	appendStringInfoString(&json, "}]}");
	return text_to_jsonb(json.data);
}

/* The trained model as a new version in the store; returns the version */
static int
store_version(AigcStoreEntry *entry, const char *name, bool from_query,
			  const AigcModel *model, const AigcTrainOptions *opts,
			  const AigcTrainingData *td, const TrainHistory *hist,
			  int64 scanned, double network, Jsonb *privacy, instr_time start)
{
	memset(entry, 0, sizeof(*entry));
	entry->name = name;
	entry->kind = model->ops->name;
	entry->source_kind = from_query ? "query" : "relation";
	entry->source = td->source;
	entry->columns = columns_jsonb(&model->colenc);
	entry->hyperparams = aigc_train_options_jsonb(opts, model->kind);
	entry->loss = loss_jsonb(hist);
	entry->train_rows = td->nrows;
	entry->train_seconds = seconds_since(start);
	entry->stats = stats_jsonb(model, hist, td->nrows, scanned, network);
	entry->weights = aigc_model_serialize(model);
	entry->privacy = privacy;
	/* a version that would not load must never become the one in use */
	aigc_model_check_loadable(entry->weights, name);
	return aigc_store_insert(entry);
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
	Jsonb	   *privacy = NULL;
	StatsPlan	stats;
	float	   *encoded;
	instr_time	start;
	int64		limit;
	int64		budget;
	double		network;
	int64		scanned;
	int			version;
	Datum		values[7];
	bool		nulls[7] = {false};

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
	budget = (limit - (int64) aigc_check_network_size(&opts, kind, 1, NULL, 0, 0)) / 2;
	scanned = read_rows(fcinfo, from_query, name, &opts, budget, &rng, &td);
	aigc_apply_public_stats(&opts, &td);
	if (opts.privacy.enabled)
		plan_statistics(&opts, &td, &stats);
	model = fit_columns(name, kind, &td, &opts, limit, scanned,
						opts.privacy.enabled ? &stats.noise : NULL, &rng, &network);
	if (opts.privacy.enabled)
		privacy = plan_privacy(&opts, td.nrows, &model->colenc, &stats);
	encoded = encode_rows(&model->colenc, &td, model->ops->likeliest_modes, &rng);
	train_network(name, model, encoded, td.nrows, &opts, &rng, start, &hist);
	version = store_version(&entry, name, from_query, model, &opts, &td, &hist,
							scanned, network, privacy, start);

	MemoryContextSwitchTo(caller);
	values[0] = CStringGetTextDatum(name);
	values[1] = Int32GetDatum(version);
	values[2] = CStringGetTextDatum(entry.kind);
	values[3] = Int64GetDatum(td.nrows);
	values[4] = Int32GetDatum(hist.epochs);
	/* the first loss series: the VAE's total loss, the GAN's generator loss */
	values[5] = Float8GetDatum(hist.series[0][hist.epochs - 1]);
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
