/*
 * aigc_pg.c
 *		Module entry point: defines the settings (options.c).  The
 *		SQL-callable functions live with what they do: train.c, sample.c,
 *		score.c, evaluate.c, model_lifecycle.c, ...
 */
#include "postgres.h"

#include "fmgr.h"

#include "train/options.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	aigc_define_settings();
}
