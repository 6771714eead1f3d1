/*
 * model_store.c
 *		Reads and writes aigc.model_store through SPI, inside the caller's
 *		transaction: a training that rolls back leaves no model behind.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "model_store.h"

int
aigc_store_insert(const AigcStoreEntry *e)
{
	Oid			types[11] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID,
		JSONBOID, JSONBOID, INT8OID, FLOAT8OID, JSONBOID, BYTEAOID};
	Datum		values[11];
	bool		isnull;
	int			version;
	int			ret;

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

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/*
	 * Serialise concurrent trainings of one name, so each gets its own next
	 * version instead of a unique violation at commit.
	 */
	ret = SPI_execute_with_args("SELECT pg_advisory_xact_lock(hashtext('aigc_pg model ' || $1))",
								1, types, values, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not lock model name: %s", SPI_result_code_string(ret));

	ret = SPI_execute_with_args("INSERT INTO aigc.model_store "
								"(name, version, kind, source_kind, source, columns, hyperparams, "
								" loss, train_rows, train_seconds, stats, weights) "
								"SELECT $1, coalesce(max(version), 0) + 1, $2, $3, $4, $5, $6, "
								"       $7, $8, $9, $10, $11 "
								"  FROM aigc.model_store WHERE name = $1 "
								"RETURNING version",
								11, types, values, NULL, false, 0);
	if (ret != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
		elog(ERROR, "could not store model: %s", SPI_result_code_string(ret));
	version = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	return version;
}

AigcModel *
aigc_store_load(const char *name, int version, int *loaded_version)
{
	MemoryContext caller = CurrentMemoryContext;
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2];
	char		nulls[2] = {' ', version > 0 ? ' ' : 'n'};
	bool		isnull;
	bytea	   *blob;
	AigcModel  *model;
	int			ret;

	values[0] = CStringGetTextDatum(name);
	values[1] = Int32GetDatum(version);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = SPI_execute_with_args("SELECT version, weights FROM aigc.model_store "
								" WHERE name = $1 AND ($2 IS NULL OR version = $2) "
								" ORDER BY version DESC LIMIT 1",
								2, types, values, nulls, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read model store: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
	{
		if (version > 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("model \"%s\" has no version %d", name, version)));
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" does not exist", name),
				 errhint("SELECT name, version FROM aigc.models lists the trained models.")));
	}
	*loaded_version = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
												  SPI_tuptable->tupdesc, 1, &isnull));
	blob = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0],
										 SPI_tuptable->tupdesc, 2, &isnull));

	/* the model must outlive SPI's memory */
	MemoryContextSwitchTo(caller);
	model = aigc_model_deserialize(VARDATA_ANY(blob), VARSIZE_ANY_EXHDR(blob));
	SPI_finish();
	return model;
}
