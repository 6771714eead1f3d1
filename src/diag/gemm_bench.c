/*
 * gemm_bench.c
 *		aigc.sgemm_gflops(): what OpenBLAS sgemm alone achieves on the matrix
 *		shapes of one training step of a stored model.  Dividing a training
 *		run's achieved GFLOP/s by this says how much of the time training
 *		spends outside GEMM.
 *
 * For that ratio to be honest the baseline runs as the loop does: at the
 * thread count this session trains with (aigc.threads, which aigc_train
 * gives OpenBLAS or splits the batch over; not OpenBLAS's own setting,
 * which training restores when it ends), after an untimed warm-up pass
 * (OpenBLAS allocates its buffers and starts its threads on the first
 * call), with the products of every layer in the order of a step, and with
 * values that stay finite however long it runs.
 */
#include "postgres.h"

#include <cblas.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/builtins.h"

#include "core/threads.h"
#include "store/model_store.h"

PG_FUNCTION_INFO_V1(aigc_sgemm_gflops);

/*
 * The three products of a linear layer's forward and backward pass, with
 * the transposes aigc_linear_forward and aigc_linear_backward use.  The
 * forward product overwrites y (the loop adds to a copied bias: the same
 * work), so y, the stand-in for dy, stays bounded; dw accumulates as the
 * loop's gradients do, growing only linearly.
 */
static void
layer_gemms(const AigcLinear *l, int n, bool need_dx, const float *x,
			const float *w, float *y, float *dw, float *dx)
{
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, l->out, l->in,
				1.0f, x, l->in, w, l->in, 0.0f, y, l->out);
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, l->out, l->in, n,
				1.0f, y, l->out, x, l->in, 1.0f, dw, l->in);
	if (need_dx)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, l->in, l->out,
					1.0f, y, l->out, w, l->in, 0.0f, dx, l->in);
}

/*
 * GFLOP/s of every layer's products, in a step's order, for at least
 * seconds, after an untimed warm-up pass (OpenBLAS's buffers and threads,
 * the caches)
 */
static double
time_gemms(AigcLinear **layers, const int *rows, const bool *need_dx,
		   int nlayers, double seconds, const float *a, const float *b,
		   float *c, float *d, float *e)
{
	double		flops = 0.0;
	double		elapsed = 0.0;
	instr_time	start;

	for (int i = 0; i < nlayers; i++)
		layer_gemms(layers[i], rows[i], need_dx[i], a, b, c, d, e);

	INSTR_TIME_SET_CURRENT(start);
	while (elapsed < seconds)
	{
		instr_time	now;

		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < nlayers; i++)
		{
			layer_gemms(layers[i], rows[i], need_dx[i], a, b, c, d, e);
			flops += aigc_linear_flops(layers[i], rows[i], need_dx[i]);
		}
		INSTR_TIME_SET_CURRENT(now);
		INSTR_TIME_SUBTRACT(now, start);
		elapsed = INSTR_TIME_GET_DOUBLE(now);
	}
	return flops / elapsed / 1e9;
}

Datum
aigc_sgemm_gflops(PG_FUNCTION_ARGS)
{
	char	   *name;
	int			version;
	double		seconds;
	AigcModel  *model;
	AigcLinear *layers[AIGC_KIND_MAX_LINEARS];
	int			rows[AIGC_KIND_MAX_LINEARS];
	bool		need_dx[AIGC_KIND_MAX_LINEARS];
	int			nlayers;
	int			multiple;
	int			batch;
	int			widest = 1;
	int64		most_rows = 1;
	float	   *a,
			   *b,
			   *c,
			   *d,
			   *e;
	volatile double gflops = 0.0;
	int			blas_threads;
	AigcRng		rng;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model must not be NULL")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	batch = PG_ARGISNULL(1) ? 500 : PG_GETARG_INT32(1);
	version = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT32(2);
	seconds = PG_ARGISNULL(3) ? 2.0 : PG_GETARG_FLOAT8(3);
	if (batch < 1 || batch > 1000000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be from 1 to 1000000")));
	if (!(seconds > 0.0 && seconds <= 600.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("seconds must be in (0, 600]")));

	model = aigc_store_load(name, version, &version);
	/* a GAN's discriminator multiplies batch / pac rows of pac rows each */
	multiple = model->ops->batch_multiple(model->net);
	if (batch % multiple != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be a multiple of the model's %s (%d)",
						model->ops->batch_multiple_name, multiple)));
	nlayers = model->ops->linears(model->net, batch, layers, rows, need_dx);
	/* a layer may multiply more rows than the batch (a transformer's positions) */
	for (int i = 0; i < nlayers; i++)
	{
		widest = Max(widest, Max(layers[i]->in, layers[i]->out));
		most_rows = Max(most_rows, rows[i]);
	}
	a = palloc_extended(sizeof(float) * (Size) most_rows * widest, MCXT_ALLOC_HUGE);
	b = palloc(sizeof(float) * (Size) widest * widest);
	c = palloc_extended(sizeof(float) * (Size) most_rows * widest, MCXT_ALLOC_HUGE);
	d = palloc(sizeof(float) * (Size) widest * widest);
	e = palloc_extended(sizeof(float) * (Size) most_rows * widest, MCXT_ALLOC_HUGE);
	aigc_rng_seed(&rng, 1);
	for (int64 i = 0; i < most_rows * widest; i++)
	{
		a[i] = (float) aigc_rng_normal(&rng);
		c[i] = (float) aigc_rng_normal(&rng);
	}
	for (int i = 0; i < widest * widest; i++)
		b[i] = d[i] = (float) aigc_rng_normal(&rng) * 0.01f;

	blas_threads = aigc_blas_set_threads(aigc_threads);
	PG_TRY();
	{
		gflops = time_gemms(layers, rows, need_dx, nlayers, seconds, a, b, c, d, e);
	}
	PG_FINALLY();
	{
		aigc_blas_set_threads(blas_threads);
	}
	PG_END_TRY();
	PG_RETURN_FLOAT8(gflops);
}
