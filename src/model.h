/*
 * model.h
 *		A trained model in memory, and its stored (versioned, checksummed)
 *		binary form.
 */
#ifndef AIGC_MODEL_H
#define AIGC_MODEL_H

#include "postgres.h"

#include "transformer.h"
#include "gan.h"
#include "vae.h"

/*
 * Bump when the blob layout changes; older versions stay readable.
 * Version 2 added GAN payloads (kind 2), version 3 the exact ranges of
 * bigint columns.  A blob carries the lowest version that can read it, so
 * VAE blobs without bigint columns are still written as version 1.
 */
#define AIGC_MODEL_FORMAT_VERSION 3

typedef enum AigcModelKind
{
	AIGC_KIND_VAE = 1,
	AIGC_KIND_GAN = 2
} AigcModelKind;

typedef struct AigcModel
{
	AigcModelKind kind;
	AigcTransformer tf;
	int			nexcluded;		/* source columns deliberately not modelled */
	char	  **excluded;
	AigcVae		vae;			/* kind vae */
	AigcGan		gan;			/* kind gan */
} AigcModel;

extern AigcModelKind aigc_kind_from_name(const char *name);
extern const char *aigc_kind_name(AigcModelKind kind);
extern bool aigc_model_excludes(const AigcModel *model, const char *colname);

/* Blobs are written in the lowest version that holds them */
extern uint32 aigc_model_format_version(const AigcModel *model);
extern bytea *aigc_model_serialize(const AigcModel *model);
extern AigcModel *aigc_model_deserialize(const char *data, Size len);

#endif
