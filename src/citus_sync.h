/*
 * citus_sync.h
 *		aigc_pg on a Citus cluster (citus_sync.c).
 */
#ifndef AIGC_CITUS_SYNC_H
#define AIGC_CITUS_SYNC_H

/*
 * Around a write to the model store: lets Citus write its reference tables
 * after a parallel read of a distributed table in the same transaction.
 * begin returns the GUC nest level to hand to end (-1 without Citus).
 */
extern int	aigc_citus_store_write_begin(void);
extern void aigc_citus_store_write_end(int nest);

#endif							/* AIGC_CITUS_SYNC_H */
