/*
 * kind.h
 *		Kinds of model (VAE, GAN) behind one table of operations, so that the
 *		SQL-facing code never asks which kind it holds: a new kind is a row
 *		in aigc_kinds[] (kind.c) and its own files.
 *
 * Every operation is pure computation on the kind's network (the void *net
 * of an AigcModel): what is a SQL error, a NOTICE or a stored JSON lives
 * with the callers in train/, sample/ and score/.
 */
#ifndef AIGC_KIND_H
#define AIGC_KIND_H

#include "postgres.h"
#include "lib/stringinfo.h"

#include "core/column_encoder.h"
#include "core/columns.h"
#include "core/layers.h"
#include "core/rng.h"
#include "core/serialize.h"
#include "core/train_options.h"

/* The number a kind is stored as in the model blob: never reuse one */
typedef enum AigcModelKind
{
	AIGC_KIND_VAE = 1,
	AIGC_KIND_GAN = 2,
	AIGC_KIND_TRANSFORMER = 3
} AigcModelKind;

/* Room for any kind's per-kind table entries, indexed by AigcModelKind */
#define AIGC_KIND_SLOTS 4

/* Most loss series a kind reports per epoch */
#define AIGC_MAX_LOSSES 4

/* Most linear layers of any kind's network (gemm benchmark) */
#define AIGC_KIND_MAX_LINEARS (2 * AIGC_MAX_HIDDEN + 3)

/* A condition on sampled rows (sample/conditions.c parses them) */
typedef struct AigcCondition
{
	int			column;			/* column of the column encoder */
	bool		is_null;		/* the column must be NULL */
	int			category;		/* categorical: index of the label */
	double		min;			/* continuous: inclusive bounds */
	double		max;
} AigcCondition;

/* GEMM work of training, summed by the kind's epochs */
typedef struct AigcTrainWork
{
	double		gemm_flops;
	int64		steps;
} AigcTrainWork;

typedef struct AigcKindOps
{
	const char *name;			/* as in aigc_train(kind => ...) */
	AigcModelKind id;			/* stored in the blob */
	uint32		format_version; /* lowest blob version holding the kind */
	uint32		write_version;	/* the version its blobs are written in */

	/* The network for data_dim-wide encoded rows, from the options */
	void	   *(*config_from_options) (const AigcTrainOptions *opts,
										int data_dim);
	void	   *(*init) (const void *cfg, const AigcColumnEncoder *colenc,
						 AigcRng *rng);

	/*
	 * Train on each continuous value's likeliest mode (the encoding scoring
	 * uses) rather than one drawn from its posterior, as CTGAN does
	 */
	bool		likeliest_modes;

	/*
	 * Adds to e what training the network of cfg on nrows rows allocates
	 * (weights, gradients, optimiser state, batch buffers, the stored
	 * copy), before anything is allocated; spans are NULL (nspans 0) and
	 * nrows 0 before the rows are read: then the narrowest rows, one row.
	 */
	void		(*train_size) (const void *cfg, const AigcTrainOptions *opts,
							   const AigcSpan *spans, int nspans, int64 nrows,
							   AigcSizeEstimate *e);

	/*
	 * Training on nrows encoded rows x: begin returns the run's state, epoch
	 * trains one epoch and writes one value per loss series (loss_names),
	 * end finishes the network (calibration, weight averaging) and may
	 * append ", \"key\": value" statistics to stats.  describe_losses words
	 * an epoch's losses for the progress NOTICE, after "epoch i/n".
	 */
	int			nlosses;
	const char *const *loss_names;
	void	   *(*train_begin) (void *net, const float *x, int64 nrows,
								const AigcTrainOptions *opts, AigcRng *rng);
	void		(*train_epoch) (void *run, double *losses, AigcTrainWork *work);
	void		(*train_end) (void *run, StringInfo stats);
	void		(*describe_losses) (StringInfo buf, const double *losses);

	/*
	 * Generation: n <= batch activated rows, slot-major (dim x n, as
	 * column_encoder_decode takes them);
	 * cond_col >= 0 fixes a conditional vector, for kinds that have one.
	 * Sampling calls generate on the pool's threads (threads.h), each with
	 * generators of its own over the shared net: it only reads the net and
	 * may not allocate, raise errors or check for interrupts.  It returns
	 * false when it cannot make the rows; generate_error (required then)
	 * raises the ERROR saying why, later, on the backend's thread.
	 */
	void	   *(*generator_init) (void *net, int batch);
	bool		(*generate) (void *net, void *gen, int n, int cond_col,
							 int cond_slot, AigcRng *rng, float *act);
	void		(*generate_error) (void *net, void *gen);

	/*
	 * Optional: the sampling call's conditions, before its first generate,
	 * for a kind that can meet some of them by construction without
	 * changing the distribution of the rows that meet them all (sampling
	 * still checks every row and rejects the others).  Called once for
	 * each of the call's generators.
	 */
	void		(*condition) (void *net, void *gen, const AigcCondition *conds,
							  int nconds);

	/*
	 * Scoring n <= rows encoded rows: scores gets n scores; terms, unless
	 * NULL, n rows of ncols column terms and a last term (its label:
	 * last_term; the columns': column_term).  explain writes the expected
	 * (reconstructed) activated row, (1, data_dim), of the first row of the
	 * last call, or returns false when the kind reconstructs nothing.
	 * encode gives that row's latent code and its length; NULL when the
	 * kind has no encoder (aigc_encode then raises its documented error).
	 */
	void	   *(*scorer_init) (void *net, int rows, int ncols);
	void		(*score) (void *net, void *scorer, const float *x, int n,
						  int ncols, double *scores, double *terms);
	bool		(*explain) (void *net, void *scorer, float *act);
	const float *(*encode) (void *net, void *scorer, int *len);
	const char *column_term;
	const char *last_term;

	/*
	 * The stored form, after the column encoder's; read checks every count
	 * and reads the layout of the blob's format version (at least
	 * format_version).  init and read may keep colenc: the model's own,
	 * which outlives the net.
	 */
	void		(*write) (const void *net, StringInfo buf);
	void	   *(*read) (AigcReader *r, const AigcColumnEncoder *colenc,
						 uint32 version);
	int			(*data_dim) (const void *net);

	/*
	 * The linear layers of one training step on batch rows, with the rows
	 * each multiplies (gemm benchmark); batch must be a multiple of
	 * batch_multiple (its name: batch_multiple_name).
	 */
	int			(*linears) (void *net, int batch, AigcLinear **layers,
							int *rows, bool *need_dx);
	int			(*batch_multiple) (const void *net);
	const char *batch_multiple_name;
} AigcKindOps;

extern const AigcKindOps aigc_vae_ops;
extern const AigcKindOps aigc_gan_ops;
extern const AigcKindOps aigc_transformer_ops;

/* Every kind, in the order "supported kinds" lists them */
extern const AigcKindOps *const aigc_kinds[];
extern const int aigc_nkinds;

/* NULL for a number no kind has (a corrupt or newer blob) */
extern const AigcKindOps *aigc_kind_ops(uint32 id);
/* ERROR naming the supported kinds for an unknown name */
extern AigcModelKind aigc_kind_from_name(const char *name);
extern const char *aigc_kind_name(AigcModelKind kind);

#endif
