/*
 * citus_sync.h
 *		aigc_pg on a Citus cluster (citus_sync.c).
 */
#ifndef AIGC_CITUS_SYNC_H
#define AIGC_CITUS_SYNC_H

/*
 * Around a query on the model store: lets Citus read its local replica from
 * inside a pushed-down function, and write it after a parallel read of a
 * distributed table.  begin returns the GUC nest level to hand to end (-1
 * without Citus).
 */
extern int	aigc_citus_store_query_begin(void);
extern void aigc_citus_store_query_end(int nest);

#endif							/* AIGC_CITUS_SYNC_H */
