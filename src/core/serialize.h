/*
 * serialize.h
 *		Bounds-checked binary writer and reader for stored model blobs.
 *
 * Every read is checked against the remaining length, so a truncated or
 * corrupted blob ends in an ERROR, never in a read past the buffer.
 * Values are written in little-endian order whatever the host.
 */
#ifndef AIGC_SERIALIZE_H
#define AIGC_SERIALIZE_H

#include "postgres.h"
#include "lib/stringinfo.h"

typedef struct AigcReader
{
	const char *data;
	Size		len;
	Size		pos;
} AigcReader;

/* ERROR "stored model is corrupted" (XX001) with detail */
extern void aigc_corrupt(const char *detail) pg_attribute_noreturn();

extern void aigc_write_u32(StringInfo buf, uint32 v);
extern void aigc_write_u64(StringInfo buf, uint64 v);
extern void aigc_write_f64(StringInfo buf, double v);
extern void aigc_write_floats(StringInfo buf, const float *v, Size n);
extern void aigc_write_string(StringInfo buf, const char *s);

extern void aigc_reader_init(AigcReader *r, const char *data, Size len);
extern uint32 aigc_read_u32(AigcReader *r);
extern uint64 aigc_read_u64(AigcReader *r);
extern double aigc_read_f64(AigcReader *r);
extern void aigc_read_floats(AigcReader *r, float *v, Size n);
extern char *aigc_read_string(AigcReader *r);
extern uint32 aigc_read_count(AigcReader *r, uint32 max, const char *what);

#endif
