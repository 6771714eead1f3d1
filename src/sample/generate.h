/*
 * generate.h
 *		Synthetic rows from a trained model, batch by batch, as the column
 *		values (numbers or category indices) that the column encoder decodes.
 *		Shared by aigc_sample() and aigc_evaluate().
 */
#ifndef AIGC_GENERATE_H
#define AIGC_GENERATE_H

#include "postgres.h"

#include "core/model.h"

typedef struct AigcGenerator
{
	AigcModel  *model;
	AigcRng    *rng;
	int			batch;			/* most rows one call produces */
	void	   *kind_buf;		/* the model's kind's generator buffers */
	int			cond_col;		/* GAN: conditional vector fixed to this */
	int			cond_slot;		/* category of this column, or -1 for none */
	float	   *act;			/* (batch, dim) activated network output */
	AigcColumnData *decoded;	/* colenc.ncols arrays of batch values */
} AigcGenerator;

/* A generator of either kind of model, unconditioned (cond_col -1) */
extern void aigc_generator_init(AigcGenerator *gen, AigcModel *model,
								AigcRng *rng, int batch);

/* Fills gen->decoded[c] rows [0, n) with n new rows, n <= gen->batch */
extern void aigc_generator_next(AigcGenerator *gen, int n);

#endif
