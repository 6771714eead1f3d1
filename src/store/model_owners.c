/*
 * model_owners.c
 *		Roles that own models or hold privileges on them: aigc.reassign_models(),
 *		aigc.drop_models(), and a ProcessUtility hook that makes REASSIGN OWNED
 *		and DROP OWNED cover the models of the current database and refuses
 *		DROP ROLE while the role still owns models or holds model privileges.
 *
 * aigc.model_registry.owner and aigc.model_grants.grantee are regrole columns,
 * which record no dependency in pg_shdepend, and DROP ROLE fires no event
 * trigger: the hook is the only place that sees a role being dropped.  It
 * runs only in sessions that loaded the library (shared_ or
 * session_preload_libraries make that every session; docs/security.md).  A
 * model whose owner was dropped anyway keeps the OID: model_store.c reports
 * it as a dropped role, and a superuser reassigns or drops such models.
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/syscache.h"

#include "store/model_store.h"

PG_FUNCTION_INFO_V1(aigc_reassign_models);
PG_FUNCTION_INFO_V1(aigc_drop_models);

static ProcessUtility_hook_type prev_utility_hook = NULL;

/* The caller must have the privileges of the role, as REASSIGN OWNED asks */
static void
check_role_privileges(Oid role, const char *what)
{
	char	   *name = GetUserNameFromId(role, true);

	if (!has_privs_of_role(GetUserId(), role))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s the models of role %s", what,
						name ? quote_identifier(name) : psprintf("OID %u", role)),
				 errdetail("Only roles with the privileges of that role may do so.")));
}

/* Within store access: lock the models a role owns, one by one */
static void
lock_owned_models(AigcStoreAccess *acc, Oid role)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(role)};
	List	   *names = NIL;
	ListCell   *lc;

	aigc_store_exec("SELECT name FROM aigc.model_registry "
					" WHERE owner OPERATOR(pg_catalog.=) $1 ORDER BY name COLLATE pg_catalog.\"C\"",
					1, types, values, NULL, false, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
		names = lappend(names, SPI_getvalue(SPI_tuptable->vals[i],
											SPI_tuptable->tupdesc, 1));
	/* in name order, so two of these cannot deadlock each other */
	foreach(lc, names)
		aigc_store_lock(acc, lfirst(lc), true);
}

static int64
reassign_models(Oid old_role, Oid new_role)
{
	AigcStoreAccess acc;
	Oid			types[2] = {OIDOID, OIDOID};
	Datum		values[2] = {ObjectIdGetDatum(old_role), ObjectIdGetDatum(new_role)};
	int64		n;

	check_role_privileges(old_role, "reassign");
	check_role_privileges(new_role, "reassign");
	aigc_store_begin(&acc);
	lock_owned_models(&acc, old_role);
	aigc_store_exec("UPDATE aigc.model_registry SET owner = $2 WHERE owner OPERATOR(pg_catalog.=) $1",
					2, types, values, NULL, false, SPI_OK_UPDATE);
	n = SPI_processed;
	aigc_store_end(&acc);
	return n;
}

static int64
drop_models(Oid role)
{
	AigcStoreAccess acc;
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(role)};
	int64		n;

	check_role_privileges(role, "drop");
	aigc_store_begin(&acc);
	lock_owned_models(&acc, role);
	/* versions, deployments, calibrations and grants go with the registry rows */
	aigc_store_exec("DELETE FROM aigc.model_registry WHERE owner OPERATOR(pg_catalog.=) $1",
					1, types, values, NULL, false, SPI_OK_DELETE);
	n = SPI_processed;
	aigc_store_exec("DELETE FROM aigc.model_grants WHERE grantee OPERATOR(pg_catalog.=) $1",
					1, types, values, NULL, false, SPI_OK_DELETE);
	aigc_store_end(&acc);
	return n;
}

static Oid
role_arg(FunctionCallInfo fcinfo, int arg)
{
	if (PG_ARGISNULL(arg))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("role must not be NULL")));
	return PG_GETARG_OID(arg);
}

Datum
aigc_reassign_models(PG_FUNCTION_ARGS)
{
	Oid			old_role = role_arg(fcinfo, 0);
	Oid			new_role = role_arg(fcinfo, 1);

	/* regrole accepts any number: the new owner must exist */
	if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(new_role)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role with OID %u does not exist", new_role)));
	PG_RETURN_INT64(reassign_models(old_role, new_role));
}

Datum
aigc_drop_models(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(drop_models(role_arg(fcinfo, 0)));
}

/* Models the role owns and model privileges it holds, in this database */
static void
count_role_models(Oid role, int64 *owned, int64 *grants)
{
	AigcStoreAccess acc;
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(role)};
	bool		isnull;

	aigc_store_begin(&acc);
	aigc_store_exec("SELECT (SELECT pg_catalog.count(*) FROM aigc.model_registry "
					"         WHERE owner OPERATOR(pg_catalog.=) $1), "
					"       (SELECT pg_catalog.count(*) FROM aigc.model_grants "
					"         WHERE grantee OPERATOR(pg_catalog.=) $1)",
					1, types, values, NULL, false, SPI_OK_SELECT);
	*owned = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										 1, &isnull));
	*grants = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										  2, &isnull));
	aigc_store_end(&acc);
}

static void
refuse_dropping_model_roles(DropRoleStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->roles)
	{
		RoleSpec   *spec = lfirst(lc);
		Oid			role = get_rolespec_oid(spec, true);
		int64		owned;
		int64		grants;

		if (!OidIsValid(role))
			continue;			/* DROP ROLE reports it (or IF EXISTS skips) */
		count_role_models(role, &owned, &grants);
		if (owned > 0 || grants > 0)
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("role \"%s\" cannot be dropped because it owns or may use aigc_pg models",
							get_rolespec_name(spec)),
					 errdetail("In database \"%s\" it owns " INT64_FORMAT " model(s) and holds " INT64_FORMAT " model privilege(s).",
							   get_database_name(MyDatabaseId), owned, grants),
					 errhint("Give the models away with REASSIGN OWNED BY %s TO another_role (or aigc.reassign_models), then drop the rest with DROP OWNED BY %s (or aigc.drop_models), in each database.",
							 quote_identifier(get_rolespec_name(spec)),
							 quote_identifier(get_rolespec_name(spec)))));
	}
}

static void
aigc_process_utility(PlannedStmt *pstmt, const char *queryString,
					 bool readOnlyTree, ProcessUtilityContext context,
					 ParamListInfo params, QueryEnvironment *queryEnv,
					 DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	bool		installed = false;

	/* only these statements pay for the catalog lookup */
	if ((IsA(parsetree, DropRoleStmt) || IsA(parsetree, ReassignOwnedStmt) ||
		 IsA(parsetree, DropOwnedStmt)) && IsTransactionState())
		installed = OidIsValid(get_extension_oid("aigc_pg", true));

	if (installed && IsA(parsetree, DropRoleStmt))
		refuse_dropping_model_roles((DropRoleStmt *) parsetree);

	if (prev_utility_hook)
		prev_utility_hook(pstmt, queryString, readOnlyTree, context, params,
						  queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);

	/* after the command's own checks and changes, the models follow */
	if (installed && IsA(parsetree, ReassignOwnedStmt))
	{
		ReassignOwnedStmt *stmt = (ReassignOwnedStmt *) parsetree;
		Oid			new_role = get_rolespec_oid(stmt->newrole, false);
		ListCell   *lc;

		foreach(lc, stmt->roles)
			(void) reassign_models(get_rolespec_oid(lfirst(lc), false), new_role);
	}
	else if (installed && IsA(parsetree, DropOwnedStmt))
	{
		ListCell   *lc;

		foreach(lc, ((DropOwnedStmt *) parsetree)->roles)
			(void) drop_models(get_rolespec_oid(lfirst(lc), false));
	}
}

void
aigc_install_utility_hook(void)
{
	prev_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = aigc_process_utility;
}
