/*
 * model_lifecycle.c
 *		aigc_deploy(), aigc_rollback(), aigc_drop(): which version sampling and
 *		scoring use, and removing models.
 *
 * The version in use is the last row of aigc.deployments for the model, or
 * the newest version when there is none, so a model that was never deployed
 * follows its newest training and a deployed one stays pinned.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "store/model_store.h"

PG_FUNCTION_INFO_V1(aigc_deploy);
PG_FUNCTION_INFO_V1(aigc_rollback);
PG_FUNCTION_INFO_V1(aigc_drop);

static char *
model_arg(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model must not be NULL")));
	return text_to_cstring(PG_GETARG_TEXT_PP(0));
}

Datum
aigc_deploy(PG_FUNCTION_ARGS)
{
	char	   *name = model_arg(fcinfo);
	int			version;
	AigcStoreAccess acc;
	Oid			types[3] = {TEXTOID, INT4OID, TEXTOID};
	Datum		values[3];

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("version must not be NULL")));
	version = PG_GETARG_INT32(1);
	aigc_store_begin(&acc);
	aigc_store_lock_check(&acc, name, "deploy");
	aigc_store_require_version(&acc, name, version);
	values[0] = CStringGetTextDatum(name);
	values[1] = Int32GetDatum(version);
	values[2] = CStringGetTextDatum(GetUserNameFromId(acc.caller, false));
	aigc_store_exec("INSERT INTO aigc.deployments (name, seq, version, deployed_by) "
					"SELECT $1, coalesce(pg_catalog.max(seq), 0) OPERATOR(pg_catalog.+) 1, $2, $3 "
					"  FROM aigc.deployments WHERE name OPERATOR(pg_catalog.=) $1",
					3, types, values, NULL, false, SPI_OK_INSERT);
	aigc_store_end(&acc);
	PG_RETURN_INT32(version);
}

Datum
aigc_rollback(PG_FUNCTION_ARGS)
{
	char	   *name = model_arg(fcinfo);
	AigcStoreAccess acc;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	int			version;

	aigc_store_begin(&acc);
	aigc_store_lock_check(&acc, name, "deploy");
	values[0] = CStringGetTextDatum(name);
	aigc_store_exec("DELETE FROM aigc.deployments "
					" WHERE name OPERATOR(pg_catalog.=) $1 "
					"   AND seq OPERATOR(pg_catalog.=) (SELECT pg_catalog.max(seq) FROM aigc.deployments "
					"                                    WHERE name OPERATOR(pg_catalog.=) $1)",
					1, types, values, NULL, false, SPI_OK_DELETE);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("model \"%s\" has no deployment to roll back", name),
				 errhint("aigc_deploy() pins a version; without one the newest version is in use.")));
	version = aigc_store_version_in_use(name);
	aigc_store_end(&acc);
	PG_RETURN_INT32(version);
}

Datum
aigc_drop(PG_FUNCTION_ARGS)
{
	char	   *name = model_arg(fcinfo);
	AigcStoreAccess acc;
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2];
	int64		dropped;

	aigc_store_begin(&acc);
	aigc_store_lock_check(&acc, name, "owner");
	values[0] = CStringGetTextDatum(name);
	if (PG_ARGISNULL(1))
	{
		aigc_store_exec("SELECT 1 FROM aigc.model_store WHERE name OPERATOR(pg_catalog.=) $1",
						1, types, values, NULL, false, SPI_OK_SELECT);
		dropped = SPI_processed;
		/* versions, deployments and grants go with the registry row */
		aigc_store_exec("DELETE FROM aigc.model_registry WHERE name OPERATOR(pg_catalog.=) $1",
						1, types, values, NULL, false, SPI_OK_DELETE);
	}
	else
	{
		values[1] = Int32GetDatum(PG_GETARG_INT32(1));
		aigc_store_exec("DELETE FROM aigc.model_store "
						" WHERE name OPERATOR(pg_catalog.=) $1 AND version OPERATOR(pg_catalog.=) $2",
						2, types, values, NULL, false, SPI_OK_DELETE);
		dropped = SPI_processed;
		if (dropped == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("model \"%s\" has no version %d", name, PG_GETARG_INT32(1))));
		/* the last version takes the model with it */
		aigc_store_exec("DELETE FROM aigc.model_registry r WHERE name OPERATOR(pg_catalog.=) $1 "
						"   AND NOT EXISTS (SELECT 1 FROM aigc.model_store s "
						"                    WHERE s.name OPERATOR(pg_catalog.=) r.name)",
						1, types, values, NULL, false, SPI_OK_DELETE);
	}
	aigc_store_end(&acc);
	PG_RETURN_INT64(dropped);
}
