-- Differentially private training of a transformer (docs/privacy.md): DP-SGD
-- with one example a row of tokens.  A target epsilon is spent (at most it,
-- within 1% of it) and recorded as for the VAE, a given noise multiplier
-- reports the accountant's epsilon, the model samples typed rows of the
-- values trained on, and its exact scores still add up from aigc_explain's
-- terms.  Small and seeded: 3000 rows, 3 epochs of a narrow network.  The
-- per-row norms and the clipped sum: 22_dp_sgd.sql; bad input:
-- 12_bad_input.sql.
BEGIN;
SELECT plan(16);

SET LOCAL client_min_messages = warning;
CREATE TABLE dpt_c AS
SELECT age, gender, region, part_time, monthly_wage FROM contributions WHERE id <= 3000;

\ir helpers/dp_compose.psql
-- a column's range as the private model stores it (noisy, not the data's)
CREATE FUNCTION pg_temp.model_range(model text, col text, OUT lo numeric, OUT hi numeric)
LANGUAGE sql AS $$
SELECT (c->>'min')::numeric, (c->>'max')::numeric
  FROM aigc.models, jsonb_array_elements(columns) c WHERE name = model AND c->>'name' = col $$;

SELECT lives_ok($$SELECT aigc_train('dpt_eps', 'dpt_c'::regclass, 'transformer',
    '{"epochs": 3, "seed": 5, "batch_size": 300, "n_layer": 1, "d_model": 32, "n_head": 2,
      "progress_every": 0, "privacy": {"epsilon": 3, "delta": 1e-6}}')$$,
    'a transformer trains with privacy {"epsilon": 3, "delta": 1e-6}');

CREATE TEMP TABLE rec AS SELECT privacy AS p, loss AS l FROM aigc.models WHERE name = 'dpt_eps';

SELECT ok(pg_temp.spends_target(p, 3),
          format('the epsilon spent is at most the target and within 1%% of it (%s)', p->>'epsilon'))
  FROM rec;
SELECT ok(pg_temp.rel_err(pg_temp.composed_epsilon(p), (p->>'epsilon')::float8) <= 1e-9,
          'the accountant recomputes the stored epsilon from the stored charges and conversion delta')
  FROM rec;
SELECT is((p->>'sample_rate')::float8 || '/' || (p->>'steps'), (300 / 3000.0::float8) || '/' || 3 * 10,
          'sample rate = batch_size / rows, steps = epochs x rows / batch_size') FROM rec;
SELECT ok(pg_temp.sgd_charge_last(p),
          'the last charge is DP-SGD''s, with the run''s noise, sample rate and steps') FROM rec;
SELECT ok(jsonb_array_length(l->'nll') = 3
          AND (SELECT bool_and(v::float8 > 0 AND v::float8 < 'Infinity') FROM jsonb_array_elements_text(l->'nll') v),
          format('one finite mean -log p(row) per epoch (%s)', l->'nll')) FROM rec;

-- samples keep the table's types, the categories seen and the private ranges
CREATE TEMP TABLE dpt_rows AS SELECT * FROM aigc_sample(NULL::dpt_c, 'dpt_eps', 500, seed => 1);
SELECT is((SELECT count(*)::int FROM dpt_rows s
            WHERE s.gender IN (SELECT gender FROM dpt_c) AND s.region IN (SELECT region FROM dpt_c)
              AND s.part_time IN (SELECT part_time FROM dpt_c)
              AND s.age BETWEEN (pg_temp.model_range('dpt_eps', 'age')).lo AND (pg_temp.model_range('dpt_eps', 'age')).hi
              AND s.monthly_wage BETWEEN (pg_temp.model_range('dpt_eps', 'monthly_wage')).lo
                                     AND (pg_temp.model_range('dpt_eps', 'monthly_wage')).hi),
          500, 'samples of the private transformer come out typed, with the categories and private ranges trained on');
SELECT ok((SELECT count(DISTINCT region) FROM dpt_rows) >= 3,
          format('samples are not one row repeated (%s regions)', (SELECT count(DISTINCT region) FROM dpt_rows)));

-- exact likelihood: the column terms add up to the score
SELECT ok((SELECT max(pg_temp.rel_err(t.total, aigc_score('dpt_eps', c)))
             FROM dpt_c c,
                  LATERAL (SELECT sum(contribution) AS total FROM aigc_explain('dpt_eps', c)) t
            WHERE c.age % 7 = 0) <= 1e-6,
          'aigc_explain''s terms sum to aigc_score within 1e-6 relative');
SELECT is((SELECT count(*)::int FROM dpt_c c WHERE aigc_score('dpt_eps', c) < 'Infinity'::float8), 3000,
          'every training row has a finite score');

SELECT lives_ok($$SELECT aigc_train('dpt_sigma', 'dpt_c'::regclass, 'transformer',
    '{"epochs": 2, "seed": 6, "batch_size": 200, "n_layer": 1, "d_model": 16, "n_head": 2,
      "progress_every": 0, "privacy": {"noise_multiplier": 1.1, "delta": 1e-5, "max_grad_norm": 0.5}}')$$,
    'a transformer trains with a given noise multiplier');
SELECT ok(pg_temp.sigma_record(privacy, 1.1, 200 / 3000.0::float8, 2 * 15, 0.5),
          format('with a noise multiplier DP-SGD''s charge is the accountant''s for it, and the total (%s) composes the charges', privacy->>'epsilon'))
  FROM aigc.models WHERE name = 'dpt_sigma';

-- the same seed and options: DP-SGD's draws are the seed's too
SELECT lives_ok($$SELECT aigc_train('dpt_sigma2', 'dpt_c'::regclass, 'transformer',
    '{"epochs": 2, "seed": 6, "batch_size": 200, "n_layer": 1, "d_model": 16, "n_head": 2,
      "progress_every": 0, "privacy": {"noise_multiplier": 1.1, "delta": 1e-5, "max_grad_norm": 0.5}}')$$,
    'the same private training again');
SELECT is((SELECT loss FROM aigc.models WHERE name = 'dpt_sigma2'),
          (SELECT loss FROM aigc.models WHERE name = 'dpt_sigma'),
          'the same seed gives the same private training');

-- a category two rows hold and a few NULLs: the private statistics give
-- them no token, so those rows are left out of training (and counted)
CREATE TABLE dpt_rare AS
SELECT age, CASE WHEN id <= 2 THEN 'unicorn' ELSE gender END AS gender,
       CASE WHEN id % 500 <> 0 THEN region END AS region, monthly_wage
  FROM contributions WHERE id <= 3000;
SELECT lives_ok($$SELECT aigc_train('dpt_rare', 'dpt_rare'::regclass, 'transformer',
    '{"epochs": 1, "seed": 7, "batch_size": 300, "n_layer": 1, "d_model": 16, "n_head": 2,
      "progress_every": 0, "privacy": {"epsilon": 3, "delta": 1e-6}}')$$,
    'a private transformer trains on rows whose rare category and NULLs the private statistics drop');
SELECT ok((SELECT (stats->>'rows_without_tokens')::int FROM aigc.models WHERE name = 'dpt_rare') >= 2
          AND (SELECT count(*) FROM aigc_sample(NULL::dpt_rare, 'dpt_rare', 500, seed => 1)
                WHERE gender = 'unicorn') = 0,
          format('those rows are left out (%s) and the category is never sampled',
                 (SELECT stats->>'rows_without_tokens' FROM aigc.models WHERE name = 'dpt_rare')));

SELECT * FROM finish();
ROLLBACK;
