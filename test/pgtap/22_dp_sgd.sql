-- DP-SGD building blocks (docs/privacy.md): per-example gradient norms of a
-- two-layer network, a VAE and a transformer without materialising
-- per-example gradients, clipping and
-- the clipped sum as a GEMM, all against per-example gradients materialised
-- one example per backward pass (also for a tiny VAE and a GAN's
-- discriminator); Gaussian noise and Poisson subsampling
-- against their distributions (fixed seeds).
BEGIN;
SELECT plan(24);

CREATE TEMP TABLE chk AS SELECT * FROM aigc.dp_sgd_check();

SELECT is((SELECT count(*)::int FROM chk), 23, 'the check reports 23 statistics');

-- the VAE's per-example norms (every linear layer and sigma), and its clipped
-- sum at the median norm, against materialised per-example gradients of a
-- tiny VAE
SELECT ok(value < 1e-5, format('%s: %s = %s over %s examples', component, statistic, value, checked))
  FROM chk WHERE component = 'vae per-example norms' ORDER BY statistic;

-- the GAN discriminator's per-row norms of critic plus gradient penalty (with
-- their cross terms), its clipped sum at the median norm and the rows'
-- category counts, against materialised per-row gradients of a tiny GAN
SELECT ok(value < 1e-5, format('%s: %s = %s over %s', component, statistic, value, checked))
  FROM chk WHERE component = 'gan per-example norms' ORDER BY statistic;

SELECT ok(value < 1e-5, format('%s: %s = %s over %s examples', component, statistic, value, checked))
  FROM chk WHERE component = 'per-example norms' ORDER BY statistic;

-- one example = one row of T tokens: a linear layer's gradient sums over the
-- row's positions; its norm from the positions' Gram matrices (ghost
-- clipping) and materialised, against the explicit sum
SELECT ok(value < 1e-5, format('%s: %s = %s over %s examples', component, statistic, value, checked))
  FROM chk WHERE component = 'sequence linear per-example norms' ORDER BY statistic;

-- the transformer's per-row norms (every projection, LayerNorm, embedding and
-- the head) and its clipped sum at the median norm, against per-row gradients
-- materialised one row per backward pass of a tiny transformer
SELECT ok(value < 1e-4, format('%s: %s = %s over %s', component, statistic, value, checked))
  FROM chk WHERE component = 'transformer per-example norms' ORDER BY statistic;

SELECT ok(value >= 1 AND value < checked,
          format('clipping at the median norm clips some examples and not all (%s of %s)', value, checked))
  FROM chk WHERE statistic = 'examples clipped';
SELECT ok(value <= 1 + 1e-6 AND value > 1 - 1e-5,
          format('the largest clipped norm is max_grad_norm (ratio %s)', value))
  FROM chk WHERE statistic = 'largest clipped norm / max_grad_norm';
SELECT ok(value < 1e-5, format('the clipped sum of the GEMM equals the sum of clipped per-example gradients (relative error %s)', value))
  FROM chk WHERE statistic = 'relative error of the clipped sum';

-- 200000 draws: the standard error of the sample stddev ratio is 1/sqrt(2 n) = 0.0016
SELECT ok(abs(value) < 5, format('noise mean is 0 (%s standard errors)', value))
  FROM chk WHERE statistic = 'mean in standard errors';
SELECT ok(abs(value - 1) < 0.01, format('noise stddev is noise_multiplier * max_grad_norm (ratio %s)', value))
  FROM chk WHERE statistic = 'sample stddev / stddev';
SELECT is(value, 0::float8, 'the same seed gives the same noise')
  FROM chk WHERE statistic = 'largest difference between two runs of one seed';

SELECT ok(abs(value) < 5, format('Poisson batches hold q n rows on average (%s standard deviations off)', value))
  FROM chk WHERE statistic = 'rows selected, in standard deviations from the expectation';
SELECT ok(abs(value) < 5, format('selected rows are spread evenly over the table (%s standard deviations)', value))
  FROM chk WHERE statistic = 'first half minus expectation, in standard deviations';
SELECT is(value, 0::float8, 'selected rows come in increasing order')
  FROM chk WHERE statistic = 'rows out of order';
SELECT is(value, 100000::float8, 'rate 1 selects every row')
  FROM chk WHERE statistic = 'rows selected at rate 1, in order';

SELECT * FROM finish();
ROLLBACK;
