/*
 * public_stats.h
 *		Public metadata (training options bounds and categories) applied to
 *		the columns read, and the range each column type holds.
 */
#ifndef AIGC_PUBLIC_STATS_H
#define AIGC_PUBLIC_STATS_H

#include "postgres.h"

#include "core/train_options.h"
#include "store/reader.h"

/*
 * Check options bounds and categories against the columns of td (42703 for
 * a column not trained on, 22023 for one of the wrong kind or a minimum
 * above the maximum, the type's own error for a value it does not read)
 * and apply them: the column's min and max, or its categories with the
 * values read mapped onto them (others become NULL); source becomes
 * AIGC_STAT_PUBLIC.
 */
extern void aigc_apply_public_stats(const AigcTrainOptions *opts,
									AigcTrainingData *td);

/* The finite values a column of this type (and typmod) can hold */
extern void aigc_type_range(Oid typid, int32 typmod, double *lo, double *hi);

#endif
