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

#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

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

/*
 * Whether relid is a Citus distributed table (hash or single-shard; a
 * reference table has all its rows on every node).  False without Citus.
 */
bool
aigc_citus_is_distributed(Oid relid)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	bool		result;

	if (GetConfigOption(CITUS_NESTED_GUC, true, false) == NULL ||
		!OidIsValid(get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE)))
		return false;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT 1 FROM pg_catalog.pg_dist_partition "
							  " WHERE logicalrelid OPERATOR(pg_catalog.=) $1 "
							  "   AND partmethod OPERATOR(pg_catalog.<>) 'n'",
							  1, types, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not look up relation %u in pg_dist_partition", relid);
	result = SPI_processed > 0;
	SPI_finish();
	return result;
}

/*
 * A TABLESAMPLE clause for reading relation relid when it is a Citus
 * distributed table with more rows than max_rows (those that fit in
 * aigc.train_memory_limit), else "".  Citus ships the clause into every
 * shard query, so the workers draw the sample and only about 1.2 max_rows
 * rows travel to the coordinator, whose reservoir then keeps max_rows of
 * them: a uniform sample either way.  The seed comes from rng (drawn only
 * when a sample is taken), so a seeded training gets the same rows from
 * the workers again (though not in the same order: shards answer in any).
 */
char *
aigc_citus_tablesample(Oid relid, int64 max_rows, AigcRng *rng)
{
	MemoryContext caller = CurrentMemoryContext;
	char	   *clause = "";
	bool		isnull;
	int64		rows;
	double		percent;

	if (max_rows <= 0 || !aigc_citus_is_distributed(relid))
		return clause;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* the caller's privileges, as the read itself; only counts travel */
	if (SPI_execute(psprintf("SELECT pg_catalog.count(*) FROM %s",
							 quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
														get_rel_name(relid))),
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not count the rows of relation %u", relid);
	rows = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
	if (rows > max_rows)
	{
		percent = Min(100.0, 120.0 * (double) max_rows / (double) rows);
		clause = psprintf(" TABLESAMPLE BERNOULLI (%.6f) REPEATABLE (%u)", percent,
						  (uint32) aigc_rng_next(rng));
		ereport(NOTICE,
				(errmsg("the workers sample %.4g%% of the " INT64_FORMAT " rows of distributed table %s",
						percent, rows, get_rel_name(relid)),
				 errdetail("At most " INT64_FORMAT " rows fit in aigc.train_memory_limit.",
						   max_rows)));
	}
	clause = MemoryContextStrdup(caller, clause);
	SPI_finish();
	return clause;
}

/*
 * Wait until no prepared transaction holds a lock on a model store table of
 * this node; ERROR after a while.  A Citus worker that crashed after
 * preparing its part of a store change, before COMMIT PREPARED reached it,
 * keeps the prepared transaction until Citus recovers it: until then its
 * replica shows the previous state, although the change is committed on
 * the coordinator, and the node would serve a previous version.  Normally
 * the window lasts only between PREPARE and COMMIT PREPARED of a change,
 * so a statement waits for it to close.  Called once per statement that
 * uses a model, on nodes where Citus is loaded.
 */
void
aigc_citus_wait_store_settled(void)
{
	const int	waits = 100;	/* of 100 ms: 10 s */
	int			i;

	if (GetConfigOption(CITUS_NESTED_GUC, true, false) == NULL)
		return;
	for (i = 0;; i++)
	{
		bool		pending = false;
		Oid			aigc_nsp = get_namespace_oid("aigc", false);

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");

		/*
		 * pid is NULL for the locks of prepared transactions.  The schema is
		 * checked here, not by joining pg_class, where Citus hides shards.
		 */
		if (SPI_execute("SELECT l.relation FROM pg_catalog.pg_locks l "
						" WHERE l.locktype OPERATOR(pg_catalog.=) 'relation' AND l.pid IS NULL "
						"   AND l.database OPERATOR(pg_catalog.=) "
						"       (SELECT d.oid FROM pg_catalog.pg_database d "
						"         WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())",
						true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not look for prepared transactions on the model store");
		for (uint64 r = 0; r < SPI_processed && !pending; r++)
		{
			bool		isnull;
			Oid			relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[r],
															   SPI_tuptable->tupdesc, 1,
															   &isnull));

			pending = get_rel_namespace(relid) == aigc_nsp;
		}
		SPI_finish();
		if (!pending)
			return;
		if (i == waits)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the model store of this node has a prepared transaction that is not committed yet"),
					 errdetail("A change to the models (train, deploy, grant, ...) may be committed on the Citus coordinator but not here; this node would use a previous version."),
					 errhint("Run SELECT recover_prepared_transactions() on the coordinator, or wait for Citus to recover it (citus.recover_2pc_interval).")));
		pg_usleep(100 * 1000L);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * The store query sql, reading this node's own replica directly when it is
 * a SELECT on a node that holds a replica of the store's reference tables:
 * "aigc.model_store" becomes its local shard "aigc.model_store_102009".
 * Citus would read the same replica, but a parallel worker that runs a
 * Citus query cannot commit (Citus refuses its coordinated transaction), so
 * a scoring function in a parallel plan could not load its model.  Writes
 * still go through Citus, which replicates them.  Returns sql itself
 * otherwise.
 */
const char *
aigc_citus_store_sql(const char *sql)
{
	StringInfoData out;
	const char *p = sql;

	if (GetConfigOption(CITUS_NESTED_GUC, true, false) == NULL ||
		pg_strncasecmp(sql, "SELECT", 6) != 0 ||
		!OidIsValid(get_relname_relid("pg_dist_local_group", PG_CATALOG_NAMESPACE)))
		return sql;
	/* the local replica of each store table, if this node holds one */
	if (SPI_execute("SELECT c.relname::pg_catalog.text, s.shardid "
					"  FROM pg_catalog.pg_dist_shard s "
					"  JOIN pg_catalog.pg_dist_placement pl ON pl.shardid OPERATOR(pg_catalog.=) s.shardid "
					"  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) s.logicalrelid "
					"  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
					" WHERE n.nspname OPERATOR(pg_catalog.=) 'aigc' "
					"   AND pl.groupid OPERATOR(pg_catalog.=) "
					"       (SELECT g.groupid FROM pg_catalog.pg_dist_local_group g)",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not look up the local replica of the model store");
	if (SPI_processed == 0)
		return sql;

	initStringInfo(&out);
	while (*p != '\0')
	{
		bool		replaced = false;

		if (strncmp(p, "aigc.", 5) == 0)
		{
			for (uint64 r = 0; r < SPI_processed && !replaced; r++)
			{
				bool		isnull;
				char	   *table = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[r],
																	  SPI_tuptable->tupdesc,
																	  1, &isnull));
				int64		shardid = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r],
																  SPI_tuptable->tupdesc,
																  2, &isnull));
				size_t		len = strlen(table);

				/* the whole name: not a prefix of a longer identifier */
				if (strncmp(p + 5, table, len) == 0 &&
					!(isalnum((unsigned char) p[5 + len]) || p[5 + len] == '_'))
				{
					appendStringInfo(&out, "aigc.%s_" INT64_FORMAT, table, shardid);
					p += 5 + len;
					replaced = true;
				}
			}
		}
		if (!replaced)
			appendStringInfoChar(&out, *p++);
	}
	return out.data;
}
