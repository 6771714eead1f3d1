/*
 * model_store.c
 *		Access to the model store tables (aigc.model_registry, model_store,
 *		deployments, model_grants) through SPI, inside the caller's
 *		transaction: a training that rolls back leaves no model behind.
 *
 * Callers hold no privileges on these tables.  Every access first checks the
 * caller's privilege on the model, then runs its queries as the tables'
 * owner in a security-restricted context, as PostgreSQL's own RI triggers
 * do; an error unwinds the user switch with the (sub)transaction.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "citus_sync.h"
#include "model_store.h"

static Oid
store_owner(void)
{
	Oid			nsp = get_namespace_oid("aigc", false);
	Oid			relid = get_relname_relid("model_store", nsp);
	HeapTuple	tup;
	Oid			owner;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("aigc.model_store does not exist"),
				 errhint("Reinstall the aigc_pg extension.")));
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

void
aigc_store_begin(AigcStoreAccess *acc)
{
	GetUserIdAndSecContext(&acc->caller, &acc->sec_context);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	SetUserIdAndSecContext(store_owner(),
						   acc->sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
}

void
aigc_store_end(AigcStoreAccess *acc)
{
	SetUserIdAndSecContext(acc->caller, acc->sec_context);
	SPI_finish();
}

/* Run a query with text/int4 parameters; ERROR unless it returns `expect` */
int
aigc_store_exec(const char *sql, int nargs, const Oid *types,
				const Datum *values, const char *nulls, bool read_only,
				int expect)
{
	int			citus_nest = aigc_citus_store_query_begin();
	int			ret = SPI_execute_with_args(aigc_citus_store_sql(sql), nargs,
											unconstify(Oid *, types),
											unconstify(Datum *, values), nulls,
											read_only, 0);

	aigc_citus_store_query_end(citus_nest);
	if (ret != expect)
		elog(ERROR, "model store query failed (%s): %s",
			 SPI_result_code_string(ret), sql);
	return ret;
}

static Datum
result_value(int row, int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col,
						 isnull);
}

/* Owner of a model, or InvalidOid when it does not exist */
static Oid
model_owner(const char *name)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};
	bool		isnull;

	aigc_store_exec("SELECT owner FROM aigc.model_registry WHERE name = $1",
					1, types, values, NULL, true, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return InvalidOid;
	return DatumGetObjectId(result_value(0, 1, &isnull));
}

static bool
granted(const char *name, Oid caller, const char *privilege)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2] = {CStringGetTextDatum(name), CStringGetTextDatum(privilege)};

	aigc_store_exec("SELECT grantee FROM aigc.model_grants WHERE name = $1 AND privilege = $2",
					2, types, values, NULL, true, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Oid			grantee = DatumGetObjectId(result_value(i, 1, &isnull));

		/* grantee 0 is PUBLIC; grants to a role reach its members */
		if (!OidIsValid(grantee) || has_privs_of_role(caller, grantee))
			return true;
	}
	return false;
}

static void
check_privilege_name(const char *privilege)
{
	if (strcmp(privilege, "use") != 0 && strcmp(privilege, "train") != 0 &&
		strcmp(privilege, "deploy") != 0 && strcmp(privilege, "owner") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown model privilege \"%s\"", privilege),
				 errhint("Model privileges are use, train, deploy and owner.")));
}

/*
 * The owner (and superusers, and members of the owner's role) hold every
 * privilege; others hold what was granted to them, to a role they are a
 * member of, or to PUBLIC.  Within aigc_store_begin/end.
 */
static bool
holds_privilege(const char *name, Oid caller, Oid owner, const char *privilege)
{
	if (has_privs_of_role(caller, owner))
		return true;
	if (strcmp(privilege, "owner") == 0)
		return false;
	return granted(name, caller, privilege);
}

void
aigc_store_check(AigcStoreAccess *acc, const char *name, const char *privilege)
{
	Oid			owner = model_owner(name);

	check_privilege_name(privilege);
	if (!OidIsValid(owner))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" does not exist", name),
				 errhint("SELECT name, version FROM aigc.models lists the models you may use.")));
	if (!holds_privilege(name, acc->caller, owner, privilege))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for model \"%s\"", name),
				 errdetail("Privilege \"%s\" is needed; the model belongs to role \"%s\".",
						   privilege, GetUserNameFromId(owner, false)),
				 errhint("The owner can grant it with aigc_grant().")));
}

/*
 * Serialise trainings and lifecycle changes of one model, so each training
 * gets its own next version (and the first creates the registry row)
 * without a unique violation at commit.
 */
void
aigc_store_lock(const char *name)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};

	aigc_store_exec("SELECT pg_advisory_xact_lock(hashtext('aigc_pg model ' || $1))",
					1, types, values, NULL, false, SPI_OK_SELECT);
}

void
aigc_store_require(const char *name, const char *privilege)
{
	AigcStoreAccess acc;

	aigc_store_begin(&acc);
	aigc_store_check(&acc, name, privilege);
	aigc_store_end(&acc);
}

int
aigc_store_insert(const AigcStoreEntry *e)
{
	Oid			types[12] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID,
		JSONBOID, JSONBOID, INT8OID, FLOAT8OID, JSONBOID, BYTEAOID, TEXTOID};
	Datum		values[12];
	bool		isnull;
	int			version;
	AigcStoreAccess acc;

	values[0] = CStringGetTextDatum(e->name);
	values[1] = CStringGetTextDatum(e->kind);
	values[2] = CStringGetTextDatum(e->source_kind);
	values[3] = CStringGetTextDatum(e->source);
	values[4] = JsonbPGetDatum(e->columns);
	values[5] = JsonbPGetDatum(e->hyperparams);
	values[6] = JsonbPGetDatum(e->loss);
	values[7] = Int64GetDatum(e->train_rows);
	values[8] = Float8GetDatum(e->train_seconds);
	values[9] = JsonbPGetDatum(e->stats);
	values[10] = PointerGetDatum(e->weights);

	aigc_store_begin(&acc);
	values[11] = CStringGetTextDatum(GetUserNameFromId(acc.caller, false));

	aigc_store_lock(e->name);
	if (OidIsValid(model_owner(e->name)))
		aigc_store_check(&acc, e->name, "train");
	else
	{
		Oid			rtypes[2] = {TEXTOID, OIDOID};
		Datum		rvalues[2] = {values[0], ObjectIdGetDatum(acc.caller)};

		aigc_store_exec("INSERT INTO aigc.model_registry (name, owner) VALUES ($1, $2)",
						2, rtypes, rvalues, NULL, false, SPI_OK_INSERT);
	}

	/* the alias t: Citus mis-deparses RETURNING here without one */
	aigc_store_exec("INSERT INTO aigc.model_store AS t "
					"(name, version, kind, source_kind, source, columns, hyperparams, "
					" loss, train_rows, train_seconds, stats, weights, created_by) "
					"SELECT $1, coalesce(max(version), 0) + 1, $2, $3, $4, $5, $6, "
					"       $7, $8, $9, $10, $11, $12 "
					"  FROM aigc.model_store WHERE name = $1 "
					"RETURNING t.version",
					12, types, values, NULL, false, SPI_OK_INSERT_RETURNING);
	version = DatumGetInt32(result_value(0, 1, &isnull));
	aigc_store_end(&acc);
	return version;
}

int
aigc_store_version_in_use(const char *name)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};
	bool		isnull;

	aigc_store_exec("SELECT coalesce((SELECT version FROM aigc.deployments WHERE name = $1 "
					"                  ORDER BY seq DESC LIMIT 1), "
					"                 (SELECT max(version) FROM aigc.model_store WHERE name = $1))",
					1, types, values, NULL, false, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return 0;
	{
		Datum		v = result_value(0, 1, &isnull);

		return isnull ? 0 : DatumGetInt32(v);
	}
}

AigcModel *
aigc_store_load(const char *name, int version, int *loaded_version)
{
	MemoryContext caller = CurrentMemoryContext;
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2];
	bool		isnull;
	bytea	   *blob;
	AigcModel  *model;
	AigcStoreAccess acc;

	aigc_store_begin(&acc);
	aigc_store_check(&acc, name, "use");
	if (version <= 0)
	{
		version = aigc_store_version_in_use(name);
		if (version == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("model \"%s\" does not exist", name),
					 errdetail("Its registry entry has no trained version left.")));
	}
	values[0] = CStringGetTextDatum(name);
	values[1] = Int32GetDatum(version);
	aigc_store_exec("SELECT weights FROM aigc.model_store WHERE name = $1 AND version = $2",
					2, types, values, NULL, true, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" has no version %d", name, version)));
	blob = DatumGetByteaPP(result_value(0, 1, &isnull));

	/* the model must outlive SPI's memory */
	MemoryContextSwitchTo(caller);
	model = aigc_model_deserialize(VARDATA_ANY(blob), VARSIZE_ANY_EXHDR(blob));
	aigc_store_end(&acc);
	*loaded_version = version;
	return model;
}

/* Whether the current user holds `privilege` on a model (false if none) */
bool
aigc_store_has_privilege(const char *name, const char *privilege)
{
	AigcStoreAccess acc;
	Oid			owner;
	bool		result;

	check_privilege_name(privilege);
	aigc_store_begin(&acc);
	owner = model_owner(name);
	result = OidIsValid(owner) &&
		holds_privilege(name, acc.caller, owner, privilege);
	aigc_store_end(&acc);
	return result;
}
