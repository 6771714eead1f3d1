/*
 * eval_efficacy.c
 *		Machine-learning efficacy: how well a model trained on synthetic rows
 *		predicts a target column of real rows it never saw (TSTR), against
 *		the same model trained on real rows (TRTR), both tested on one real
 *		holdout.
 *
 * A categorical or boolean target is classified by one-vs-rest logistic
 * regression (logreg.c; one fit for two classes); a continuous target is
 * fitted by least squares through the normal equations, X'X and X'y by
 * OpenBLAS, solved by Cholesky in double precision.  The features are the
 * other columns, encoded as for detection (eval_encode.c) and standardised
 * with the training side's statistics.  Rows with a NULL target are left
 * out on every side.
 */
#include "postgres.h"

#include <math.h>
#include <string.h>

#include <cblas.h>

#include "miscadmin.h"

#include "eval/evaluate.h"

#define EFFICACY_TEST_SHARE	0.3
#define EFFICACY_TEST_ROWS	5000	/* real holdout rows at most */
#define EFFICACY_TRAIN_ROWS 10000	/* training rows per side at most */
#define EFFICACY_ITERATIONS 300
#define RIDGE				1e-6	/* keeps X'X positive definite */

/* The rows of rows[0..n) whose target is not NULL */
static int
non_null_rows(const AigcColumnData *t, const int64 *rows, int n, int64 *out)
{
	int			m = 0;

	for (int i = 0; i < n; i++)
		if (!t->isnull[rows[i]])
			out[m++] = rows[i];
	return m;
}

/*
 * Feature matrix of train rows followed by test rows, a bias column last,
 * standardised over the training rows.
 */
static float *
features(const AigcRowEncoding *enc, const AigcEvalInput *feat,
		 const AigcColumnData *train_data, const int64 *train, int ntrain,
		 const int64 *test, int ntest, int *dim_out)
{
	int			dim = enc->dim + 1;
	int			n = ntrain + ntest;
	float	   *enc_rows = MemoryContextAllocHuge(CurrentMemoryContext,
												  sizeof(float) * (Size) Max(n, 1) * Max(enc->dim, 1));
	float	   *x = MemoryContextAllocHuge(CurrentMemoryContext,
										   sizeof(float) * (Size) Max(n, 1) * dim);

	aigc_encode_rows(enc, feat, train_data, train, ntrain, enc_rows);
	aigc_encode_rows(enc, feat, feat->real, test, ntest, enc_rows + (Size) ntrain * enc->dim);
	for (int i = 0; i < n; i++)
	{
		memcpy(x + (Size) i * dim, enc_rows + (Size) i * enc->dim, sizeof(float) * enc->dim);
		x[(Size) i * dim + enc->dim] = 1.0f;
	}
	pfree(enc_rows);
	aigc_standardise(x, n, ntrain, dim);
	*dim_out = dim;
	return x;
}

/* Accuracy, macro F1 (over labels seen or predicted) and binary ROC AUC */
static void
classify(const float *x, int dim, int ntrain, int ntest, const int32 *y,
		 int nclasses, double *metrics)
{
	const float *xtest = x + (Size) ntrain * dim;
	int			nfits = nclasses == 2 ? 1 : nclasses;
	float	   *yk = palloc(sizeof(float) * Max(ntrain, 1));
	float	   *w = palloc(sizeof(float) * dim);
	float	   *score = palloc(sizeof(float) * (Size) Max(ntest, 1) * nclasses);
	float	   *col = palloc(sizeof(float) * Max(ntest, 1));
	int64	   *tp = palloc0(sizeof(int64) * nclasses);
	int64	   *npred = palloc0(sizeof(int64) * nclasses);
	int64	   *ntrue = palloc0(sizeof(int64) * nclasses);
	bool	   *positive = palloc(sizeof(bool) * Max(ntest, 1));
	int64		correct = 0;
	double		f1_sum = 0.0;
	int			f1_labels = 0;

	for (int k = 0; k < nfits; k++)
	{
		int			cls = nclasses == 2 ? 1 : k;
		int64		seen = 0;

		for (int i = 0; i < ntrain; i++)
		{
			yk[i] = y[i] == cls ? 1.0f : 0.0f;
			seen += y[i] == cls;
		}
		if (seen == 0 && nclasses > 2)
		{
			/* never a training label: never predicted */
			for (int i = 0; i < ntest; i++)
				score[(Size) i * nclasses + cls] = -INFINITY;
			continue;
		}
		/* sklearn's default C = 1, as detection */
		aigc_logreg_fit(x, yk, ntrain, dim, 1.0 / ntrain, EFFICACY_ITERATIONS, w);
		cblas_sgemv(CblasRowMajor, CblasNoTrans, ntest, dim, 1.0f, xtest, dim, w, 1,
					0.0f, col, 1);
		for (int i = 0; i < ntest; i++)
		{
			score[(Size) i * nclasses + cls] = col[i];
			if (nclasses == 2)
				score[(Size) i * nclasses] = -col[i];
		}
	}
	for (int i = 0; i < ntest; i++)
	{
		const float *s = score + (Size) i * nclasses;
		int			best = 0;
		int			truth = y[ntrain + i];

		for (int k = 1; k < nclasses; k++)
			if (s[k] > s[best])
				best = k;
		npred[best]++;
		ntrue[truth]++;
		if (best == truth)
		{
			tp[best]++;
			correct++;
		}
	}
	for (int k = 0; k < nclasses; k++)
		if (npred[k] + ntrue[k] > 0)
		{
			f1_sum += 2.0 * tp[k] / (npred[k] + ntrue[k]);
			f1_labels++;
		}
	metrics[0] = (double) correct / ntest;
	metrics[1] = f1_sum / f1_labels;
	if (nclasses == 2)
	{
		for (int i = 0; i < ntest; i++)
		{
			col[i] = score[(Size) i * 2 + 1];
			positive[i] = y[ntrain + i] == 1;
		}
		metrics[2] = aigc_roc_auc(col, positive, ntest);
	}
}

/*
 * Least squares with a tiny ridge on the weights (not the bias), solved by
 * Cholesky; R squared on the test rows.
 */
static double
regress(const float *x, int dim, int ntrain, int ntest, const double *y)
{
	int			n = ntrain + ntest;
	double	   *xd = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * (Size) n * dim);
	double	   *a = palloc0(sizeof(double) * dim * dim);
	double	   *b = palloc(sizeof(double) * dim);
	double	   *pred = palloc(sizeof(double) * Max(ntest, 1));
	double		mean = 0.0,
				ss_res = 0.0,
				ss_tot = 0.0;

	for (Size i = 0; i < (Size) n * dim; i++)
		xd[i] = x[i];
	cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, dim, ntrain, 1.0 / ntrain, xd, dim,
				0.0, a, dim);
	cblas_dgemv(CblasRowMajor, CblasTrans, ntrain, dim, 1.0 / ntrain, xd, dim, y, 1, 0.0, b, 1);
	for (int k = 0; k < dim - 1; k++)
		a[k * dim + k] += RIDGE;

	/* a = L L' in place (lower triangle), then L z = b and L' w = z */
	for (int j = 0; j < dim; j++)
	{
		double		d = a[j * dim + j];

		for (int k = 0; k < j; k++)
			d -= a[j * dim + k] * a[j * dim + k];
		/* a standardised constant feature is all zeros: its pivot is the ridge */
		d = sqrt(Max(d, RIDGE));
		a[j * dim + j] = d;
		for (int i = j + 1; i < dim; i++)
		{
			double		s = a[i * dim + j];

			for (int k = 0; k < j; k++)
				s -= a[i * dim + k] * a[j * dim + k];
			a[i * dim + j] = s / d;
		}
	}
	cblas_dtrsv(CblasRowMajor, CblasLower, CblasNoTrans, CblasNonUnit, dim, a, dim, b, 1);
	cblas_dtrsv(CblasRowMajor, CblasLower, CblasTrans, CblasNonUnit, dim, a, dim, b, 1);

	cblas_dgemv(CblasRowMajor, CblasNoTrans, ntest, dim, 1.0, xd + (Size) ntrain * dim, dim,
				b, 1, 0.0, pred, 1);
	for (int i = 0; i < ntest; i++)
		mean += y[ntrain + i];
	mean /= ntest;
	for (int i = 0; i < ntest; i++)
	{
		ss_res += (y[ntrain + i] - pred[i]) * (y[ntrain + i] - pred[i]);
		ss_tot += (y[ntrain + i] - mean) * (y[ntrain + i] - mean);
	}
	pfree(xd);
	pfree(a);
	pfree(b);
	pfree(pred);
	return ss_tot > 0.0 ? 1.0 - ss_res / ss_tot : NAN;
}

/*
 * One side: fit on the training rows `train` of that side (synthetic: true
 * for in->syn), measure on the real holdout rows `test`.
 */
static void
one_side(const AigcEvalInput *in, int target, const AigcEvalInput *feat,
		 const AigcRowEncoding *enc, bool synthetic, const int64 *train,
		 int ntrain, const int64 *test, int ntest, double *metrics)
{
	const AigcColumnData *ytrain = synthetic ? &in->syn[target] : &in->real[target];
	const AigcColumnData *ytest = &in->real[target];
	int			dim;
	float	   *x;

	CHECK_FOR_INTERRUPTS();
	if (ntrain < 2 || ntest < 1)
		return;					/* metrics stay NaN */
	x = features(enc, feat, synthetic ? feat->syn : feat->real, train, ntrain, test, ntest,
				 &dim);
	if (in->cols[target].kind == AIGC_CATEGORICAL)
	{
		int32	   *y = palloc(sizeof(int32) * (ntrain + ntest));

		for (int i = 0; i < ntrain; i++)
			y[i] = (int32) ytrain->value[train[i]];
		for (int i = 0; i < ntest; i++)
			y[ntrain + i] = (int32) ytest->value[test[i]];
		classify(x, dim, ntrain, ntest, y, in->cols[target].ncats, metrics);
		pfree(y);
	}
	else
	{
		double	   *y = palloc(sizeof(double) * (ntrain + ntest));

		for (int i = 0; i < ntrain; i++)
			y[i] = ytrain->value[train[i]];
		for (int i = 0; i < ntest; i++)
			y[ntrain + i] = ytest->value[test[i]];
		metrics[0] = regress(x, dim, ntrain, ntest, y);
		pfree(y);
	}
	pfree(x);
}

void
aigc_ml_efficacy(const AigcEvalInput *in, int target, const int64 *real_perm,
				 const int64 *syn_perm, AigcEfficacy *out)
{
	const AigcColumn *tcol = &in->cols[target];
	int			ntest_all = (int) Min((int64) (EFFICACY_TEST_SHARE * in->nreal),
									  (int64) EFFICACY_TEST_ROWS);
	int			nreal_all = (int) Min(in->nreal - ntest_all, (int64) EFFICACY_TRAIN_ROWS);
	int			nsyn_all = (int) Min(in->nsyn, (int64) EFFICACY_TRAIN_ROWS);
	int64	   *test = palloc(sizeof(int64) * Max(ntest_all, 1));
	int64	   *train_real = palloc(sizeof(int64) * Max(nreal_all, 1));
	int64	   *train_syn = palloc(sizeof(int64) * Max(nsyn_all, 1));
	AigcEvalInput feat;
	AigcRowEncoding enc;
	int			m = 0;

	memset(out, 0, sizeof(*out));
	out->classification = tcol->kind == AIGC_CATEGORICAL;
	out->nmetrics = out->classification ? (tcol->ncats == 2 ? 3 : 2) : 1;
	out->metric[0] = out->classification ? "accuracy" : "R2";
	out->metric[1] = "macro F1";
	out->metric[2] = "ROC AUC";
	for (int k = 0; k < 3; k++)
		out->synthetic[k] = out->real[k] = NAN;
	out->majority = NAN;

	/* the holdout is the tail of the real shuffle, the real training rows its head */
	out->ntest = non_null_rows(&in->real[target], real_perm + (in->nreal - ntest_all),
							   ntest_all, test);
	out->ntrain_real = non_null_rows(&in->real[target], real_perm, nreal_all, train_real);
	out->ntrain_syn = non_null_rows(&in->syn[target], syn_perm, nsyn_all, train_syn);

	/* the features: every column but the target */
	feat.ncols = in->ncols - 1;
	feat.cols = palloc(sizeof(AigcColumn) * Max(feat.ncols, 1));
	feat.real = palloc(sizeof(AigcColumnData) * Max(feat.ncols, 1));
	feat.syn = palloc(sizeof(AigcColumnData) * Max(feat.ncols, 1));
	feat.nreal = in->nreal;
	feat.nsyn = in->nsyn;
	feat.hold = NULL;			/* only real and synthetic rows are encoded */
	feat.nhold = 0;
	for (int c = 0; c < in->ncols; c++)
		if (c != target)
		{
			feat.cols[m] = in->cols[c];
			feat.real[m] = in->real[c];
			feat.syn[m] = in->syn[c];
			m++;
		}
	aigc_row_encoding_init(&enc, &feat);

	if (out->classification && out->ntest > 0)
	{
		int64	   *count = palloc0(sizeof(int64) * Max(tcol->ncats, 1));
		int64		most = 0;

		for (int i = 0; i < out->ntest; i++)
		{
			int			k = (int) in->real[target].value[test[i]];

			count[k]++;
			most = Max(most, count[k]);
		}
		out->majority = (double) most / out->ntest;
		pfree(count);
	}
	one_side(in, target, &feat, &enc, true, train_syn, out->ntrain_syn, test, out->ntest,
			 out->synthetic);
	one_side(in, target, &feat, &enc, false, train_real, out->ntrain_real, test, out->ntest,
			 out->real);
}
