/*
 * options.h
 *		Training options: parsed from jsonb, validated, and written back as
 *		the hyperparameters stored with the model, all from one table of
 *		options (options.c).  Unknown options, and options of another kind,
 *		are errors.
 */
#ifndef AIGC_OPTIONS_H
#define AIGC_OPTIONS_H

#include "postgres.h"
#include "utils/jsonb.h"

#include "core/kind.h"
#include "core/train_options.h"

/* aigc.train_memory_limit, in kB: what a training run's network and rows may take */
extern int	aigc_train_memory_limit;

/* Defines the aigc.* settings; called once, when the module loads */
extern void aigc_define_settings(void);

/* Shortest exact decimal form of v (1e-05, not 1.0000000000000001e-05), for JSON */
extern char *aigc_shortest_decimal(double v);

/* options may be NULL: every option takes the kind's default */
extern void aigc_parse_train_options(Jsonb *options, AigcModelKind kind,
									 AigcTrainOptions *opts);
/* The effective options, the seed drawn included, as stored */
extern Jsonb *aigc_train_options_jsonb(const AigcTrainOptions *opts,
									   AigcModelKind kind);

/*
 * Bytes the network of these options takes while training (weights,
 * gradients, Adam state, the stored copy, batch buffers) on nrows rows of
 * data_dim encoded values with these output spans (NULL, 0 and 0 before
 * the rows are read: the narrowest rows, one of them).  ERROR 54000,
 * naming the option to blame, if that exceeds aigc.train_memory_limit or
 * one allocation would exceed MaxAllocSize.
 */
extern double aigc_check_network_size(const AigcTrainOptions *opts,
									   AigcModelKind kind, int data_dim,
									   const AigcSpan *spans, int nspans,
									   int64 nrows);

#endif
