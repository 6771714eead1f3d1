/*
 * model_store.c
 *		Access to the model store tables (aigc.model_registry, model_store,
 *		deployments, model_grants) through SPI, inside the caller's
 *		transaction: a training that rolls back leaves no model behind.
 *
 * Callers hold no privileges on these tables.  Every access first checks the
 * caller's privilege on the model, then runs its queries as the tables'
 * owner in a security-restricted context, as PostgreSQL's own RI triggers
 * do; an error unwinds the user switch with the (sub)transaction.  Those
 * queries run under search_path pg_catalog, pg_temp and name every operator
 * and function with its schema: nothing the caller can create (in a schema
 * of its search_path or in pg_temp) is ever resolved while we are the owner.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "store/citus_sync.h"
#include "store/model_store.h"

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
	acc->locked = false;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* as RI triggers and VACUUM do: the caller's search_path is not ours */
	acc->guc_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	SetUserIdAndSecContext(store_owner(),
						   acc->sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
}

void
aigc_store_end(AigcStoreAccess *acc)
{
	SetUserIdAndSecContext(acc->caller, acc->sec_context);
	AtEOXact_GUC(false, acc->guc_nestlevel);
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

/*
 * Owner of a model, or InvalidOid when it does not exist.  Once the model is
 * locked (aigc_store_lock), reads take a fresh snapshot (read_only false):
 * under READ COMMITTED they then see what the transaction we waited for
 * committed, e.g. that it dropped the model.
 */
static Oid
model_owner(AigcStoreAccess *acc, const char *name)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};
	bool		isnull;

	aigc_store_exec("SELECT owner FROM aigc.model_registry WHERE name OPERATOR(pg_catalog.=) $1",
					1, types, values, NULL, !acc->locked, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return InvalidOid;
	return DatumGetObjectId(result_value(0, 1, &isnull));
}

static bool
granted(AigcStoreAccess *acc, const char *name, const char *privilege)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2] = {CStringGetTextDatum(name), CStringGetTextDatum(privilege)};

	aigc_store_exec("SELECT grantee FROM aigc.model_grants "
					" WHERE name OPERATOR(pg_catalog.=) $1 AND privilege OPERATOR(pg_catalog.=) $2",
					2, types, values, NULL, !acc->locked, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Oid			grantee = DatumGetObjectId(result_value(i, 1, &isnull));

		/* grantee 0 is PUBLIC; grants to a role reach its members */
		if (!OidIsValid(grantee) || has_privs_of_role(acc->caller, grantee))
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
holds_privilege(AigcStoreAccess *acc, const char *name, Oid owner,
				const char *privilege)
{
	if (has_privs_of_role(acc->caller, owner))
		return true;
	if (strcmp(privilege, "owner") == 0)
		return false;
	return granted(acc, name, privilege);
}

void
aigc_store_check(AigcStoreAccess *acc, const char *name, const char *privilege)
{
	Oid			owner = model_owner(acc, name);
	char	   *owner_name;

	check_privilege_name(privilege);
	if (!OidIsValid(owner))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" does not exist", name),
				 errhint("SELECT name, version FROM aigc.models lists the models you may use.")));
	if (holds_privilege(acc, name, owner, privilege))
		return;
	/* a role dropped while the library was not loaded leaves its OID */
	owner_name = GetUserNameFromId(owner, true);
	if (owner_name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for model \"%s\"", name),
				 errdetail("The model belongs to role OID %u, which was dropped.", owner),
				 errhint("A superuser can give it to another role with aigc.reassign_models('%u', role) or drop it.",
						 owner)));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for model \"%s\"", name),
			 errdetail("Privilege \"%s\" is needed; the model belongs to role \"%s\".",
					   privilege, owner_name),
			 errhint("The owner can grant it with aigc_grant().")));
}

/*
 * Under REPEATABLE READ and SERIALIZABLE the snapshot cannot move past a
 * transaction we waited for: writing on a stale view of the model would end
 * in 23505 or 23503 (after a whole training).  If the model's rows differ
 * from the latest committed ones, fail now as PostgreSQL fails write
 * conflicts there.
 */
static void
check_snapshot_current(const char *name)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};
	SPIPlanPtr	plan;
	char	   *seen;
	char	   *latest;

	plan = SPI_prepare("SELECT pg_catalog.concat_ws(' ', "
					   " (SELECT pg_catalog.count(*) FROM aigc.model_registry WHERE name OPERATOR(pg_catalog.=) $1), "
					   " (SELECT pg_catalog.count(*) FROM aigc.model_store WHERE name OPERATOR(pg_catalog.=) $1), "
					   " (SELECT pg_catalog.max(version) FROM aigc.model_store WHERE name OPERATOR(pg_catalog.=) $1), "
					   " (SELECT pg_catalog.count(*) FROM aigc.deployments WHERE name OPERATOR(pg_catalog.=) $1), "
					   " (SELECT pg_catalog.max(seq) FROM aigc.deployments WHERE name OPERATOR(pg_catalog.=) $1))",
					   1, types);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	/* not read-only: the transaction snapshot with this transaction's changes */
	if (SPI_execute_plan(plan, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "model store query failed");
	seen = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (SPI_execute_snapshot(plan, values, NULL, GetLatestSnapshot(), InvalidSnapshot,
							 true, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "model store query failed");
	latest = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (strcmp(seen, latest) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access to model \"%s\"", name),
				 errdetail("Another transaction changed the model after this transaction's snapshot was taken."),
				 errhint("Retry the transaction.")));
	SPI_freeplan(plan);
}

/*
 * Serialise trainings and lifecycle changes of one model until the end of
 * the transaction, so each training gets its own next version (and the first
 * creates the registry row) and nothing drops the model under a deployment.
 * With wait false, ERROR 55P03 instead of waiting for the holder.
 */
void
aigc_store_lock(AigcStoreAccess *acc, const char *name, bool wait)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};
	bool		isnull;

	if (wait)
		aigc_store_exec("SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended("
						"'aigc_pg model ' OPERATOR(pg_catalog.||) $1, 0))",
						1, types, values, NULL, false, SPI_OK_SELECT);
	else
	{
		aigc_store_exec("SELECT pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtextextended("
						"'aigc_pg model ' OPERATOR(pg_catalog.||) $1, 0))",
						1, types, values, NULL, false, SPI_OK_SELECT);
		if (!DatumGetBool(result_value(0, 1, &isnull)))
			ereport(ERROR,
					(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
					 errmsg("model \"%s\" is being trained or changed by another transaction", name),
					 errhint("Retry when that transaction has ended.")));
	}
	if (IsolationUsesXactSnapshot())
		check_snapshot_current(name);
	acc->locked = true;
}

void
aigc_store_lock_check(AigcStoreAccess *acc, const char *name,
					  const char *privilege)
{
	aigc_store_lock(acc, name, true);
	aigc_store_check(acc, name, privilege);
}

void
aigc_store_require_version(AigcStoreAccess *acc, const char *name, int version)
{
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2] = {CStringGetTextDatum(name), Int32GetDatum(version)};

	aigc_store_exec("SELECT 1 FROM aigc.model_store "
					" WHERE name OPERATOR(pg_catalog.=) $1 AND version OPERATOR(pg_catalog.=) $2",
					2, types, values, NULL, !acc->locked, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" has no version %d", name, version)));
}

/*
 * Before a training reads any row: lock the name (55P03 if another
 * transaction trains or changes it), then check privilege "train" on an
 * existing model or create the registry row that makes the caller the owner.
 */
void
aigc_store_claim(const char *name)
{
	AigcStoreAccess acc;
	Oid			types[2] = {TEXTOID, OIDOID};
	Datum		values[2];

	aigc_store_begin(&acc);
	aigc_store_lock(&acc, name, false);
	if (OidIsValid(model_owner(&acc, name)))
		aigc_store_check(&acc, name, "train");
	else
	{
		values[0] = CStringGetTextDatum(name);
		values[1] = ObjectIdGetDatum(acc.caller);
		/* under REPEATABLE READ a row committed since our snapshot: 40001 */
		aigc_store_exec("INSERT INTO aigc.model_registry (name, owner) VALUES ($1, $2) "
						"ON CONFLICT (name) DO NOTHING",
						2, types, values, NULL, false, SPI_OK_INSERT);
		if (SPI_processed == 0)
			aigc_store_check(&acc, name, "train");
	}
	aigc_store_end(&acc);
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
	Oid			types[13] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID,
		JSONBOID, JSONBOID, INT8OID, FLOAT8OID, JSONBOID, BYTEAOID, TEXTOID, JSONBOID};
	Datum		values[13];
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
	values[12] = PointerGetDatum(e->privacy);

	aigc_store_begin(&acc);
	values[11] = CStringGetTextDatum(GetUserNameFromId(acc.caller, false));

	/* held since aigc_store_claim; checks again what this transaction did since */
	aigc_store_lock_check(&acc, e->name, "train");
	/*
	 * The alias t: Citus mis-deparses RETURNING here without one.  Column
	 * privacy only when there is a record, so that this library still
	 * stores other models in a 0.1.0 store not yet updated.
	 */
	aigc_store_exec(psprintf("INSERT INTO aigc.model_store AS t "
							 "(name, version, kind, source_kind, source, columns, hyperparams, "
							 " loss, train_rows, train_seconds, stats, weights, created_by%s) "
							 "SELECT $1, coalesce(pg_catalog.max(version), 0) OPERATOR(pg_catalog.+) 1, "
							 "       $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12%s "
							 "  FROM aigc.model_store WHERE name OPERATOR(pg_catalog.=) $1 "
							 "RETURNING t.version",
							 e->privacy ? ", privacy" : "", e->privacy ? ", $13" : ""),
					e->privacy ? 13 : 12, types, values, NULL, false,
					SPI_OK_INSERT_RETURNING);
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

	/* ORDER BY seq DESC sorts with int4's default btree opclass, not by name */
	aigc_store_exec("SELECT coalesce((SELECT version FROM aigc.deployments "
					"                  WHERE name OPERATOR(pg_catalog.=) $1 "
					"                  ORDER BY seq DESC LIMIT 1), "
					"                 (SELECT pg_catalog.max(version) FROM aigc.model_store "
					"                   WHERE name OPERATOR(pg_catalog.=) $1))",
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
	bool		in_use;

	aigc_store_begin(&acc);
	aigc_store_check(&acc, name, "use");
	in_use = version <= 0;
	if (in_use)
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

	/*
	 * The version in use was read with a fresh snapshot; the statement's
	 * own may predate the training that made it (a trigger's insert racing
	 * a retrain and deploy), so its weights are read with a fresh one too.
	 */
	aigc_store_exec("SELECT weights FROM aigc.model_store "
					" WHERE name OPERATOR(pg_catalog.=) $1 AND version OPERATOR(pg_catalog.=) $2",
					2, types, values, NULL, !in_use, SPI_OK_SELECT);
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
	owner = model_owner(&acc, name);
	result = OidIsValid(owner) &&
		holds_privilege(&acc, name, owner, privilege);
	aigc_store_end(&acc);
	return result;
}
