-- The Rényi-DP accountant of the Poisson-subsampled Gaussian mechanism
-- (docs/privacy.md): closed forms, published values of TensorFlow Privacy's
-- and Opacus' own test suites, an independent multi-precision integration,
-- the inverse search for the noise multiplier, monotonicity and bad input.
BEGIN;
SELECT plan(51);

CREATE FUNCTION pg_temp.rel_err(x float8, y float8) RETURNS float8
LANGUAGE sql IMMUTABLE AS $$ SELECT abs(x - y) / greatest(abs(y), 1e-300) $$;

-- The default order grid, as docs/privacy.md lists it
CREATE TEMP TABLE grid AS
SELECT array_agg(a ORDER BY a) AS orders
  FROM (SELECT 1 + x / 10.0::float8 AS a FROM generate_series(1, 99) x
        UNION ALL SELECT a FROM generate_series(12, 64) a
        UNION ALL SELECT unnest('{128, 256, 512}'::float8[])) g;

-- Opacus' RDPAccountant.DEFAULT_ALPHAS (opacus/accountants/rdp.py)
CREATE TEMP TABLE opacus_alphas AS
SELECT array_agg(a ORDER BY a) AS orders
  FROM (SELECT 1 + x / 10.0::float8 AS a FROM generate_series(1, 99) x
        UNION ALL SELECT a FROM generate_series(12, 63) a) g;

-- 1. Closed forms: without subsampling (sample_rate 1) one step is the
-- Gaussian mechanism, RDP = alpha / (2 sigma^2), and T steps compose to T times it.
SELECT ok(bool_and(pg_temp.rel_err(r, steps * a / (2 * s * s)) < 1e-9),
          'sample_rate 1: RDP = steps * alpha / (2 sigma^2) at every default order, to 1e-9')
  FROM (VALUES (0.5, 1), (1.0, 10), (3.7, 1000), (20.0, 100000)) v(s, steps),
       LATERAL unnest((SELECT orders FROM grid), aigc.dp_rdp(s, 1, steps)) u(a, r);

SELECT ok(bool_and(pg_temp.rel_err(
              aigc.dp_epsilon(s, 1, steps, d),
              (SELECT min(steps * a / (2 * s * s) + ln(1 - 1 / a) - (ln(d) + ln(a)) / (a - 1))
                 FROM unnest((SELECT orders FROM grid)) a)) < 1e-9),
          'sample_rate 1: epsilon = min over the grid of T alpha/(2 sigma^2) + log((alpha-1)/alpha) - (log delta + log alpha)/(alpha-1), to 1e-9')
  FROM (VALUES (0.8, 1, 1e-5), (1.0, 10, 1e-6), (4.0, 100, 1e-5), (10.0, 5000, 1e-8)) v(s, steps, d);

-- TF Privacy rdp_privacy_accountant_test.py, test_compute_epsilon_delta_gaussian
-- (and rdp_accountant_test.py, test_get_privacy_spent_check_target_delta):
-- noise 4.530877117 without subsampling is exactly (1, 1e-6)-DP over the
-- orders 1.000, 1.001, ..., 99.999 (TF asserts 7 places).
SELECT ok(abs(epsilon - 1.0) < 1e-7,
          format('TF Privacy: sigma 4.530877117, q 1, delta 1e-6 over orders 1.001..99.999 gives epsilon 1 (%s)', epsilon))
  FROM aigc.dp_privacy_spent(4.530877117, 1, 1, 1e-6,
                             (SELECT array_agg(0.001 * i) FROM generate_series(1001, 99999) i));
SELECT ok(pg_temp.rel_err(aigc.dp_epsilon(4.530877117, 1, 1, 1e-6), 1.0) < 0.01,
          'the same with the default grid, to 1%');

-- 2. Published RDP values of the subsampled mechanism.
-- TF Privacy rdp_accountant_test.py, test_compute_rdp_scalar:
-- compute_rdp(q=0.1, noise_multiplier=2, steps=10, orders=5) = 0.07737 (5 places)
SELECT ok(abs((aigc.dp_rdp(2, 0.1, 10, '{5}'))[1] - 0.07737) < 1e-5,
          'TF Privacy test_compute_rdp_scalar: 0.07737');

-- TF Privacy rdp_privacy_accountant_test.py, test_compute_rdp_poisson_sampled_gaussian
-- (rdp_accountant_test.py, test_compute_rdp_sequence has the same values):
-- q 0.01, noise 2.5, 50 steps, orders 1.5, 2.5, 5, 50, 100; TF's tolerance rtol 1e-4
SELECT ok(pg_temp.rel_err(r, expected) < 1e-4,
          format('TF Privacy test_compute_rdp_poisson_sampled_gaussian: order %s RDP %s vs %s', a, r, expected))
  FROM unnest('{1.5, 2.5, 5, 50, 100}'::float8[],
              aigc.dp_rdp(2.5, 0.01, 50, '{1.5, 2.5, 5, 50, 100}'),
              '{6.5007e-04, 1.0854e-03, 2.1808e-03, 2.3846e-02, 1.6742e+02}'::float8[]) u(a, r, expected);

-- TF Privacy rdp_privacy_accountant_test.py, test_compute_log_a_equals_mp
-- compares log(A_alpha) with a multi-precision integral at rtol 1e-4, at the
-- parameters below (the last three are ours).  The reference RDP values are
-- that integral, computed by test/pgtap/helpers/dp_mpmath_reference.py.
SELECT ok(pg_temp.rel_err((aigc.dp_rdp(s, q, 1, ARRAY[a]))[1], expected) < 1e-4,
          format('RDP at q %s, sigma %s, order %s agrees with the mpmath integral', q, s, a))
  FROM (VALUES (1e-07, 0.1, 1.01, 4.003412322526e-06),
               (1e-06, 0.1, 256, 1.278612915898e+04),
               (1e-05, 0.1, 256.1, 1.279344083336e+04),
               (1e-06, 1, 27, 3.372888963403e-11),
               (0.0001, 1.0, 1.5, 1.288537390767e-08),
               (0.001, 1.0, 2, 1.718280352215e-06),
               (0.01, 10, 20, 1.006826311202e-05),
               (0.1, 100, 20.5, 1.025221459388e-05),
               (0.99, 0.1, 256, 1.279998875826e+04),
               (0.999, 100, 256.1, 1.277972574666e-02),
               (0.04, 1.5, 3.9, 1.833202199584e-03),
               (0.5, 2, 10.5, 6.585099503801e-01),
               (0.3, 0.7, 7.3, 6.053907043794e+00)) v(q, s, a, expected);

-- 3. The conversion to (epsilon, delta).
-- TF Privacy rdp_privacy_accountant_test.py, test_compute_epsilon_delta_pure_dp
-- (rdp_accountant_test.py, test_get_privacy_spent_check_target_delta): constant
-- RDP 1.1 over orders 2..32 at delta 1e-5 is epsilon 1.32783806176 at order 32
SELECT ok(abs(epsilon - 1.32783806176) < 1e-9 AND best_order = 32,
          format('TF Privacy test_compute_epsilon_delta_pure_dp: 1.32783806176 at order 32 (%s at %s)', epsilon, best_order))
  FROM aigc.dp_rdp_to_epsilon((SELECT array_agg(a::float8) FROM generate_series(2, 32) a),
                              array_fill(1.1::float8, ARRAY[31]), 1e-5);

-- Opacus opacus/tests/accountants_test.py, test_rdp_accountant: noise 1.5,
-- sample rate 0.04, int(90 / 0.04) = 2250 steps, delta 1e-5 over
-- DEFAULT_ALPHAS gives 7.32911117143 (7 places)
SELECT ok(abs(epsilon - 7.32911117143) < 1e-7,
          format('Opacus test_rdp_accountant: epsilon 7.32911117143 (%s at order %s)', epsilon, best_order))
  FROM aigc.dp_privacy_spent(1.5, 0.04, 2250, 1e-5, (SELECT orders FROM opacus_alphas));
SELECT ok(epsilon <= 7.32911117143 + 1e-9 AND pg_temp.rel_err(epsilon, 7.32911117143) < 0.01,
          'the default grid contains Opacus'' and is within 1% of it, never above')
  FROM aigc.dp_privacy_spent(1.5, 0.04, 2250, 1e-5);

-- TF Privacy rdp_accountant_test.py, test_check_composition: RDP adds over
-- two phases (q 1e-4, noise 0.4, 40000 steps, then q 0.1, noise 2, 100 steps)
-- over TF's orders; at delta 1e-5 the older conversion min(rdp - log(delta) /
-- (alpha - 1)) gave 8.509656 at order 2.5 (TF's former assertions, 5 places),
-- which the improved conversion must not exceed
CREATE TEMP TABLE composed AS
SELECT o.orders,
       (SELECT array_agg(a + b ORDER BY k)
          FROM unnest(aigc.dp_rdp(0.4, 1e-4, 40000, o.orders),
                      aigc.dp_rdp(2, 0.1, 100, o.orders)) WITH ORDINALITY u(a, b, k)) AS rdp
  FROM (SELECT '{1.25, 1.5, 1.75, 2, 2.5, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 64, 256}'::float8[] AS orders) o;
SELECT ok(abs(old_eps - 8.509656) < 1e-5 AND old_order = 2.5,
          format('TF Privacy test_check_composition: older conversion 8.509656 at order 2.5 (%s at %s)', old_eps, old_order))
  FROM (SELECT r - ln(1e-5) / (a - 1) AS old_eps, a AS old_order
          FROM composed, unnest(orders, rdp) u(a, r)
         ORDER BY 1 LIMIT 1) m;
SELECT ok(epsilon <= 8.509656, format('and the improved conversion gives less (%s)', epsilon))
  FROM composed, aigc.dp_rdp_to_epsilon(orders, rdp, 1e-5);

-- a tiny RDP is (0, delta)-DP through the KL bound delta <= sqrt(1 - exp(-rdp))
SELECT is(aigc.dp_epsilon(1e5, 1e-3, 1, 1e-3), 0::float8,
          'almost no privacy loss: epsilon 0');

-- 4. The inverse: the smallest noise multiplier meeting a target epsilon.
-- Opacus accountants_test.py, test_get_noise_multiplier_rdp_epochs: epsilon 8,
-- delta 1e-5, sample rate 0.04, 90 epochs gives 1.416 (4 places; Opacus stops
-- its bisection once epsilon is within 0.01 below the target)
SELECT ok(pg_temp.rel_err(aigc.dp_noise_multiplier(8, 1e-5, 0.04, 2250), 1.416) < 0.01,
          format('Opacus test_get_noise_multiplier_rdp_epochs: 1.416 (%s)',
                 aigc.dp_noise_multiplier(8, 1e-5, 0.04, 2250)));
-- ... test_get_noise_multiplier_rdp_steps: 2000 steps give 1.3562
SELECT ok(pg_temp.rel_err(aigc.dp_noise_multiplier(8, 1e-5, 0.04, 2000), 1.3562) < 0.01,
          format('Opacus test_get_noise_multiplier_rdp_steps: 1.3562 (%s)',
                 aigc.dp_noise_multiplier(8, 1e-5, 0.04, 2000)));

-- the sigma found meets the target, and 2e-6 less noise (twice the
-- tolerance) no longer does
CREATE TEMP TABLE inverse AS
SELECT e, d, q, steps, aigc.dp_noise_multiplier(e, d, q, steps) AS sigma
  FROM (VALUES (8.0, 1e-5, 0.04, 2250), (1.0, 1e-5, 0.01, 10000), (0.5, 1e-6, 0.001, 100000),
               (3.0, 1e-5, 0.5, 100), (2.0, 1e-5, 1.0, 10), (20.0, 1e-3, 0.02, 500)) v(e, d, q, steps);
SELECT ok(bool_and(aigc.dp_epsilon(sigma, q, steps, d) <= e),
          'the noise multiplier found spends at most the target epsilon') FROM inverse;
SELECT ok(bool_and(aigc.dp_epsilon(sigma * (1 - 2e-6), q, steps, d) > e),
          'and is the smallest to 1e-6 relative') FROM inverse;
SELECT ok(bool_and(pg_temp.rel_err(aigc.dp_epsilon(sigma, q, steps, d), e) < 1e-3),
          'its epsilon is within 0.1% of the target') FROM inverse;

-- 5. Monotonicity: more noise spends less, more steps and a higher sample
-- rate more; RDP does not decrease with the order.
SELECT ok(bool_and(e_next < e),
          'epsilon decreases as noise_multiplier grows (0.5 .. 10)')
  FROM (SELECT aigc.dp_epsilon(s, 0.02, 1000, 1e-5) AS e,
               lead(aigc.dp_epsilon(s, 0.02, 1000, 1e-5)) OVER (ORDER BY s) AS e_next
          FROM generate_series(0.5, 10, 0.25) s) m
 WHERE e_next IS NOT NULL;
SELECT ok(bool_and(e_next > e),
          'epsilon increases with steps (1 .. 100000)')
  FROM (SELECT aigc.dp_epsilon(1.1, 0.01, t, 1e-5) AS e,
               lead(aigc.dp_epsilon(1.1, 0.01, t, 1e-5)) OVER (ORDER BY t) AS e_next
          FROM unnest('{1, 10, 100, 1000, 10000, 100000}'::int[]) t) m
 WHERE e_next IS NOT NULL;
SELECT ok(bool_and(e_next > e),
          'epsilon increases with sample_rate (0.001 .. 1)')
  FROM (SELECT aigc.dp_epsilon(1.0, q, 100, 1e-5) AS e,
               lead(aigc.dp_epsilon(1.0, q, 100, 1e-5)) OVER (ORDER BY q) AS e_next
          FROM unnest('{0.001, 0.01, 0.05, 0.1, 0.3, 0.6, 0.9, 1}'::float8[]) q) m
 WHERE e_next IS NOT NULL;
SELECT ok(bool_and(r_next >= r * (1 - 1e-12)),
          'RDP does not decrease with the order over the default grid')
  FROM (VALUES (0.5, 0.01), (1.0, 0.1), (2.0, 0.5), (0.8, 0.001)) v(s, q),
       LATERAL (SELECT r, lead(r) OVER (ORDER BY k) AS r_next
                  FROM unnest(aigc.dp_rdp(s, q, 1)) WITH ORDINALITY u(r, k)) m
 WHERE r_next IS NOT NULL;

-- 6. Bad input names the argument
SELECT throws_ok($$SELECT aigc.dp_epsilon(0, 0.01, 10, 1e-5)$$, '22023',
                 'noise_multiplier must be positive and finite, not 0', 'noise_multiplier 0');
SELECT throws_ok($$SELECT aigc.dp_epsilon(1, 0, 10, 1e-5)$$, '22023',
                 'sample_rate must be in (0, 1], not 0', 'sample_rate 0');
SELECT throws_ok($$SELECT aigc.dp_epsilon(1, 1.5, 10, 1e-5)$$, '22023',
                 'sample_rate must be in (0, 1], not 1.5', 'sample_rate above 1');
SELECT throws_ok($$SELECT aigc.dp_epsilon(1, 0.01, 0, 1e-5)$$, '22023',
                 'steps must be at least 1, not 0', 'steps 0');
SELECT throws_ok($$SELECT aigc.dp_epsilon(1, 0.01, 10, 1)$$, '22023',
                 'delta must be in (0, 1), not 1', 'delta 1');
SELECT throws_ok($$SELECT aigc.dp_noise_multiplier(0, 1e-5, 0.01, 10)$$, '22023',
                 'epsilon must be positive and finite, not 0', 'target epsilon 0');
SELECT throws_ok($$SELECT aigc.dp_rdp(1, 0.01, 10, '{1}')$$, '22023',
                 'orders must be in (1, 10000], not 1', 'order 1');
SELECT throws_ok($$SELECT aigc.dp_rdp_to_epsilon('{2, 3}', '{0.1}', 1e-5)$$, '22023',
                 'rdp must have as many elements as orders (2), not 1', 'orders and rdp of different lengths');
SELECT throws_ok($$SELECT aigc.dp_epsilon(NULL, 0.01, 10, 1e-5)$$, '22004',
                 'noise_multiplier must not be NULL', 'NULL noise_multiplier');
-- a target below what any order of the grid can certify with sigma <= 1e6
SELECT throws_ok($$SELECT aigc.dp_noise_multiplier(0.01, 1e-10, 1, 1000000000)$$, '22023',
                 NULL, 'an unreachable epsilon');

-- 7. A long search is cancellable: with 20000 fractional orders at q 0.5 one
-- epsilon takes seconds and the search a minute or more (throws_ok's WHEN
-- OTHERS does not catch a cancel)
CREATE FUNCTION pg_temp.search_until_cancelled() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM aigc.dp_noise_multiplier(0.05, 1e-5, 0.5, 10,
                                     (SELECT array_agg(1.05 + i * 0.001) FROM generate_series(1, 20000) i));
    RETURN 'not cancelled';
EXCEPTION WHEN query_canceled THEN
    RETURN SQLSTATE;
END
$$;
SET LOCAL statement_timeout = '500ms';
SELECT is(pg_temp.search_until_cancelled(), '57014', 'a noise search past statement_timeout is cancelled');
SET LOCAL statement_timeout = 0;

-- A noise multiplier so small that sigma^2 underflows, or the series'
-- exponents overflow, has no finite bound: never epsilon 0 from NaN
SELECT is((SELECT array_agg(DISTINCT r) FROM unnest(aigc.dp_rdp(s, 0.5, 1, '{1.5, 2, 32}')) r),
          '{Infinity}'::float8[], format('RDP at noise multiplier %s is unbounded at integer and fractional orders', s))
  FROM unnest('{1e-200, 1e-160}'::float8[]) s;

SELECT * FROM finish();
ROLLBACK;
