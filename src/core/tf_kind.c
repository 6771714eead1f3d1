/*
 * tf_kind.c
 *		The transformer's row of the kinds table (kind.h): the autoregressive
 *		model of tf_model.c over the token sequences of tf_tokens.c.
 *
 * The kinds' interface speaks in encoded rows (the column encoder's), so
 * the transformer reads its tokens off encoded rows (trained, like scored,
 * on each value's likeliest mode) and hands its samples back as activated
 * rows whose one-hots are certain: the column encoder decodes every kind
 * alike.
 */
#include "postgres.h"

#include <math.h>
#include <string.h>

#include "miscadmin.h"

#include "core/dp_sgd.h"
#include "core/kind.h"
#include "core/tf_model.h"
#include "core/tf_tokens.h"
#include "core/threads.h"

/* Adam's betas, as docs/transformer.md proposes */
#define TF_BETA1 0.9
#define TF_BETA2 0.999

typedef struct TfKindConfig
{
	int			n_layer;
	int			d_model;
	int			n_head;
	int			nbins;
	int			data_dim;
	double		temperature;	/* of sampling, in (0, 1] */
} TfKindConfig;

typedef struct TfNet
{
	TfKindConfig cfg;
	AigcTfTokens tk;			/* borrows the model's column encoder */
	AigcTfModel m;
} TfNet;

static void *
tf_config_from_options(const AigcTrainOptions *opts, int data_dim)
{
	TfKindConfig *cfg = palloc0(sizeof(TfKindConfig));

	cfg->n_layer = opts->n_layer;
	cfg->d_model = opts->d_model;
	cfg->n_head = opts->n_head;
	cfg->nbins = opts->offset_bins;
	cfg->data_dim = data_dim;
	cfg->temperature = opts->temperature;
	return cfg;
}

static void
model_config(const TfKindConfig *cfg, const AigcTfTokens *tk, AigcTfConfig *mc)
{
	mc->n_layer = cfg->n_layer;
	mc->d_model = cfg->d_model;
	mc->n_head = cfg->n_head;
	mc->seq_len = tk->T;
	mc->first = tk->first;
}

/*
 * Positions and tokens follow from the spans: a softmax span is a position
 * of as many tokens, a scalar (an offset) one of nbins
 */
static void
tf_train_size(const void *cfg, const AigcTrainOptions *opts,
			  const AigcSpan *spans, int nspans, int64 nrows,
			  AigcSizeEstimate *e)
{
	const TfKindConfig *c = cfg;
	AigcTfConfig mc;
	int		   *first = palloc(sizeof(int) * (Max(nspans, 1) + 1));
	int			T = 0;
	int			batch = (int) Max(Min((int64) opts->batch_size, nrows), 1);

	first[0] = 0;
	for (int s = 0; s < nspans; s++, T++)
		first[T + 1] = first[T] + (spans[s].is_scalar ? c->nbins : spans[s].width);
	if (T == 0)
		first[++T] = 1;
	mc.n_layer = c->n_layer;
	mc.d_model = c->d_model;
	mc.n_head = c->n_head;
	mc.seq_len = T;
	mc.first = first;
	aigc_tf_train_size(&mc, batch, e);
	if (opts->privacy.enabled)
		aigc_tf_dp_size(&mc, batch, e);
	else
		aigc_tf_replicas_size(&mc, batch, opts->threads, e);
	/* the stored copy of the parameters */
	aigc_size_add(e, (double) aigc_tf_param_count(&mc), sizeof(float));
	/* the training rows' tokens */
	aigc_size_add(e, (double) Max(nrows, 1) * T, sizeof(int32));
	pfree(first);
}

static void *
tf_init(const void *cfg, const AigcColumnEncoder *colenc, AigcRng *rng)
{
	TfNet	   *net = palloc0(sizeof(TfNet));
	AigcTfConfig mc;

	net->cfg = *(const TfKindConfig *) cfg;
	aigc_tf_tokens_init(&net->tk, colenc, net->cfg.nbins);
	model_config(&net->cfg, &net->tk, &mc);
	aigc_tf_init(&net->m, &mc, true, rng);
	return net;
}

/*
 * One thread's share of a data-parallel step (aigc.threads above 1, not
 * under DP-SGD), as the VAE's (vae_train.c): a replica sharing the weights
 * with gradients and activations of its own; thread 0's is the run's model
 * and activations
 */
typedef struct TfReplica
{
	AigcTfModel m;
	AigcTfActs	acts;
	int			n;				/* its rows of this step's batch */
	double		loss;			/* their mean -log p(row) */
} TfReplica;

/*
 * Shuffled mini-batches of the training rows' tokens, one Adam step each;
 * with option privacy, DP-SGD's Poisson-sampled batches instead
 */
typedef struct TfRun
{
	TfNet	   *net;
	int32	   *tokens;			/* (nrows, T) */
	int64		nrows;			/* rows with a token sequence */
	int64		untokenised;	/* rows without one (left out) */
	int64		dp_steps;		/* DP-SGD steps an epoch, as accounted */
	int64	   *perm;
	int			batch;
	int32	   *btokens;		/* (batch, T) */
	uint8	   *allowed;		/* (batch, V) */
	AigcTfActs	acts;
	AigcAdam	adam;
	AigcRng    *rng;
	const AigcPrivacyOptions *privacy;	/* NULL without DP-SGD */
	AigcTfDpBuffers dp;
	double		peak_lr;		/* the option learning_rate */
	int64		total_steps;	/* of the whole run */
	AigcPool   *pool;			/* NULL on one thread */
	TfReplica  *replicas;		/* (threads) */
} TfRun;

/*
 * The learning rate of step s of a run of total steps: a linear warm-up
 * over the first 2% of the steps (at most 100), then a cosine decay
 * towards 0 at the end, as GPT training schedules it (llm.c).  The decay
 * lets the last steps settle instead of leaving the parameters where the
 * last noisy steps of a constant rate put them; what the last layers of
 * the sequence learn (the later columns' conditionals, which carry the
 * marginals of the columns after the first) is most sensitive to that.
 */
static double
tf_learning_rate(double peak, int64 s, int64 total)
{
	int64		warmup = Min(Max(total / 50, 1), 100);

	if (s < warmup)
		return peak * (s + 1) / warmup;
	if (total <= warmup)
		return peak;
	return peak * 0.5 * (1.0 + cos(M_PI * (double) (s - warmup) / (total - warmup)));
}

static void *
tf_train_begin(void *netp, const float *x, int64 nrows,
			   const AigcTrainOptions *opts, AigcRng *rng)
{
	TfNet	   *net = netp;
	TfRun	   *run = palloc0(sizeof(TfRun));
	int			T = net->m.T;
	int			dim = net->cfg.data_dim;

	run->net = net;
	run->rng = rng;
	run->tokens = MemoryContextAllocHuge(CurrentMemoryContext,
										 sizeof(int32) * (Size) Max(nrows, 1) * T);
	run->perm = MemoryContextAllocHuge(CurrentMemoryContext,
									   sizeof(int64) * (Size) Max(nrows, 1));
	/*
	 * The column encoder was fitted on these rows, but under privacy a value
	 * only a few rows hold (a rare category, NULLs without a noisy NULL slot)
	 * has no token: such a row is left out, which changes no other row's
	 * term, so DP-SGD's per-row accounting still holds.
	 */
	for (int64 r = 0; r < nrows; r++)
	{
		int32	   *dst = run->tokens + (Size) run->nrows * T;

		if (aigc_tf_tokens_from_encoded(&net->tk, x + (Size) r * dim, dst))
		{
			run->perm[run->nrows] = run->nrows;
			run->nrows++;
		}
		else
			run->untokenised++;
	}
	/*
	 * which values a mode holds is the table's: not under DP-SGD (without
	 * it every row has its tokens, so x's rows and the tokens' align)
	 */
	if (!opts->privacy.enabled)
	{
		Assert(run->untokenised == 0);
		aigc_tf_tokens_find_atoms(&net->tk, x, run->tokens, nrows);
	}
	run->batch = (int) Max(Min((int64) opts->batch_size, nrows), 1);
	/* plan_privacy's steps: as many an epoch as batches cover all rows */
	run->dp_steps = (nrows + run->batch - 1) / run->batch;
	run->btokens = palloc(sizeof(int32) * (Size) run->batch * T);
	run->allowed = MemoryContextAllocHuge(CurrentMemoryContext,
										  (Size) run->batch * net->m.V);
	aigc_tf_acts_init(&run->acts, &net->m, run->batch);
	run->privacy = opts->privacy.enabled ? &opts->privacy : NULL;
	if (run->privacy)
		aigc_tf_dp_buffers_init(&run->dp, &net->m, run->batch);
	aigc_tf_adam_init(&net->m, &run->adam, opts->learning_rate, TF_BETA1,
					  TF_BETA2, opts->weight_decay);
	run->peak_lr = opts->learning_rate;
	run->total_steps = (int64) opts->epochs * ((nrows + run->batch - 1) / run->batch);
	/* DP-SGD's per-row clipping stays on one thread */
	if (opts->threads > 1 && !run->privacy)
	{
		int			slice = (run->batch + opts->threads - 1) / opts->threads;

		run->replicas = palloc(sizeof(TfReplica) * opts->threads);
		run->replicas[0].m = net->m;
		run->replicas[0].acts = run->acts;
		for (int t = 1; t < opts->threads; t++)
		{
			aigc_tf_replica(&net->m, &run->replicas[t].m);
			aigc_tf_acts_init(&run->replicas[t].acts, &net->m, slice);
		}
		run->pool = aigc_pool_create(opts->threads);
		/* train.c restores OpenBLAS's count when the run ends */
		aigc_blas_set_threads(1);
	}
	return run;
}

typedef struct TfStep
{
	TfRun	   *run;
	int			n;				/* rows of run->btokens */
} TfStep;

/* Thread t's slice of the batch: forward and backward into its replica */
static void
tf_replica_step(void *arg, int t, int nthreads)
{
	TfStep	   *step = arg;
	TfRun	   *run = step->run;
	TfReplica  *rep = &run->replicas[t];
	int			T = rep->m.T;
	int64		first,
				n;

	aigc_split(step->n, t, nthreads, &first, &n);
	rep->n = (int) n;
	rep->loss = 0.0;
	if (n == 0)
		return;
	rep->loss = aigc_tf_forward(&rep->m, &rep->acts, run->btokens + first * T,
								run->allowed + first * rep->m.V, (int) n);
	aigc_tf_backward(&rep->m, &rep->acts, run->btokens + first * T, (int) n);
}

/*
 * Forward and backward of the batch's n rows split across the pool; the
 * gradient is the replicas' (each the mean over its slice) weighted by
 * their share of the batch, summed in thread order into the run's, so a
 * seed gives the same weights at the same thread count.  Returns the sum
 * of the rows' -log p(row).
 */
static double
tf_parallel_step(TfRun *run, int n)
{
	TfStep		step = {run, n};
	AigcTfModel *m = &run->net->m;
	int			nthreads = aigc_pool_size(run->pool);
	double		sum = 0.0;

	aigc_pool_run(run->pool, tf_replica_step, &step);
	/* thread 0 always has rows: aigc_split gives it the first extra one */
	{
		float		share0 = (float) run->replicas[0].n / (float) n;

		for (int64 j = 0; j < m->nparams; j++)
			m->grads[j] *= share0;
	}
	for (int t = 1; t < nthreads; t++)
	{
		const TfReplica *rep = &run->replicas[t];
		float		share = (float) rep->n / (float) n;

		if (rep->n == 0)
			continue;
		for (int64 j = 0; j < m->nparams; j++)
			m->grads[j] += share * rep->m.grads[j];
	}
	for (int t = 0; t < nthreads; t++)
		sum += run->replicas[t].loss * run->replicas[t].n;
	return sum;
}

/*
 * One DP-SGD step, as the VAE's (vae_train.c): a Poisson sample of the rows,
 * each with probability sample_rate, in chunks of at most run->batch rows;
 * the sum of the rows' clipped gradients plus N(0, (noise_multiplier
 * max_grad_norm)^2) per parameter, divided by the expected batch size, goes
 * to Adam.  Adds the rows' -log p(row) and their count.
 */
static void
tf_dp_step(TfRun *run, double *sum, int64 *rows, AigcTrainWork *work)
{
	const AigcPrivacyOptions *p = run->privacy;
	AigcTfModel *m = &run->net->m;
	int			T = m->T;
	int64		r = dp_poisson_next(run->rng, -1, p->sample_rate);
	float		scale = (float) (1.0 / run->batch);

	memset(m->grads, 0, sizeof(float) * m->nparams);
	while (r < run->nrows)
	{
		int			n = 0;

		CHECK_FOR_INTERRUPTS();
		for (; r < run->nrows && n < run->batch; r = dp_poisson_next(run->rng, r, p->sample_rate))
			memcpy(run->btokens + (Size) n++ * T, run->tokens + (Size) r * T,
				   sizeof(int32) * T);
		aigc_tf_fill_mask(m, run->btokens, n, aigc_tf_tokens_mask,
						  &run->net->tk, run->allowed);
		*sum += aigc_tf_forward(m, &run->acts, run->btokens, run->allowed, n) * n;
		aigc_tf_dp_accumulate(m, &run->acts, &run->dp, run->btokens, n,
							  p->max_grad_norm);
		*rows += n;
		/* as without DP, the input- and weight-gradient products split */
		work->gemm_flops += 3.0 * aigc_tf_forward_flops(m) * n;
	}
	dp_add_noise(m->grads, m->nparams, p->noise_multiplier * p->max_grad_norm,
				 run->rng);
	for (int64 j = 0; j < m->nparams; j++)
		m->grads[j] *= scale;
	run->adam.lr = tf_learning_rate(run->peak_lr, run->adam.step,
									run->total_steps);
	aigc_adam_step(&run->adam);
	work->steps++;
}

static void
tf_train_epoch(void *state, double *losses, AigcTrainWork *work)
{
	TfRun	   *run = state;
	AigcTfModel *m = &run->net->m;
	int			T = m->T;
	double		sum = 0.0;
	double		step_flops;

	if (run->privacy)
	{
		int64		rows = 0;

		for (int64 b = 0; b < run->dp_steps; b++)
			tf_dp_step(run, &sum, &rows, work);
		losses[0] = rows > 0 ? sum / rows : 0.0;
		return;
	}

	/* Fisher-Yates: each epoch sees every row once, in a fresh order */
	for (int64 i = run->nrows - 1; i > 0; i--)
	{
		int64		j = (int64) (aigc_rng_uniform(run->rng) * (i + 1));
		int64		t;

		j = Min(j, i);
		t = run->perm[i];
		run->perm[i] = run->perm[j];
		run->perm[j] = t;
	}
	for (int64 first = 0; first < run->nrows; first += run->batch)
	{
		int			n = (int) Min((int64) run->batch, run->nrows - first);

		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < n; i++)
			memcpy(run->btokens + (Size) i * T,
				   run->tokens + (Size) run->perm[first + i] * T,
				   sizeof(int32) * T);
		/* the structural mask, as scoring applies it */
		aigc_tf_fill_mask(m, run->btokens, n, aigc_tf_tokens_mask,
						  &run->net->tk, run->allowed);
		if (run->pool != NULL)
			sum += tf_parallel_step(run, n);
		else
		{
			sum += aigc_tf_forward(m, &run->acts, run->btokens, run->allowed, n) * n;
			aigc_tf_backward(m, &run->acts, run->btokens, n);
		}
		run->adam.lr = tf_learning_rate(run->peak_lr, run->adam.step,
										run->total_steps);
		aigc_adam_step(&run->adam);
		/* a step is about three forwards */
		step_flops = 3.0 * aigc_tf_forward_flops(m) * n;
		work->gemm_flops += step_flops;
		work->steps++;
	}
	losses[0] = run->nrows > 0 ? sum / run->nrows : 0.0;
}

static void
tf_train_end(void *state, StringInfo stats)
{
	TfRun	   *run = state;

	appendStringInfo(stats, ", \"positions\": %d, \"tokens\": %d, \"parameters\": " INT64_FORMAT
					 ", \"rows_without_tokens\": " INT64_FORMAT,
					 run->net->m.T, run->net->m.V, run->net->m.nparams, run->untokenised);
}

static void
tf_describe_losses(StringInfo buf, const double *losses)
{
	appendStringInfo(buf, "mean -log p(row) %.4f nats", losses[0]);
}

typedef struct TfGen
{
	AigcTfActs	acts;
	int32	   *tokens;			/* (batch, T) */
	const AigcTfTokens *tk;		/* the net's */

	/*
	 * Conditions met by construction (tf_condition): the first nforced
	 * positions take the tokens of fixed[], and, when range_col >= 0, its
	 * two positions from range_pos on a (mode, bin) pair drawn from cum.
	 */
	int			nforced;
	int32	   *fixed;			/* (T) */
	int			range_col;
	int			range_pos;
	double	   *cum;			/* (modes and NULL) x nbins cumulative weights */
	double	   *alo;			/* per mode: the offsets that can meet the range */
	double	   *ahi;
	int			bad_pos;		/* where the last failed generate found no token */
} TfGen;

static void *
tf_generator_init(void *netp, int batch)
{
	TfNet	   *net = netp;
	TfGen	   *g = palloc0(sizeof(TfGen));

	aigc_tf_acts_init(&g->acts, &net->m, batch);
	g->tokens = palloc(sizeof(int32) * (Size) batch * net->m.T);
	g->tk = &net->tk;
	g->range_col = -1;
	return g;
}

/* out = softmax(scale * logits), cnt of them, in double */
static void
softmax_scaled(const float *logits, int cnt, double scale, double *out)
{
	double		mx = -HUGE_VAL;
	double		sum = 0.0;

	for (int k = 0; k < cnt; k++)
		mx = Max(mx, scale * logits[k]);
	for (int k = 0; k < cnt; k++)
		sum += out[k] = exp(scale * logits[k] - mx);
	for (int k = 0; k < cnt; k++)
		out[k] /= sum;
}

/*
 * The joint distribution of a range-conditioned column's (mode, bin) pair
 * after the fixed tokens of positions < its mode position p: p(mode) (at
 * the temperature) times p(bin | mode) times the share of the bin's
 * offsets (aigc_tf_tokens_offset_share) whose value decodes into the
 * range, into g->cum.  One forward of
 * one row per mode token gives both positions' logits: the prefix is the
 * same for every row, so the table is the same for every row.
 */
static void
range_table(TfNet *net, TfGen *g, int c, const AigcCondition *cond)
{
	const AigcColumn *col = &net->tk.enc->cols[c];
	AigcTfModel *m = &net->m;
	int			T = m->T;
	int			V = m->V;
	int			p = net->tk.col_pos[c];
	int			K = m->first[p + 1] - m->first[p];
	int			nb = net->tk.nbins;
	double		w = 2.0 / nb;
	double		inv_temp = 1.0 / net->cfg.temperature;
	double		lo = cond->min;
	double		hi = cond->max;
	double		slack;
	double		total = 0.0;
	double	   *pk;
	double	   *pb;
	int32	   *rows;
	AigcTfActs *acts = &g->acts;

	/*
	 * Every value that can come out in the range: decoding clamps to the
	 * training range, then rounds to the column's grid (and float4 to its
	 * precision).  A wider set only costs rejections.
	 */
	if (lo <= col->min)
		lo = -HUGE_VAL;
	if (hi >= col->max)
		hi = HUGE_VAL;
	slack = 0.5 * aigc_column_rounding_step(col) +
		1e-6 * Max(Max(fabs(cond->min), fabs(cond->max)), 1.0);
	lo -= slack;
	hi += slack;

	g->cum = palloc(sizeof(double) * (Size) K * nb);
	g->alo = palloc(sizeof(double) * K);
	g->ahi = palloc(sizeof(double) * K);
	pk = palloc(sizeof(double) * K);
	pb = palloc(sizeof(double) * nb);
	rows = palloc(sizeof(int32) * (Size) K * T);
	for (int k = 0; k < K; k++)
		for (int t = 0; t < T; t++)
			rows[(Size) k * T + t] = t < p ? g->fixed[t] :
				t == p ? m->first[p] + k : m->first[t];

	/* the generator's activations, in batches of its rows */
	for (int k = 0; k < K; k++)
	{
		int			i = k % acts->batch;

		if (i == 0)
			aigc_tf_forward(m, acts, rows + (Size) k * T, NULL,
							Min(acts->batch, K - k));
		if (k == 0)
			softmax_scaled(acts->logits + m->first[p], K, inv_temp, pk);

		/* the NULL token (k == nmodes) never meets a range */
		g->alo[k] = 1.0;
		g->ahi[k] = -1.0;
		if (k < col->nmodes && col->mode_std[k] > 0.0)
		{
			g->alo[k] = Max((lo - col->mode_mean[k]) / (4.0 * col->mode_std[k]), -1.0);
			g->ahi[k] = Min((hi - col->mode_mean[k]) / (4.0 * col->mode_std[k]), 1.0);
		}
		else if (k < col->nmodes && col->mode_mean[k] >= lo && col->mode_mean[k] <= hi)
		{
			g->alo[k] = -1.0;
			g->ahi[k] = 1.0;
		}
		softmax_scaled(acts->logits + (Size) i * V + m->first[p + 1], nb, inv_temp, pb);
		for (int b = 0; b < nb && k < col->nmodes; b++)
		{
			double		blo = -1.0 + b * w;

			total += pk[k] * pb[b] *
				aigc_tf_tokens_offset_share(&net->tk, p, k, blo, blo + w,
											g->alo[k], g->ahi[k]);
			g->cum[(Size) k * nb + b] = total;
		}
		for (int b = 0; b < nb && k == col->nmodes; b++)
			g->cum[(Size) k * nb + b] = total;
	}
	pfree(rows);
	pfree(pk);
	pfree(pb);
	if (!(total > 0.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no value of column \"%s\" the model can sample satisfies the condition",
						col->name),
				 errdetail("The model's modes of \"%s\" put no probability in the range.",
						   col->name)));
	g->range_col = c;
	g->range_pos = p;
}

/*
 * Conditions the sequence order lets sampling meet exactly: those on the
 * row's leading columns.  A category or NULL there fixes its tokens; the
 * first range (or single value) on a continuous column is drawn from the
 * table of range_table, given the fixed tokens before it, and ends the
 * run, as does the first column without a condition.  Given the leading
 * values, the model's distribution of the rest is untouched, so every
 * row's probability is the model's, renormalised over the conditions:
 * what rejection alone would keep.  Conditions further on are left to
 * rejection (masking them would draw the columns before them from their
 * marginal, not given the condition); so is a value that rounds out of the
 * range.
 */
static void
tf_condition(void *netp, void *gen, const AigcCondition *conds, int nconds)
{
	TfNet	   *net = netp;
	TfGen	   *g = gen;
	const AigcColumnEncoder *enc = net->tk.enc;

	g->fixed = palloc(sizeof(int32) * net->m.T);
	for (int c = 0; c < enc->ncols; c++)
	{
		const AigcColumn *col = &enc->cols[c];
		const AigcCondition *cond = NULL;
		int			p = net->tk.col_pos[c];

		for (int i = 0; i < nconds; i++)
			if (conds[i].column == c)
				cond = &conds[i];
		if (cond == NULL)
			break;
		if (col->kind == AIGC_CONTINUOUS && !cond->is_null)
		{
			range_table(net, g, c, cond);
			g->nforced = p + 2;
			break;
		}
		/* a category, or NULL (after a NULL mode, offset bin 0) */
		g->fixed[p] = net->m.first[p] + (!cond->is_null ? cond->category :
										 col->kind == AIGC_CONTINUOUS ? col->nmodes :
										 col->ncats);
		if (col->kind == AIGC_CONTINUOUS)
			g->fixed[p + 1] = net->m.first[p + 1];
		g->nforced = p + (col->kind == AIGC_CONTINUOUS ? 2 : 1);
	}
}

/* Positions before g->nforced: only the token already in the row */
static void
tf_forced_mask(void *arg, int64 row, int pos, const int32 *prefix,
			   uint8 *allowed)
{
	TfGen	   *g = arg;

	if (pos < g->nforced)
	{
		memset(allowed, 0, g->tk->first[pos + 1] - g->tk->first[pos]);
		allowed[prefix[pos] - g->tk->first[pos]] = 1;
	}
	else
		aigc_tf_tokens_mask((void *) g->tk, row, pos, prefix, allowed);
}

/*
 * The leading tokens tf_condition fixed or tabulated, into rows [0, n);
 * for a range, the (mode, bin) pair of each row from the table
 */
static void
force_tokens(TfNet *net, TfGen *g, int n, AigcRng *rng)
{
	int			T = net->m.T;
	int			nb = net->tk.nbins;

	for (int r = 0; r < n; r++)
	{
		int32	   *row = g->tokens + (Size) r * T;

		memcpy(row, g->fixed, sizeof(int32) * (g->range_col >= 0 ? g->range_pos : g->nforced));
		if (g->range_col >= 0)
		{
			int			p = g->range_pos;
			int			cells = (net->m.first[p + 1] - net->m.first[p]) * nb;
			double		u = aigc_rng_uniform(rng) * g->cum[cells - 1];
			int			lo = 0,
						hi = cells - 1;

			/* the first cell whose cumulative weight exceeds u */
			while (lo < hi)
			{
				int			mid = (lo + hi) / 2;

				if (g->cum[mid] > u)
					hi = mid;
				else
					lo = mid + 1;
			}
			row[p] = net->m.first[p] + lo / nb;
			row[p + 1] = net->m.first[p + 1] + lo % nb;
		}
	}
}

/*
 * A range-conditioned column's offsets, redrawn within the part of their
 * bin that meets the range (rows [0, n) of act), as activation draws them
 * within the bin
 */
static void
range_offsets(TfNet *net, TfGen *g, int n, AigcRng *rng, float *act)
{
	const AigcColumn *col = &net->tk.enc->cols[g->range_col];
	int			p = g->range_pos;
	double		w = 2.0 / net->tk.nbins;

	for (int r = 0; r < n; r++)
	{
		const int32 *row = g->tokens + (Size) r * net->m.T;
		int			k = row[p] - net->m.first[p];
		double		blo = -1.0 + (row[p + 1] - net->m.first[p + 1]) * w;

		act[(Size) col->offset * n + r] =
			(float) aigc_tf_tokens_offset(&net->tk, p, k, Max(blo, g->alo[k]),
										  Min(blo + w, g->ahi[k]), rng);
	}
}

/*
 * Rows from p(row) at the model's temperature (1 unless trained with a
 * lower one), under the structural mask and the leading conditions of
 * tf_condition (cond_col is always -1 for this kind).
 */
static bool
tf_generate(void *netp, void *gen, int n, int cond_col, int cond_slot,
			AigcRng *rng, float *act)
{
	TfNet	   *net = netp;
	TfGen	   *g = gen;

	if (g->nforced > 0)
		force_tokens(net, g, n, rng);
	if (!aigc_tf_sample(&net->m, &g->acts, n, net->cfg.temperature,
						tf_forced_mask, g, rng, g->tokens, &g->bad_pos))
		return false;
	aigc_tf_tokens_activate(&net->tk, g->tokens, n, act, rng);
	if (g->range_col >= 0)
		range_offsets(net, g, n, rng, act);
	return true;
}

/* The structural mask and the fixed tokens left a position no token */
static void
tf_generate_error(void *netp, void *gen)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("no token is possible at position %d of a sampled row",
					((TfGen *) gen)->bad_pos),
			 errdetail("The conditions exclude every value the model knows.")));
}

typedef struct TfScorer
{
	AigcTfActs	acts;
	int32	   *tokens;			/* (rows, T) */
	uint8	   *allowed;		/* (rows, V) */
	double	   *row_nll;		/* rows */
	double	   *pos_nll;		/* (rows, T) */
	float	   *code;			/* C: the first row's mean final hidden state */
} TfScorer;

static void *
tf_scorer_init(void *netp, int rows, int ncols)
{
	TfNet	   *net = netp;
	TfScorer   *s = palloc0(sizeof(TfScorer));

	aigc_tf_acts_init(&s->acts, &net->m, rows);
	s->tokens = palloc(sizeof(int32) * (Size) rows * net->m.T);
	s->allowed = MemoryContextAllocHuge(CurrentMemoryContext,
										(Size) rows * net->m.V);
	s->row_nll = palloc(sizeof(double) * rows);
	s->pos_nll = palloc(sizeof(double) * (Size) rows * net->m.T);
	s->code = palloc0(sizeof(float) * net->m.C);
	return s;
}

/*
 * scores: -log p(row) in nats, exactly (for the row's offset bins).  A
 * column's term is -log p(its tokens | the earlier columns'), so the terms
 * add up to the score; the last term is 0.  A value the model has no token
 * for (a category or a NULL training never saw) has probability 0: the row
 * scores +Infinity, its term is +Infinity at each such column and 0
 * elsewhere, and the forward (and encode's code) reads the value as its
 * column's first token.
 */
static void
tf_score(void *netp, void *scorer, const float *x, int n, int ncols,
		 double *scores, double *terms)
{
	TfNet	   *net = netp;
	TfScorer   *s = scorer;
	AigcTfModel *m = &net->m;
	int			T = m->T;
	int			C = m->C;
	bool	   *complete = palloc(sizeof(bool) * Max(n, 1));

	for (int i = 0; i < n; i++)
	{
		int32	   *row = s->tokens + (Size) i * T;
		double	   *term = terms ? terms + (Size) i * (ncols + 1) : NULL;

		complete[i] = aigc_tf_tokens_from_encoded(&net->tk,
												  x + (Size) i * net->cfg.data_dim,
												  row);
		for (int c = 0; c <= ncols && term != NULL; c++)
			term[c] = c < ncols && row[net->tk.col_pos[c]] < 0 ? INFINITY : 0.0;
		for (int t = 0; t < T; t++)
			if (row[t] < 0)
				row[t] = m->first[t];
	}
	aigc_tf_fill_mask(m, s->tokens, n, aigc_tf_tokens_mask, &net->tk, s->allowed);
	aigc_tf_row_nll(m, &s->acts, s->tokens, s->allowed, n, s->row_nll, s->pos_nll);

	for (int i = 0; i < n; i++)
	{
		scores[i] = complete[i] ? s->row_nll[i] : INFINITY;
		if (terms == NULL || !complete[i])
			continue;
		for (int t = 0; t < T; t++)
			terms[(Size) i * (ncols + 1) + net->tk.pos_col[t]] +=
				s->pos_nll[(Size) i * T + t];
	}

	/* encode: the first row's final hidden states, averaged over positions */
	if (n > 0 && n <= s->acts.batch)
	{
		memset(s->code, 0, sizeof(float) * C);
		for (int t = 0; t < T; t++)
			for (int j = 0; j < C; j++)
				s->code[j] += s->acts.lnf[(Size) t * C + j] / T;
	}
	pfree(complete);
}

/* An autoregressive model reconstructs nothing: no expected values */
static bool
tf_explain(void *net, void *scorer, float *act)
{
	return false;
}

static const float *
tf_encode(void *netp, void *scorer, int *len)
{
	*len = ((TfNet *) netp)->m.C;
	return ((TfScorer *) scorer)->code;
}

/*
 * The configuration, the sequence's shape (checked on reading), the
 * parameters, then (from format version 5) the sampling temperature
 */
static void
tf_write(const void *netp, StringInfo buf)
{
	const TfNet *net = netp;
	uint32		natoms;

	aigc_write_u32(buf, net->cfg.n_layer);
	aigc_write_u32(buf, net->cfg.d_model);
	aigc_write_u32(buf, net->cfg.n_head);
	aigc_write_u32(buf, net->cfg.nbins);
	aigc_write_u32(buf, net->m.T);
	aigc_write_u32(buf, net->m.V);
	aigc_write_u64(buf, net->m.nparams);
	aigc_write_floats(buf, net->m.params, net->m.nparams);
	aigc_write_f64(buf, net->cfg.temperature);
	natoms = 0;
	for (int t = 0; t < net->m.V; t++)
		natoms += net->tk.atom[t];
	aigc_write_u32(buf, natoms);
	for (int t = 0; t < net->m.V; t++)
		if (net->tk.atom[t])
			aigc_write_u32(buf, t);
}

static void *
tf_read(AigcReader *r, const AigcColumnEncoder *colenc, uint32 version)
{
	TfNet	   *net = palloc0(sizeof(TfNet));
	AigcTfConfig mc;
	AigcRng		rng;
	uint32		T,
				V,
				natoms;
	uint64		nparams;

	net->cfg.n_layer = aigc_read_count(r, TF_MAX_LAYERS, "transformer layers");
	net->cfg.d_model = aigc_read_count(r, TF_MAX_WIDTH, "transformer width");
	net->cfg.n_head = aigc_read_count(r, TF_MAX_WIDTH, "transformer heads");
	net->cfg.nbins = aigc_read_count(r, 65536, "transformer offset bins");
	if (net->cfg.n_layer < 1 || net->cfg.n_head < 1 || net->cfg.d_model < 1 ||
		net->cfg.d_model % net->cfg.n_head != 0 || net->cfg.nbins < 2)
		aigc_corrupt("The transformer's configuration is invalid.");
	net->cfg.data_dim = colenc->dim;
	aigc_tf_tokens_init(&net->tk, colenc, net->cfg.nbins);
	T = aigc_read_u32(r);
	V = aigc_read_u32(r);
	if (T != (uint32) net->tk.T || V != (uint32) net->tk.first[net->tk.T])
		aigc_corrupt("The transformer's tokens do not match the column encoding.");
	nparams = aigc_read_u64(r);
	model_config(&net->cfg, &net->tk, &mc);
	/* checked before the block is allocated for them */
	if (nparams != (uint64) aigc_tf_param_count(&mc))
		aigc_corrupt("The transformer's parameter count does not match its configuration.");
	if (nparams > (uint64) (r->len - r->pos) / sizeof(float))
		aigc_corrupt("The transformer's parameters are truncated.");
	/* initialised, then overwritten by the stored parameters */
	aigc_rng_seed(&rng, 0);
	aigc_tf_init(&net->m, &mc, false, &rng);
	aigc_read_floats(r, net->m.params, net->m.nparams);
	/* version 4 sampled at temperature 1 only */
	net->cfg.temperature = 1.0;
	if (version >= 5)
	{
		net->cfg.temperature = aigc_read_f64(r);
		if (!(net->cfg.temperature > 0.0 && net->cfg.temperature <= 1.0))
			aigc_corrupt("The transformer's sampling temperature is out of range.");
		natoms = aigc_read_count(r, net->tk.first[net->tk.T], "transformer point-mass modes");
		for (uint32 i = 0; i < natoms; i++)
		{
			uint32		t = aigc_read_u32(r);
			int			p;
			const AigcColumn *col;

			if (t >= (uint32) net->tk.first[net->tk.T])
				aigc_corrupt("A transformer point-mass mode is not a token.");
			for (p = 0; (uint32) net->tk.first[p + 1] <= t; p++)
				;
			col = &colenc->cols[net->tk.pos_col[p]];
			if (col->kind != AIGC_CONTINUOUS || net->tk.col_pos[net->tk.pos_col[p]] != p ||
				t - net->tk.first[p] >= (uint32) col->nmodes)
				aigc_corrupt("A transformer point-mass mode is not a mode token.");
			net->tk.atom[t] = 1;
		}
	}
	return net;
}

static int
tf_data_dim(const void *net)
{
	return ((const TfNet *) net)->cfg.data_dim;
}

/*
 * The four projections of each layer multiply batch x T positions; the
 * per-position head is many small products and left out.  Layers beyond
 * what the benchmark holds are left out too.
 */
static int
tf_linears(void *netp, int batch, AigcLinear **layers, int *rows,
		   bool *need_dx)
{
	TfNet	   *net = netp;
	int			nl = 0;

	/* positions are counted in int, as sgemm counts rows */
	if ((int64) batch * net->m.T > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a transformer batch of %d rows of %d tokens is out of range",
						batch, net->m.T)));
	for (int l = 0; l < net->m.L && nl + 4 <= AIGC_KIND_MAX_LINEARS; l++)
	{
		AigcLinear *ls[4] = {&net->m.qkv[l], &net->m.attproj[l],
		&net->m.fc[l], &net->m.fcproj[l]};

		for (int k = 0; k < 4; k++)
		{
			layers[nl] = ls[k];
			rows[nl] = batch * net->m.T;
			need_dx[nl] = true;
			nl++;
		}
	}
	return nl;
}

static int
tf_batch_multiple(const void *net)
{
	return 1;
}

static const char *const tf_loss_names[] = {"nll"};

const AigcKindOps aigc_transformer_ops = {
	.name = "transformer",
	.id = AIGC_KIND_TRANSFORMER,
	.format_version = 4,
	.write_version = 5,
	.config_from_options = tf_config_from_options,
	.init = tf_init,
	.likeliest_modes = true,
	.train_size = tf_train_size,
	.nlosses = lengthof(tf_loss_names),
	.loss_names = tf_loss_names,
	.train_begin = tf_train_begin,
	.train_epoch = tf_train_epoch,
	.train_end = tf_train_end,
	.describe_losses = tf_describe_losses,
	.generator_init = tf_generator_init,
	.generate = tf_generate,
	.generate_error = tf_generate_error,
	.condition = tf_condition,
	.scorer_init = tf_scorer_init,
	.score = tf_score,
	.explain = tf_explain,
	.encode = tf_encode,
	.column_term = "-log p(value | earlier columns)",
	.last_term = "none (always 0)",
	.write = tf_write,
	.read = tf_read,
	.data_dim = tf_data_dim,
	.linears = tf_linears,
	.batch_multiple = tf_batch_multiple,
	.batch_multiple_name = NULL,
};
