/*
 * fuzz_model.c
 *		libFuzzer target for aigc_model_deserialize().
 *
 * Each input is tried twice: as it is, which exercises the header and
 * checksum checks, and with its payload length and CRC-32C patched to
 * match, so that mutations reach the transformer and network readers
 * instead of dying at the checksum.
 *
 * Accepted outcomes are a model or an ERROR with one of the SQLSTATEs a
 * damaged blob may raise.  Anything else is a finding: a sanitizer report,
 * a crash, another SQLSTATE, an allocation past the shim's bound, or an
 * accepted model that breaks an invariant sampling relies on or that does
 * not serialise back to the very same bytes.
 */
#include "postgres.h"

#include <stdint.h>
#include <stdlib.h>

#include "port/pg_crc32c.h"

#include "backend_shim.h"
#include "core/model.h"

/* magic, version, kind, payload length; then the payload, then the CRC */
#define HEADER_LEN 24
#define VERSION_AT 8
#define LENGTH_AT 16
#define DECODE_ROWS 4

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
error_accepted(int sqlstate)
{
	return sqlstate == ERRCODE_DATA_CORRUPTED ||
		sqlstate == ERRCODE_FEATURE_NOT_SUPPORTED ||
		sqlstate == ERRCODE_PROGRAM_LIMIT_EXCEEDED;
}

/*
 * What sample.c takes for granted once a model loads: the spans tile the
 * encoded row, and decoding any activations yields a category index that
 * exists or a value inside the column's range.
 */
static void
check_model(const AigcModel *model)
{
	const AigcColumnEncoder *colenc = &model->colenc;
	int			next = 0;
	float	   *act;
	AigcColumnData *out;
	AigcRng		rng;

	for (int s = 0; s < colenc->nspans; s++)
	{
		const AigcSpan *span = &colenc->spans[s];

		if (span->offset != next || span->width < 1 ||
			span->column < 0 || span->column >= colenc->ncols)
			aigc_shim_finding("span %d (offset %d, width %d) does not follow offset %d",
							  s, span->offset, span->width, next);
		next += span->width;
	}
	if (next != colenc->dim)
		aigc_shim_finding("spans cover %d of %d encoded values", next, colenc->dim);

	for (int c = 0; c < colenc->ncols; c++)
		if (aigc_column_encoder_find_column(colenc, colenc->cols[c].name) > c)
			aigc_shim_finding("column %d is not found by its own name", c);
	for (int i = 0; i < model->nexcluded; i++)
		(void) aigc_model_excludes(model, model->excluded[i]);

	aigc_rng_seed(&rng, 1);
	act = palloc(sizeof(float) * DECODE_ROWS * colenc->dim);
	for (int64 i = 0; i < (int64) DECODE_ROWS * colenc->dim; i++)
		act[i] = (float) aigc_rng_uniform(&rng);
	out = palloc(sizeof(AigcColumnData) * colenc->ncols);
	for (int c = 0; c < colenc->ncols; c++)
	{
		out[c].value = palloc(sizeof(double) * DECODE_ROWS);
		out[c].isnull = palloc(sizeof(bool) * DECODE_ROWS);
	}
	aigc_column_encoder_decode(colenc, act, DECODE_ROWS, out, &rng);
	for (int c = 0; c < colenc->ncols; c++)
	{
		const AigcColumn *col = &colenc->cols[c];

		for (int i = 0; i < DECODE_ROWS; i++)
		{
			double		v = out[c].value[i];

			if (out[c].isnull[i])
			{
				if (!col->has_nulls)
					aigc_shim_finding("column %d decoded NULL without a NULL slot", c);
			}
			else if (col->kind == AIGC_CATEGORICAL ? !(v >= 0 && v < col->ncats) :
					 !(v >= col->min && v <= col->max))
				aigc_shim_finding("column %d decoded %g outside its domain", c, v);
		}
	}
}

static const char *
sqlstate_text(int sqlstate)
{
	static char text[6];

	for (int i = 0; i < 5; i++)
	{
		text[i] = PGUNSIXBIT(sqlstate);
		sqlstate >>= 6;
	}
	return text;
}

/*
 * Reader and writer must agree field for field.  A blob stamped with
 * another version than the writer picks for the model (a VAE in version 2,
 * which version 2 readers accept) is rewritten in that one.
 */
static void
check_round_trip(const AigcModel *model, const char *blob, size_t len)
{
	const unsigned char *v = (const unsigned char *) blob + VERSION_AT;
	bytea	   *again;

	if ((v[0] | v[1] << 8 | v[2] << 16 | (uint32) v[3] << 24) !=
		aigc_model_format_version(model))
		return;
	again = aigc_model_serialize(model);
	if (VARSIZE(again) - VARHDRSZ != len || memcmp(VARDATA(again), blob, len) != 0)
		aigc_shim_finding("an accepted blob of %zu bytes serialises back to %zu different bytes",
						  len, (size_t) (VARSIZE(again) - VARHDRSZ));
}

static void
try_blob(const char *blob, size_t len)
{
	sigjmp_buf	jump;

	if (sigsetjmp(jump, 0) == 0)
	{
		AigcModel  *model;

		aigc_shim_error_jmp = &jump;
		model = aigc_model_deserialize(blob, len);
		check_model(model);
		check_round_trip(model, blob, len);
	}
	else if (!error_accepted(aigc_shim_sqlstate))
		aigc_shim_finding("unexpected SQLSTATE %s: %s",
						  sqlstate_text(aigc_shim_sqlstate), aigc_shim_message);
	aigc_shim_error_jmp = NULL;
	aigc_shim_reset();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *blob;
	uint64		payload_len;
	pg_crc32c	crc;

	try_blob((const char *) data, size);
	if (size < HEADER_LEN + 4)
		return 0;

	blob = malloc(size);
	memcpy(blob, data, size);
	payload_len = size - HEADER_LEN - 4;
	for (int i = 0; i < 8; i++)
		blob[LENGTH_AT + i] = (char) (payload_len >> (8 * i));
	INIT_CRC32C(crc);
	COMP_CRC32C(crc, blob, size - 4);
	FIN_CRC32C(crc);
	for (int i = 0; i < 4; i++)
		blob[size - 4 + i] = (char) (crc >> (8 * i));
	try_blob(blob, size);
	free(blob);
	return 0;
}
