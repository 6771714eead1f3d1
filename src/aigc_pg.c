/*
 * aigc_pg.c
 *		Module entry point: defines the settings (options.c, and aigc.threads
 *		here) and hooks DROP
 *		ROLE, REASSIGN OWNED and DROP OWNED (model_owners.c).  The
 *		SQL-callable functions live with what they do: train.c, sample.c,
 *		score.c, evaluate.c, model_lifecycle.c, ...
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "core/threads.h"
#include "store/model_store.h"
#include "train/options.h"

PG_MODULE_MAGIC;

int			aigc_threads = 1;

void		_PG_init(void);

void
_PG_init(void)
{
	aigc_threads = aigc_cores();
	DefineCustomIntVariable("aigc.threads",
							"Threads one backend may use to train, sample and score.",
							"Training and sampling split each batch across them; scoring a "
							"batch gives them to OpenBLAS; scoring one row per call and "
							"parallel query workers use one.",
							&aigc_threads,
							aigc_threads, 1, AIGC_MAX_THREADS,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	aigc_define_settings();
	aigc_install_utility_hook();
}
