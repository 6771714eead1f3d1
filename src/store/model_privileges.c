/*
 * model_privileges.c
 *		aigc_grant(), aigc_revoke() and aigc.has_model_privilege(): who else
 *		may use, train or deploy a model.
 *
 * A model belongs to the role that first trained it.  The owner (and its
 * members, and superusers) may do everything, including dropping the model
 * and granting; other roles only what the owner granted them, a role they
 * belong to, or PUBLIC.  Grants live in aigc.model_grants and are checked by
 * every function that reads or changes a model (model_store.c).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"

#include "store/model_store.h"

PG_FUNCTION_INFO_V1(aigc_grant);
PG_FUNCTION_INFO_V1(aigc_revoke);
PG_FUNCTION_INFO_V1(aigc_has_model_privilege);

/* Role OID of a grantee name; PUBLIC is 0, as in aigc.model_grants */
static Oid
grantee_oid(const char *grantee)
{
	if (pg_strcasecmp(grantee, "public") == 0)
		return InvalidOid;
	return get_role_oid(grantee, false);
}

/* The privileges one call names: one of them, or all */
static List *
privilege_list(const char *privilege)
{
	if (strcmp(privilege, "all") == 0)
		return list_make3("use", "train", "deploy");
	if (strcmp(privilege, "use") != 0 && strcmp(privilege, "train") != 0 &&
		strcmp(privilege, "deploy") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown model privilege \"%s\"", privilege),
				 errhint("Grantable model privileges are use, train, deploy and all.")));
	return list_make1(pstrdup(privilege));
}

static void
change_grants(FunctionCallInfo fcinfo, bool grant)
{
	char	   *name;
	Oid			grantee;
	List	   *privileges;
	ListCell   *lc;
	AigcStoreAccess acc;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model, grantee and privilege must not be NULL")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	grantee = grantee_oid(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	privileges = privilege_list(text_to_cstring(PG_GETARG_TEXT_PP(2)));

	aigc_store_begin(&acc);
	/* a drop running meanwhile: wait, then "does not exist" */
	aigc_store_lock_check(&acc, name, "owner");
	foreach(lc, privileges)
	{
		/* regrole, not oid: Citus ships it to other nodes by role name */
		Oid			types[4] = {TEXTOID, REGROLEOID, TEXTOID, TEXTOID};
		Datum		values[4];

		values[0] = CStringGetTextDatum(name);
		values[1] = ObjectIdGetDatum(grantee);
		values[2] = CStringGetTextDatum(lfirst(lc));
		values[3] = CStringGetTextDatum(GetUserNameFromId(acc.caller, false));
		if (grant)
			aigc_store_exec("INSERT INTO aigc.model_grants (name, grantee, privilege, granted_by) "
							"VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
							4, types, values, NULL, false, SPI_OK_INSERT);
		else
			aigc_store_exec("DELETE FROM aigc.model_grants "
							" WHERE name OPERATOR(pg_catalog.=) $1 AND grantee OPERATOR(pg_catalog.=) $2 "
							"   AND privilege OPERATOR(pg_catalog.=) $3",
							3, types, values, NULL, false, SPI_OK_DELETE);
	}
	aigc_store_end(&acc);
}

Datum
aigc_grant(PG_FUNCTION_ARGS)
{
	change_grants(fcinfo, true);
	PG_RETURN_VOID();
}

Datum
aigc_revoke(PG_FUNCTION_ARGS)
{
	change_grants(fcinfo, false);
	PG_RETURN_VOID();
}

Datum
aigc_has_model_privilege(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(aigc_store_has_privilege(text_to_cstring(PG_GETARG_TEXT_PP(0)),
											text_to_cstring(PG_GETARG_TEXT_PP(1))));
}
