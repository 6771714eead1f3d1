/*
 * model.c
 *		Model blob layout:
 *
 *		"AIGCPGM\0"		magic, 8 bytes
 *		u32				format version
 *		u32				model kind
 *		u64				payload length
 *		payload			column encoder, excluded columns, network weights
 *		u32				CRC-32C of everything before it
 *
 * A blob is trusted only after the magic, version, length and checksum
 * agree, and every count inside is bounds-checked while reading.
 */
#include "postgres.h"

#include <string.h>

#include "port/pg_crc32c.h"

#include "core/model.h"

#define MODEL_MAGIC "AIGCPGM"
#define MODEL_MAGIC_LEN 8
#define MODEL_HEADER_LEN (MODEL_MAGIC_LEN + 4 + 4 + 8)
#define MODEL_MAX_EXCLUDED 100000

bool
aigc_model_excludes(const AigcModel *model, const char *colname)
{
	for (int i = 0; i < model->nexcluded; i++)
		if (strcmp(model->excluded[i], colname) == 0)
			return true;
	return false;
}

/*
 * The lowest format version that can hold the model: its kind's, or 5 when
 * a categorical column keeps slot counts, or 3 when a bigint column keeps
 * its exact range
 */
uint32
aigc_model_format_version(const AigcModel *model)
{
	uint32		version = model->ops->write_version;

	for (int c = 0; c < model->colenc.ncols; c++)
	{
		if (model->colenc.cols[c].slot_count != NULL)
			version = Max(version, 5);
		if (model->colenc.cols[c].has_exact_range)
			version = Max(version, 3);
	}
	return version;
}

bytea *
aigc_model_serialize(const AigcModel *model)
{
	StringInfoData buf;
	pg_crc32c	crc;
	Size		payload_start;
	bytea	   *result;
	uint32		version = aigc_model_format_version(model);

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, MODEL_MAGIC, MODEL_MAGIC_LEN);
	aigc_write_u32(&buf, version);
	aigc_write_u32(&buf, model->kind);
	aigc_write_u64(&buf, 0);	/* payload length, patched below */
	payload_start = buf.len;

	aigc_column_encoder_write(&model->colenc, &buf, version);
	aigc_write_u32(&buf, model->nexcluded);
	for (int i = 0; i < model->nexcluded; i++)
		aigc_write_string(&buf, model->excluded[i]);
	model->ops->write(model->net, &buf);

	/* patch the payload length in place, little-endian like every field */
	for (int i = 0; i < 8; i++)
		buf.data[MODEL_MAGIC_LEN + 8 + i] =
			(char) ((uint64) (buf.len - payload_start) >> (8 * i));

	INIT_CRC32C(crc);
	COMP_CRC32C(crc, buf.data, buf.len);
	FIN_CRC32C(crc);
	aigc_write_u32(&buf, crc);

	result = palloc(VARHDRSZ + buf.len);
	SET_VARSIZE(result, VARHDRSZ + buf.len);
	memcpy(VARDATA(result), buf.data, buf.len);
	pfree(buf.data);
	return result;
}

AigcModel *
aigc_model_deserialize(const char *data, Size len)
{
	AigcReader	r;
	AigcModel  *model;
	const AigcKindOps *ops;
	uint32		version;
	uint32		kind;
	uint64		payload_len;
	pg_crc32c	crc;
	uint32		stored_crc;

	if (len < MODEL_HEADER_LEN + 4 || memcmp(data, MODEL_MAGIC, MODEL_MAGIC_LEN) != 0)
		aigc_corrupt("The weights do not start with an aigc_pg model header.");
	aigc_reader_init(&r, data, len);
	r.pos = MODEL_MAGIC_LEN;
	version = aigc_read_u32(&r);
	if (version > AIGC_MODEL_FORMAT_VERSION || version == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("stored model has format version %u, but this aigc_pg reads versions up to %u",
						version, AIGC_MODEL_FORMAT_VERSION),
				 errhint("Update the aigc_pg extension to use this model.")));
	kind = aigc_read_u32(&r);
	payload_len = aigc_read_u64(&r);
	if (payload_len != len - MODEL_HEADER_LEN - 4)
		aigc_corrupt("The weights are truncated or have trailing bytes.");

	INIT_CRC32C(crc);
	COMP_CRC32C(crc, data, len - 4);
	FIN_CRC32C(crc);
	r.pos = len - 4;
	stored_crc = aigc_read_u32(&r);
	if (stored_crc != crc)
		aigc_corrupt("The checksum of the weights does not match.");

	ops = aigc_kind_ops(kind);
	if (ops == NULL || version < ops->format_version)
		aigc_corrupt("The model kind is unknown.");

	aigc_reader_init(&r, data + MODEL_HEADER_LEN, payload_len);
	model = palloc0(sizeof(AigcModel));
	model->kind = ops->id;
	model->ops = ops;
	aigc_column_encoder_read(&model->colenc, &r, version);
	model->nexcluded = aigc_read_count(&r, MODEL_MAX_EXCLUDED, "excluded columns");
	model->excluded = palloc(sizeof(char *) * (model->nexcluded + 1));
	for (int i = 0; i < model->nexcluded; i++)
		model->excluded[i] = aigc_read_string(&r);
	model->net = ops->read(&r, &model->colenc, version);
	if (ops->data_dim(model->net) != model->colenc.dim)
		aigc_corrupt("The network's width does not match the column encoding.");
	if (r.pos != r.len)
		aigc_corrupt("The weights have trailing bytes.");
	return model;
}
