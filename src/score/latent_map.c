/*
 * latent_map.c
 *		aigc_latent_map(): a 2-D picture of a VAE's latent space.  A seeded
 *		sample of n rows of a relation is encoded (aigc_encode: the posterior
 *		means), projected on the two principal components of those means and
 *		returned with the value of a grouping column, the groups' centroids,
 *		the variance the plane explains and how far the groups lie apart.
 *
 * The rows are read through SPI with the caller's privileges.  The sample
 * is the n rows of smallest hashtextextended(row text, seed): deterministic
 * for a seed and the relation's contents, whatever the scan order.  The
 * principal components come from the latent covariance (OpenBLAS ssyrk)
 * by power iteration in double precision; the latent width is small (a
 * few dozen), so this costs nothing next to the encoding.
 */
#include "postgres.h"

#include <math.h>
#include <string.h>

#include <cblas.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "score/score.h"
#include "store/model_cache.h"

PG_FUNCTION_INFO_V1(aigc_latent_map);

#define LATENT_MAP_MAX_ROWS 100000
#define POWER_ITERATIONS	500

typedef struct LatentGroup
{
	char	   *value;			/* NULL: the rows whose group is NULL */
	int64		count;
	double	   *mean;			/* in the latent space */
	double		x;
	double		y;
} LatentGroup;

static int
cmp_group(const void *a, const void *b)
{
	const LatentGroup *ga = a;
	const LatentGroup *gb = b;

	if (ga->value == NULL || gb->value == NULL)
		return (ga->value == NULL) - (gb->value == NULL);
	return strcmp(ga->value, gb->value);
}

/*
 * The leading eigenvector of the symmetric cov (dim x dim), orthogonal to
 * `against` when given; returns its eigenvalue.  The start vector is fixed,
 * so the result is deterministic; the sign is chosen so that the largest
 * component is positive.
 */
static double
leading_eigenvector(const double *cov, int dim, const double *against, double *v)
{
	double	   *w = palloc(sizeof(double) * dim);
	double		lambda = 0.0;
	int			big = 0;

	for (int k = 0; k < dim; k++)
		v[k] = 1.0 + 0.01 * k;
	for (int it = 0; it < POWER_ITERATIONS; it++)
	{
		double		norm;

		if (against != NULL)
			cblas_daxpy(dim, -cblas_ddot(dim, v, 1, against, 1), against, 1, v, 1);
		norm = cblas_dnrm2(dim, v, 1);
		if (norm <= 0.0)
			break;
		cblas_dscal(dim, 1.0 / norm, v, 1);
		cblas_dsymv(CblasRowMajor, CblasLower, dim, 1.0, cov, dim, v, 1, 0.0, w, 1);
		lambda = cblas_ddot(dim, v, 1, w, 1);
		memcpy(v, w, sizeof(double) * dim);
	}
	if (against != NULL)
		cblas_daxpy(dim, -cblas_ddot(dim, v, 1, against, 1), against, 1, v, 1);
	if (cblas_dnrm2(dim, v, 1) > 0.0)
		cblas_dscal(dim, 1.0 / cblas_dnrm2(dim, v, 1), v, 1);
	for (int k = 1; k < dim; k++)
		if (fabs(v[k]) > fabs(v[big]))
			big = k;
	if (v[big] < 0.0)
		cblas_dscal(dim, -1.0, v, 1);
	pfree(w);
	return Max(lambda, 0.0);
}

static void
put(Tuplestorestate *store, TupleDesc desc, const char *kind, const char *group,
	double x, double y, double value, bool xy_null, bool value_null)
{
	Datum		values[5];
	bool		nulls[5] = {false, group == NULL, xy_null, xy_null, value_null};

	values[0] = CStringGetTextDatum(kind);
	values[1] = group != NULL ? CStringGetTextDatum(group) : (Datum) 0;
	values[2] = Float8GetDatum(x);
	values[3] = Float8GetDatum(y);
	values[4] = Float8GetDatum(value);
	tuplestore_putvalues(store, desc, values, nulls);
}

/*
 * The SPI query: the latent means and group values of the sample.  Names
 * are quoted, the encoder is qualified with this function's schema.
 */
static char *
sample_query(FunctionCallInfo fcinfo, Oid relid, const char *group_by)
{
	char	   *schema = get_namespace_name(get_func_namespace(fcinfo->flinfo->fn_oid));
	char	   *rel = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
												 get_rel_name(relid));

	return psprintf("SELECT %s.aigc_encode($1, t), %s FROM "
					"(SELECT * FROM %s t0 "
					"ORDER BY pg_catalog.hashtextextended(t0::pg_catalog.text, $3) LIMIT $2) t",
					quote_identifier(schema),
					group_by != NULL ? psprintf("t.%s::pg_catalog.text", quote_identifier(group_by))
					: "NULL::pg_catalog.text",
					rel);
}

Datum
aigc_latent_map(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext run_cxt;
	char	   *model;
	Oid			relid;
	char	   *group_by;
	int64		n;
	int64		seed;
	AigcCachedModel *m;
	Oid			argtypes[3] = {TEXTOID, INT8OID, INT8OID};
	Datum		args[3];
	int64		rows;
	int			dim = 0;
	float	   *z = NULL;
	char	  **groups;
	double	   *mean,
			   *cov,
			   *v1,
			   *v2,
			   *xy;
	float	   *cov32;
	double		total_var = 0.0,
				l1,
				l2,
				between = 0.0,
				within = 0.0;
	LatentGroup *g;
	int			ng = 0;
	int		   *gid;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model and relation must not be NULL")));
	model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	relid = PG_GETARG_OID(1);
	group_by = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	n = PG_ARGISNULL(3) ? 2000 : PG_GETARG_INT32(3);
	seed = PG_ARGISNULL(4) ? 0 : PG_GETARG_INT64(4);
	if (n < 2 || n > LATENT_MAP_MAX_ROWS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("n must be between 2 and %d", LATENT_MAP_MAX_ROWS)));
	if (group_by != NULL && get_attnum(relid, group_by) == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of group_by does not exist in relation \"%s\"",
						group_by, get_rel_name(relid))));
	/* before reading anything: a kind without an encoder has no latent map */
	m = aigc_model_cache_lookup(model, strlen(model), 0);
	aigc_check_encodable("aigc_latent_map", model, m->model);

	InitMaterializedSRF(fcinfo, 0);
	run_cxt = AllocSetContextCreate(caller, "aigc_latent_map", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(run_cxt);

	args[0] = CStringGetTextDatum(model);
	args[1] = Int64GetDatum(n);
	args[2] = Int64GetDatum(seed);
	SPI_connect();
	if (SPI_execute_with_args(sample_query(fcinfo, relid, group_by), 3, argtypes, args,
							  NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "aigc_latent_map: reading the sample failed");
	rows = (int64) SPI_processed;
	groups = MemoryContextAlloc(run_cxt, sizeof(char *) * Max(rows, 1));
	for (int64 r = 0; r < rows; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		bool		isnull;
		Datum		d = SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull);
		ArrayType  *arr;
		char	   *gv;

		/* aigc_encode is NULL only for a NULL row, which a relation has not */
		Assert(!isnull);
		arr = DatumGetArrayTypeP(d);
		if (z == NULL)
		{
			dim = ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));
			z = MemoryContextAllocHuge(run_cxt, sizeof(float) * (Size) rows * dim);
		}
		memcpy(z + (Size) r * dim, ARR_DATA_PTR(arr), sizeof(float) * dim);
		gv = SPI_getvalue(tup, SPI_tuptable->tupdesc, 2);
		groups[r] = gv != NULL ? MemoryContextStrdup(run_cxt, gv) : NULL;
	}
	SPI_finish();
	if (rows < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("relation \"%s\" has %lld rows; a latent map needs at least 2",
						get_rel_name(relid), (long long) rows)));

	/* centre, covariance, the two leading components */
	mean = palloc0(sizeof(double) * dim);
	for (int64 r = 0; r < rows; r++)
		for (int k = 0; k < dim; k++)
			mean[k] += z[(Size) r * dim + k];
	for (int k = 0; k < dim; k++)
		mean[k] /= rows;
	for (int64 r = 0; r < rows; r++)
		for (int k = 0; k < dim; k++)
			z[(Size) r * dim + k] -= (float) mean[k];
	cov32 = palloc0(sizeof(float) * dim * dim);
	cblas_ssyrk(CblasRowMajor, CblasLower, CblasTrans, dim, (int) rows, 1.0f / (rows - 1),
				z, dim, 0.0f, cov32, dim);
	cov = palloc(sizeof(double) * dim * dim);
	for (int k = 0; k < dim * dim; k++)
		cov[k] = cov32[k];
	for (int k = 0; k < dim; k++)
		total_var += cov[k * dim + k];
	v1 = palloc(sizeof(double) * dim);
	v2 = palloc(sizeof(double) * dim);
	l1 = leading_eigenvector(cov, dim, NULL, v1);
	l2 = dim > 1 ? leading_eigenvector(cov, dim, v1, v2) : 0.0;
	if (dim == 1)
		v2[0] = 0.0;

	/* groups: sorted distinct values, NULL last */
	g = palloc0(sizeof(LatentGroup) * rows);
	for (int64 r = 0; r < rows; r++)
		g[r].value = groups[r];
	qsort(g, rows, sizeof(LatentGroup), cmp_group);
	for (int64 r = 0; r < rows; r++)
		if (ng == 0 || cmp_group(&g[ng - 1], &g[r]) != 0)
			g[ng++].value = g[r].value;
	gid = palloc(sizeof(int) * rows);
	for (int i = 0; i < ng; i++)
		g[i].mean = palloc0(sizeof(double) * dim);

	xy = palloc(sizeof(double) * 2 * rows);
	for (int64 r = 0; r < rows; r++)
	{
		LatentGroup key = {.value = groups[r]};
		LatentGroup *hit = bsearch(&key, g, ng, sizeof(LatentGroup), cmp_group);
		double		x = 0.0,
					y = 0.0;

		gid[r] = (int) (hit - g);
		for (int k = 0; k < dim; k++)
		{
			x += z[(Size) r * dim + k] * v1[k];
			y += z[(Size) r * dim + k] * v2[k];
			hit->mean[k] += z[(Size) r * dim + k];
		}
		xy[2 * r] = x;
		xy[2 * r + 1] = y;
		hit->count++;
		hit->x += x;
		hit->y += y;
	}
	/* between- and within-group sums of squares in the whole latent space */
	for (int i = 0; i < ng; i++)
	{
		g[i].x /= g[i].count;
		g[i].y /= g[i].count;
		for (int k = 0; k < dim; k++)
		{
			g[i].mean[k] /= g[i].count;
			between += g[i].count * g[i].mean[k] * g[i].mean[k];
		}
	}
	for (int64 r = 0; r < rows; r++)
		for (int k = 0; k < dim; k++)
		{
			double		d = z[(Size) r * dim + k] - g[gid[r]].mean[k];

			within += d * d;
		}

	MemoryContextSwitchTo(caller);
	for (int64 r = 0; r < rows; r++)
		put(rsinfo->setResult, rsinfo->setDesc, "row", groups[r], xy[2 * r], xy[2 * r + 1],
			0.0, false, true);
	for (int i = 0; i < ng; i++)
		put(rsinfo->setResult, rsinfo->setDesc, "centroid", g[i].value, g[i].x, g[i].y,
			(double) g[i].count, false, false);
	/* x, y: the shares of the latent variance along the two axes */
	put(rsinfo->setResult, rsinfo->setDesc, "explained", NULL,
		total_var > 0.0 ? l1 / total_var : 0.0, total_var > 0.0 ? l2 / total_var : 0.0,
		total_var > 0.0 ? (l1 + l2) / total_var : 0.0, false, false);
	/* between / within variance, each per degree of freedom (Calinski-Harabasz) */
	put(rsinfo->setResult, rsinfo->setDesc, "separation", NULL, 0.0, 0.0,
		(ng - 1) * within > 0.0 ? (between / (ng - 1)) / (within / (rows - ng)) : 0.0,
		true, ng < 2 || rows <= ng || within <= 0.0);
	MemoryContextDelete(run_cxt);
	return (Datum) 0;
}
