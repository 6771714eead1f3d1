/*
 * aigc_pg.c
 *		Module entry point.  The SQL-callable functions live with what they
 *		do: train.c, sample.c, gradcheck.c, gemm_bench.c.
 */
#include "postgres.h"

#include "fmgr.h"

PG_MODULE_MAGIC;
