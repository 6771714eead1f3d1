/*
 * backend_shim.h
 *		The few backend services the model (de)serialiser needs, outside a
 *		server: a tracked palloc that is reset between inputs like a memory
 *		context, and ereport whose ERROR longjmps to the caller.
 */
#ifndef AIGC_BACKEND_SHIM_H
#define AIGC_BACKEND_SHIM_H

#include "postgres.h"

#include <setjmp.h>

/* Live bytes one input may hold; past it the shim reports a finding */
#define AIGC_SHIM_MAX_LIVE ((Size) 256 * 1024 * 1024)

/* Where ereport(ERROR) jumps; NULL makes an ERROR fatal (seed generator) */
extern sigjmp_buf *aigc_shim_error_jmp;

/* The last ERROR: SQLSTATE and "message: detail" */
extern int	aigc_shim_sqlstate;
extern char aigc_shim_message[1024];

/* Free every chunk still allocated, like resetting a memory context */
extern void aigc_shim_reset(void);

/* Report a finding on stderr and abort, so the fuzzer keeps the input */
extern void aigc_shim_finding(const char *fmt,...) pg_attribute_printf(1, 2) pg_attribute_noreturn();

#endif
