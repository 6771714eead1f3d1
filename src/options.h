/*
 * options.h
 *		Training options: parsed from jsonb, validated, and written back as
 *		the hyperparameters stored with the model.
 */
#ifndef AIGC_OPTIONS_H
#define AIGC_OPTIONS_H

#include "postgres.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "model.h"

typedef struct AigcTrainOptions
{
	int			epochs;
	int			batch_size;
	uint64		seed;
	double		learning_rate;
	double		weight_decay;
	double		loss_factor;
	int			latent_dim;
	int			n_enc;
	int			enc_dims[AIGC_MAX_HIDDEN];
	int			n_dec;
	int			dec_dims[AIGC_MAX_HIDDEN];
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
	/* both */
	int			max_modes;
	int			max_categories;
	int			progress_every;	/* epochs between NOTICEs, 0 for none */
	bool		calibrate;		/* match sampled category shares after training */
	List	   *exclude;		/* column names (char *) */
} AigcTrainOptions;

/* Options of the other kind are errors, so are unknown ones */
/* aigc.train_memory_limit, in kB: what a training run's network and rows may take */
extern int	aigc_train_memory_limit;

/* Defines the aigc.* settings; called once, when the module loads */
extern void aigc_define_settings(void);

extern void aigc_parse_train_options(Jsonb *options, AigcModelKind kind,
									 AigcTrainOptions *opts);
extern Jsonb *aigc_train_options_jsonb(const AigcTrainOptions *opts,
									   AigcModelKind kind);

/*
 * num as a double, false if NaN, infinite or over 1e300 in magnitude
 * (converting those fails or echoes every digit); tiny values become 0
 */
extern bool aigc_numeric_to_double(Numeric num, double *out);

/* The network configurations the options describe */
extern void aigc_vae_config_from_options(const AigcTrainOptions *opts,
										 int data_dim, AigcVaeConfig *cfg);
extern void aigc_gan_config_from_options(const AigcTrainOptions *opts,
										 int data_dim, int cond_dim,
										 AigcGanConfig *cfg);

/*
 * Bytes the network of these options takes while training (weights,
 * gradients, Adam state, the stored copy, batch buffers) on rows of
 * data_dim encoded values, cond_dim of them in categorical one-hots, nrows
 * of them (0 before the rows are read: as few as one).  ERROR 54000,
 * naming the option to blame, if that exceeds aigc.train_memory_limit or
 * one allocation would exceed MaxAllocSize.
 */
extern double aigc_check_network_size(const AigcTrainOptions *opts,
									   AigcModelKind kind, int data_dim,
									   int cond_dim, int64 nrows);

#endif
