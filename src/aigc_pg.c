/*
 * aigc_pg.c
 *		Module entry point: defines the settings (options.c) and hooks DROP
 *		ROLE, REASSIGN OWNED and DROP OWNED (model_owners.c).  The
 *		SQL-callable functions live with what they do: train.c, sample.c,
 *		score.c, evaluate.c, model_lifecycle.c, ...
 */
#include "postgres.h"

#include "fmgr.h"

#include "store/model_store.h"
#include "train/options.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	aigc_define_settings();
	aigc_install_utility_hook();
}
