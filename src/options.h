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

#include "vae.h"

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
	int			max_modes;
	int			max_categories;
	int			progress_every;	/* epochs between NOTICEs, 0 for none */
	bool		calibrate;		/* match sampled category shares after training */
	List	   *exclude;		/* column names (char *) */
} AigcTrainOptions;

extern void aigc_parse_train_options(Jsonb *options, AigcTrainOptions *opts);
extern Jsonb *aigc_train_options_jsonb(const AigcTrainOptions *opts,
									   const char *kind);

#endif
