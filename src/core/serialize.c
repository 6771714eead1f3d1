/*
 * serialize.c
 *		Little-endian primitives for model blobs, with bounds-checked reads.
 */
#include "postgres.h"

#include <string.h>

#include "core/serialize.h"

void
aigc_corrupt(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("stored model is corrupted"),
			 errdetail("%s", what)));
}

void
aigc_write_u32(StringInfo buf, uint32 v)
{
	unsigned char b[4];

	for (int i = 0; i < 4; i++)
		b[i] = (unsigned char) (v >> (8 * i));
	appendBinaryStringInfo(buf, (char *) b, 4);
}

void
aigc_write_u64(StringInfo buf, uint64 v)
{
	aigc_write_u32(buf, (uint32) v);
	aigc_write_u32(buf, (uint32) (v >> 32));
}

void
aigc_write_f64(StringInfo buf, double v)
{
	uint64		bits;

	memcpy(&bits, &v, sizeof(bits));
	aigc_write_u64(buf, bits);
}

void
aigc_write_floats(StringInfo buf, const float *v, Size n)
{
	for (Size i = 0; i < n; i++)
	{
		uint32		bits;

		memcpy(&bits, &v[i], sizeof(bits));
		aigc_write_u32(buf, bits);
	}
}

void
aigc_write_string(StringInfo buf, const char *s)
{
	uint32		len = (uint32) strlen(s);

	aigc_write_u32(buf, len);
	appendBinaryStringInfo(buf, s, len);
}

void
aigc_reader_init(AigcReader *r, const char *data, Size len)
{
	r->data = data;
	r->len = len;
	r->pos = 0;
}

static const unsigned char *
take(AigcReader *r, Size n)
{
	const unsigned char *p;

	if (n > r->len - r->pos)
		aigc_corrupt("The weights end before the data they announce.");
	p = (const unsigned char *) r->data + r->pos;
	r->pos += n;
	return p;
}

uint32
aigc_read_u32(AigcReader *r)
{
	const unsigned char *b = take(r, 4);

	return (uint32) b[0] | ((uint32) b[1] << 8) |
		((uint32) b[2] << 16) | ((uint32) b[3] << 24);
}

uint64
aigc_read_u64(AigcReader *r)
{
	uint64		lo = aigc_read_u32(r);
	uint64		hi = aigc_read_u32(r);

	return lo | (hi << 32);
}

double
aigc_read_f64(AigcReader *r)
{
	uint64		bits = aigc_read_u64(r);
	double		v;

	memcpy(&v, &bits, sizeof(v));
	return v;
}

void
aigc_read_floats(AigcReader *r, float *v, Size n)
{
	if (n > (r->len - r->pos) / 4)
		aigc_corrupt("The weights end before the data they announce.");
	for (Size i = 0; i < n; i++)
	{
		uint32		bits = aigc_read_u32(r);

		memcpy(&v[i], &bits, sizeof(bits));
	}
}

char *
aigc_read_string(AigcReader *r)
{
	uint32		len = aigc_read_u32(r);
	const unsigned char *p = take(r, len);
	char	   *s = palloc(len + 1);

	memcpy(s, p, len);
	s[len] = '\0';
	if (strlen(s) != len)
		aigc_corrupt("A stored name contains a zero byte.");
	return s;
}

/*
 * Read a count and refuse values beyond what any valid model holds, so a
 * corrupted count cannot drive a huge allocation.
 */
uint32
aigc_read_count(AigcReader *r, uint32 max, const char *what)
{
	uint32		n = aigc_read_u32(r);

	if (n > max)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("stored model is corrupted"),
				 errdetail("It declares %u %s; at most %u are possible.",
						   n, what, max)));
	return n;
}
