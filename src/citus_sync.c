/*
 * citus_sync.c
 *		What aigc_pg does differently on a Citus cluster (docs/citus.md).
 *
 * There the model store tables are Citus reference tables
 * (aigc.citus_distribute_store): Citus replicates every write to every
 * node in the same two-phase-commit transaction.  Citus refuses a write to
 * a reference table that other reference tables reference by foreign key
 * once the transaction has read a distributed table over several
 * connections per node, as aigc_train and aigc_calibrate do, because a hash
 * distributed table referencing it could deadlock.  No distributed table
 * can reference the store (nobody but its owner holds privileges on it),
 * so store writes run with that check off.
 */
#include "postgres.h"

#include "utils/guc.h"

#include "citus_sync.h"

#define CITUS_FK_CHECK_GUC "citus.enforce_foreign_key_restrictions"

int
aigc_citus_store_write_begin(void)
{
	int			nest;

	/* without Citus loaded there is nothing to relax */
	if (GetConfigOption(CITUS_FK_CHECK_GUC, true, false) == NULL)
		return -1;
	nest = NewGUCNestLevel();
	(void) set_config_option(CITUS_FK_CHECK_GUC, "off", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	return nest;
}

void
aigc_citus_store_write_end(int nest)
{
	if (nest >= 0)
		AtEOXact_GUC(true, nest);
}
