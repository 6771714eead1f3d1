/*
 * eval_privacy.c
 *		Distance to the closest record and exact copies of real rows.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include <cblas.h>

#include "common/hashfn.h"
#include "miscadmin.h"

#include "eval/evaluate.h"

/* reference rows per GEMM block: bounds the query x block distance matrix */
#define DCR_BLOCK 1024

static void
squared_norms(const float *x, int n, int dim, float *out)
{
	for (int i = 0; i < n; i++)
		out[i] = cblas_sdot(dim, x + (Size) i * dim, 1, x + (Size) i * dim, 1);
}

static double
exact_sq_distance(const float *a, const float *b, int dim)
{
	double		s = 0.0;

	for (int k = 0; k < dim; k++)
		s += ((double) a[k] - b[k]) * ((double) a[k] - b[k]);
	return s;
}

/*
 * Euclidean distance from each query row to its nearest reference row.
 * Candidates come blockwise from ||q||^2 + ||r||^2 - 2 q.r, one sgemm per
 * block.  That expansion loses precision for near neighbours (an exact
 * copy may look farther than a close non-copy), so every reference row
 * whose expanded distance is within the expansion's rounding-error bound
 * (dim + 2) eps (||q||^2 + ||r||^2) of the best exact distance so far is
 * measured directly in double precision: the result is the exact nearest
 * neighbour's distance, and an exact copy gets exactly 0.
 */
void
aigc_nearest_distances(const float *query, int nquery, const float *ref,
					   int nref, int dim, double *dist)
{
	int			block = Min(DCR_BLOCK, Max(nref, 1));
	float	   *qn = palloc(sizeof(float) * Max(nquery, 1));
	float	   *rn = palloc(sizeof(float) * block);
	float	   *g = palloc(sizeof(float) * (Size) Max(nquery, 1) * block);
	double	   *best = palloc(sizeof(double) * Max(nquery, 1));	/* squared */
	double		err = (dim + 2) * (double) FLT_EPSILON;

	squared_norms(query, nquery, dim, qn);
	for (int i = 0; i < nquery; i++)
		best[i] = INFINITY;
	for (int first = 0; first < nref; first += block)
	{
		int			nb = Min(block, nref - first);
		const float *rb = ref + (Size) first * dim;

		CHECK_FOR_INTERRUPTS();
		squared_norms(rb, nb, dim, rn);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nquery, nb, dim,
					-2.0f, query, dim, rb, dim, 0.0f, g, nb);
		for (int i = 0; i < nquery; i++)
		{
			const float *gi = g + (Size) i * nb;
			const float *q = query + (Size) i * dim;

			if (best[i] == 0.0)
				continue;		/* a copy: nothing is nearer */
			for (int j = 0; j < nb; j++)
			{
				double		d2 = (double) (qn[i] + rn[j] + gi[j]);

				if (d2 <= best[i] + err * ((double) qn[i] + rn[j]))
				{
					double		e = exact_sq_distance(q, rb + (Size) j * dim, dim);

					if (e < best[i])
						best[i] = e;
				}
			}
		}
	}
	for (int i = 0; i < nquery; i++)
		dist[i] = nref > 0 ? sqrt(best[i]) : NAN;
	pfree(qn);
	pfree(rn);
	pfree(g);
	pfree(best);
}

typedef struct RowHash
{
	uint64		hash;
	int64		row;
} RowHash;

static int
cmp_row_hash(const void *a, const void *b)
{
	uint64		x = ((const RowHash *) a)->hash;
	uint64		y = ((const RowHash *) b)->hash;

	return (x > y) - (x < y);
}

static uint64
row_hash(const AigcColumnData *data, int ncols, int64 r)
{
	uint64		h = 0;

	for (int c = 0; c < ncols; c++)
	{
		double		v = data[c].isnull[r] ? 0.0 : data[c].value[r] + 0.0;	/* -0 is 0 */
		uint64		hv = hash_bytes_extended((const unsigned char *) &v, sizeof(v),
											 data[c].isnull[r]);

		h = hash_combine64(h, hv);
	}
	return h;
}

static bool
rows_equal(const AigcColumnData *a, int64 ra, const AigcColumnData *b, int64 rb,
		   int ncols)
{
	for (int c = 0; c < ncols; c++)
	{
		if (a[c].isnull[ra] != b[c].isnull[rb])
			return false;
		if (!a[c].isnull[ra] && a[c].value[ra] != b[c].value[rb])
			return false;
	}
	return true;
}

/*
 * Synthetic rows equal, on every compared column, to some real row (NULL
 * equal to NULL).  Real rows are sorted by a hash of their values; each
 * synthetic row looks up its hash and compares the values themselves.
 */
int64
aigc_exact_copies(const AigcEvalInput *in)
{
	RowHash    *rh = palloc(sizeof(RowHash) * Max(in->nreal, 1));
	int64		copies = 0;

	for (int64 r = 0; r < in->nreal; r++)
	{
		rh[r].hash = row_hash(in->real, in->ncols, r);
		rh[r].row = r;
	}
	qsort(rh, in->nreal, sizeof(RowHash), cmp_row_hash);
	for (int64 s = 0; s < in->nsyn; s++)
	{
		uint64		h = row_hash(in->syn, in->ncols, s);
		int64		lo = 0,
					hi = in->nreal;

		if (s % 4096 == 0)
			CHECK_FOR_INTERRUPTS();
		/* first entry with hash >= h */
		while (lo < hi)
		{
			int64		mid = lo + (hi - lo) / 2;

			if (rh[mid].hash < h)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < in->nreal && rh[lo].hash == h; lo++)
			if (rows_equal(in->real, rh[lo].row, in->syn, s, in->ncols))
			{
				copies++;
				break;
			}
	}
	pfree(rh);
	return copies;
}
