/*
 * kind.c
 *		The table of model kinds; names, numbers and the list of supported
 *		kinds in error hints all come from it.
 */
#include "postgres.h"

#include <string.h>

#include "core/kind.h"

const AigcKindOps *const aigc_kinds[] = {
	&aigc_vae_ops,
	&aigc_gan_ops,
	&aigc_transformer_ops,
};
const int	aigc_nkinds = lengthof(aigc_kinds);

const AigcKindOps *
aigc_kind_ops(uint32 id)
{
	for (int i = 0; i < aigc_nkinds; i++)
		if ((uint32) aigc_kinds[i]->id == id)
			return aigc_kinds[i];
	return NULL;
}

AigcModelKind
aigc_kind_from_name(const char *name)
{
	StringInfoData names;

	for (int i = 0; i < aigc_nkinds; i++)
		if (strcmp(name, aigc_kinds[i]->name) == 0)
			return aigc_kinds[i]->id;
	/* "a", "a" and "b", "a", "b" and "c" */
	initStringInfo(&names);
	for (int i = 0; i < aigc_nkinds; i++)
		appendStringInfo(&names, "%s\"%s\"",
						 i == 0 ? "" : i == aigc_nkinds - 1 ? " and " : ", ",
						 aigc_kinds[i]->name);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown model kind \"%s\"", name),
			 errhint("The supported kinds are %s.", names.data)));
	pg_unreachable();
}

const char *
aigc_kind_name(AigcModelKind kind)
{
	const AigcKindOps *ops = aigc_kind_ops(kind);

	return ops != NULL ? ops->name : "unknown";
}
