/*
 * backend_shim.c
 *		Minimal stand-ins for the backend's allocator, error reporting and
 *		interrupt check, so the extension's model code runs in a fuzzer.
 *
 * Every palloc'd chunk is linked into one list and freed by
 * aigc_shim_reset() after each input: the deserialiser leaves its result
 * (or, after an ERROR, its partial work) to the memory context, and this
 * list plays that part.  StringInfo and CRC-32C come from the real
 * libpgcommon and libpgport.
 */
#include "postgres.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "miscadmin.h"

#include "backend_shim.h"

typedef struct Chunk
{
	struct Chunk *prev;
	struct Chunk *next;
	Size		size;
} Chunk;

/* keep the caller's memory as aligned as malloc's */
typedef union ChunkHeader
{
	Chunk		c;
	max_align_t align;
} ChunkHeader;

#define HDR(p) ((ChunkHeader *) ((char *) (p) - sizeof(ChunkHeader)))
#define USER(h) ((void *) ((char *) (h) + sizeof(ChunkHeader)))

static ChunkHeader *chunks;
static Size live_bytes;

sigjmp_buf *aigc_shim_error_jmp;
int			aigc_shim_sqlstate;
char		aigc_shim_message[1024];

/* never set: no signal handler runs here */
volatile sig_atomic_t InterruptPending = false;

void
aigc_shim_finding(const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "aigc fuzz finding: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

void
ProcessInterrupts(void)
{
	aigc_shim_finding("ProcessInterrupts called without a pending interrupt");
}

static void
link_chunk(ChunkHeader *h, Size size)
{
	h->c.size = size;
	h->c.prev = NULL;
	h->c.next = chunks ? &chunks->c : NULL;
	if (chunks)
		chunks->c.prev = &h->c;
	chunks = h;
	live_bytes += size;
}

/* Take a chunk out of the list, before it is freed or reallocated */
static ChunkHeader *
detach_chunk(void *pointer, const char *caller)
{
	ChunkHeader *h;

	if (pointer == NULL)
		aigc_shim_finding("%s(NULL)", caller);
	h = HDR(pointer);
	if (h->c.prev)
		h->c.prev->next = h->c.next;
	else
		chunks = (ChunkHeader *) h->c.next;
	if (h->c.next)
		h->c.next->prev = h->c.prev;
	live_bytes -= h->c.size;
	return h;
}

/*
 * The backend would ERROR beyond MaxAllocSize; a blob that drives the
 * reader anywhere near that is a finding in itself, so the bound is lower.
 */
static void
check_bound(Size size)
{
	if (size > AIGC_SHIM_MAX_LIVE - live_bytes)
		aigc_shim_finding("allocating %zu bytes with %zu live exceeds the %zu-byte bound",
						  (size_t) size, (size_t) live_bytes,
						  (size_t) AIGC_SHIM_MAX_LIVE);
}

void *
palloc(Size size)
{
	ChunkHeader *h;

	check_bound(size);
	h = malloc(sizeof(ChunkHeader) + size);
	if (h == NULL)
		aigc_shim_finding("out of memory allocating %zu bytes", (size_t) size);
	link_chunk(h, size);
	return USER(h);
}

/* Contexts do not exist here: every allocation is a tracked chunk */
MemoryContext CurrentMemoryContext = NULL;

void *
MemoryContextAllocHuge(MemoryContext context, Size size)
{
	return palloc(size);
}

/*
 * Without contexts a reset callback would never run; only core/threads.c
 * registers one, for a thread pool the deserialiser never starts.
 */
void
MemoryContextRegisterResetCallback(MemoryContext context,
								   MemoryContextCallback *cb)
{
	aigc_shim_finding("a memory context callback was registered outside a server");
}

void *
palloc0(Size size)
{
	void	   *p = palloc(size);

	memset(p, 0, size);
	return p;
}

void
pfree(void *pointer)
{
	free(detach_chunk(pointer, "pfree"));
}

void *
repalloc(void *pointer, Size size)
{
	ChunkHeader *h = detach_chunk(pointer, "repalloc");

	check_bound(size);
	h = realloc(h, sizeof(ChunkHeader) + size);
	if (h == NULL)
		aigc_shim_finding("out of memory reallocating to %zu bytes", (size_t) size);
	link_chunk(h, size);
	return USER(h);
}

void
aigc_shim_reset(void)
{
	while (chunks)
	{
		ChunkHeader *next = (ChunkHeader *) chunks->c.next;

		free(chunks);
		chunks = next;
	}
	live_bytes = 0;
}

/*
 * Error reporting: one report at a time, formatted eagerly so that bad
 * format arguments show up under the sanitizers.
 */
static int	cur_elevel;

bool
errstart(int elevel, const char *domain)
{
	if (elevel < ERROR)
		return false;
	cur_elevel = elevel;
	aigc_shim_sqlstate = ERRCODE_INTERNAL_ERROR;
	aigc_shim_message[0] = '\0';
	return true;
}

bool
errstart_cold(int elevel, const char *domain)
{
	return errstart(elevel, domain);
}

int
errcode(int sqlerrcode)
{
	aigc_shim_sqlstate = sqlerrcode;
	return 0;
}

static void
append_message(const char *sep, const char *fmt, va_list ap)
{
	size_t		used = strlen(aigc_shim_message);

	if (used > 0 && used < sizeof(aigc_shim_message))
		used += snprintf(aigc_shim_message + used,
						 sizeof(aigc_shim_message) - used, "%s", sep);
	if (used < sizeof(aigc_shim_message))
		vsnprintf(aigc_shim_message + used, sizeof(aigc_shim_message) - used,
				  fmt, ap);
}

#define MESSAGE_PART(name, sep) \
int \
name(const char *fmt,...) \
{ \
	va_list		ap; \
\
	va_start(ap, fmt); \
	append_message(sep, fmt, ap); \
	va_end(ap); \
	return 0; \
}

MESSAGE_PART(errmsg, "")
MESSAGE_PART(errmsg_internal, "")
MESSAGE_PART(errdetail, ": ")
MESSAGE_PART(errhint, "; hint: ")

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	if (cur_elevel == ERROR && aigc_shim_error_jmp != NULL)
		siglongjmp(*aigc_shim_error_jmp, 1);
	aigc_shim_finding("%s at %s:%d (%s): %s",
					  cur_elevel == ERROR ? "ERROR" : "FATAL or PANIC",
					  filename, lineno, funcname, aigc_shim_message);
}
