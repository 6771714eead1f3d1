/*
 * train_options.h
 *		The effective training options of a run, as the kinds read them.
 *		train/options.c fills them from jsonb through its table of options
 *		(defaults per kind, ranges, which kinds accept each).
 */
#ifndef AIGC_TRAIN_OPTIONS_H
#define AIGC_TRAIN_OPTIONS_H

#include "postgres.h"

#include "core/layers.h"

/*
 * Option privacy: DP-SGD (docs/privacy.md).  The parser fills what the user
 * gives; train/train.c resolves the rest once the rows are counted.
 */
typedef struct AigcPrivacyOptions
{
	bool		enabled;
	double		epsilon;		/* the target, 0 when noise_multiplier is given */
	double		noise_multiplier;	/* given, or found for epsilon */
	double		delta;
	double		max_grad_norm;
	double		sample_rate;	/* expected batch size / rows */
	int64		steps;
} AigcPrivacyOptions;

/*
 * Options bounds and categories: public metadata of a column, as given
 * (values as JSON scalars' text; train/public_stats.c converts them with
 * the column's type once the rows are read)
 */
typedef struct AigcPublicBound
{
	char	   *column;
	char	   *min;
	char	   *max;
	bool		min_quoted;		/* a JSON string, else a number */
	bool		max_quoted;
} AigcPublicBound;

typedef struct AigcPublicCategories
{
	char	   *column;
	struct List *labels;		/* char * */
} AigcPublicCategories;

typedef struct AigcTrainOptions
{
	/* every kind */
	int			epochs;
	int			batch_size;
	uint64		seed;
	double		learning_rate;
	double		weight_decay;
	int			max_modes;
	int			max_categories;
	int			progress_every; /* epochs between NOTICEs, 0 for none */
	double		max_seconds;	/* time budget from the call's start, 0 for none */
	struct List *exclude;		/* column names (char *) */
	struct List *bounds;		/* AigcPublicBound * */
	struct List *categories;	/* AigcPublicCategories * */
	AigcPrivacyOptions privacy;
	int			threads;		/* not an option: aigc.threads, set by train.c */
	/* kind vae */
	double		loss_factor;
	int			latent_dim;
	int			n_enc;
	int			enc_dims[AIGC_MAX_HIDDEN];
	int			n_dec;
	int			dec_dims[AIGC_MAX_HIDDEN];
	bool		calibrate;		/* match sampled category shares after training */
	/* kind gan */
	int			noise_dim;
	int			n_gen;
	int			gen_dims[AIGC_MAX_HIDDEN];
	int			n_dis;
	int			dis_dims[AIGC_MAX_HIDDEN];
	int			pac;
	double		dis_learning_rate;
	double		dis_weight_decay;
	int			dis_steps;
	double		gradient_penalty;
	double		gumbel_tau;
	bool		log_frequency;
	double		generator_average;
	/* kind transformer */
	int			n_layer;
	int			d_model;
	int			n_head;
	int			offset_bins;
	double		temperature;	/* of sampling; 1 is the model's own p(row) */
} AigcTrainOptions;

#endif
