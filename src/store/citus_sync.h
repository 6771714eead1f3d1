/*
 * citus_sync.h
 *		aigc_pg on a Citus cluster (citus_sync.c).
 */
#ifndef AIGC_CITUS_SYNC_H
#define AIGC_CITUS_SYNC_H

#include "core/rng.h"

/*
 * Around a query on the model store: lets Citus read its local replica from
 * inside a pushed-down function, and write it after a parallel read of a
 * distributed table.  begin returns the GUC nest level to hand to end (-1
 * without Citus).
 */
extern int	aigc_citus_store_query_begin(void);
extern void aigc_citus_store_query_end(int nest);

/* Whether relid is a Citus distributed (not reference) table */
extern bool aigc_citus_is_distributed(Oid relid);

/*
 * " TABLESAMPLE ..." for reading a Citus distributed table with more than
 * max_rows rows: the workers draw the sample.  "" otherwise.
 */
extern char *aigc_citus_tablesample(Oid relid, int64 max_rows, AigcRng *rng);

/*
 * Waits while a prepared, uncommitted transaction holds a model store table
 * of this node (a Citus worker that missed a COMMIT PREPARED); ERROR after
 * 10 s.  Once per statement that uses a model.
 */
extern void aigc_citus_wait_store_settled(void);

/*
 * A store SELECT rewritten to read this node's replica of the Citus
 * reference tables directly (so that parallel workers can run it); sql
 * itself without Citus or for other statements.  Within SPI.
 */
extern const char *aigc_citus_store_sql(const char *sql);

#endif							/* AIGC_CITUS_SYNC_H */
