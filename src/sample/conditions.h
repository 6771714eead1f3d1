/*
 * conditions.h
 *		Conditional sampling: the `conditions` argument of aigc_sample(),
 *		parsed against a model's columns, and the test every returned row
 *		passes.
 */
#ifndef AIGC_CONDITIONS_H
#define AIGC_CONDITIONS_H

#include "postgres.h"
#include "utils/jsonb.h"

#include "core/gan.h"
#include "core/model.h"

typedef struct AigcConditions
{
	int			n;
	AigcCondition *conds;
	char	   *text;			/* the jsonb as given, for messages */
} AigcConditions;

/*
 * ERRORs on unknown or excluded columns, unseen categories, values of the
 * wrong type, and ranges no sample can fall in.
 */
extern AigcConditions *aigc_conditions_parse(Jsonb *json, const AigcModel *model,
											 const char *model_name);

/* Does decoded row r (column_encoder_decode's output) satisfy every condition? */
extern bool aigc_conditions_accept(const AigcConditions *conds,
								   const AigcColumnEncoder *colenc,
								   const AigcColumnData *decoded, int r);

/*
 * For a GAN: the categorical condition to put in the conditional vector
 * (the rarest in training, which rejection alone would hit least often),
 * as cond column and slot; false if no condition is categorical.
 */
extern bool aigc_conditions_gan_slot(const AigcConditions *conds,
									 const AigcGan *gan, int *cond_col,
									 int *slot);

#endif
