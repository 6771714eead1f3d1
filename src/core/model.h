/*
 * model.h
 *		A trained model in memory, and its stored (versioned, checksummed)
 *		binary form.
 */
#ifndef AIGC_MODEL_H
#define AIGC_MODEL_H

#include "postgres.h"

#include "core/kind.h"
#include "core/column_encoder.h"

/*
 * Bump when the blob layout changes; older versions stay readable.
 * Version 2 added GAN payloads (kind 2), version 3 the exact ranges of
 * bigint columns, version 4 transformer payloads (kind 3), version 5 the
 * noisy slot counts of a private model's categorical columns and the
 * transformer's sampling temperature.  A blob carries the lowest version
 * that can read it (its kind's write_version, or 3 with such a column, 5
 * with slot counts), so VAE blobs without bigint columns or privacy are
 * still written as version 1.
 */
#define AIGC_MODEL_FORMAT_VERSION 5

typedef struct AigcModel
{
	AigcModelKind kind;
	const AigcKindOps *ops;		/* of kind */
	AigcColumnEncoder colenc;
	int			nexcluded;		/* source columns deliberately not modelled */
	char	  **excluded;
	void	   *net;			/* the kind's network: AigcVae, AigcGan */
} AigcModel;

extern bool aigc_model_excludes(const AigcModel *model, const char *colname);

/* Blobs are written in the lowest version that holds them */
extern uint32 aigc_model_format_version(const AigcModel *model);
extern bytea *aigc_model_serialize(const AigcModel *model);
extern AigcModel *aigc_model_deserialize(const char *data, Size len);

#endif
