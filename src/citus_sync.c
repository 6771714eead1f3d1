/*
 * citus_sync.c
 *		What aigc_pg does differently on a Citus cluster (docs/citus.md).
 *
 * There the model store tables are Citus reference tables
 * (aigc.citus_distribute_store): Citus replicates every write to every
 * node in the same two-phase-commit transaction, and every node holds a
 * replica that its own store queries read locally.  Two of Citus's checks
 * stand in the way of store queries and do not apply to them:
 *
 * - A store read inside a scoring function that Citus pushed down to a
 *   shard counts as a nested distributed query, refused by default because
 *   it could reach shards elsewhere.  The store is a reference table with a
 *   replica on every node, so Citus reads it locally.
 * - A write to a reference table that other reference tables reference by
 *   foreign key is refused once the transaction has read a distributed
 *   table over several connections per node (aigc_train, aigc_calibrate),
 *   because a distributed table referencing it could deadlock.  No
 *   distributed table can reference the store: nobody but its owner holds
 *   privileges on it.
 *
 * So store queries run with both checks off, and only they.
 */
#include "postgres.h"

#include "utils/guc.h"

#include "citus_sync.h"

#define CITUS_NESTED_GUC "citus.allow_nested_distributed_execution"
#define CITUS_FK_CHECK_GUC "citus.enforce_foreign_key_restrictions"

int
aigc_citus_store_query_begin(void)
{
	int			nest;

	/* without Citus loaded there is nothing to relax */
	if (GetConfigOption(CITUS_NESTED_GUC, true, false) == NULL)
		return -1;
	nest = NewGUCNestLevel();
	(void) set_config_option(CITUS_NESTED_GUC, "on", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option(CITUS_FK_CHECK_GUC, "off", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	return nest;
}

void
aigc_citus_store_query_end(int nest)
{
	if (nest >= 0)
		AtEOXact_GUC(true, nest);
}
