-- Differentially private training of a VAE (docs/privacy.md): DP-SGD with a
-- target epsilon spends at most it (and within 1% of it), composed with the
-- private column statistics (test/pgtap/27_dp_statistics.sql), the stored
-- record recomputes exactly through the accountant, a given noise
-- multiplier reports the epsilon it spends, samples keep their types and
-- values, and a model trained without the option has no record.  Small and
-- seeded: 3000 rows, 3 epochs of a narrow network.  Bad input:
-- test/pgtap/12_bad_input.sql.
BEGIN;
SELECT plan(15);

SET LOCAL client_min_messages = warning;
CREATE TABLE dp_c AS
SELECT age, gender, region, part_time, monthly_wage FROM contributions WHERE id <= 3000;

\ir helpers/dp_compose.psql

SELECT lives_ok($$SELECT aigc_train('dp_eps', 'dp_c'::regclass, 'vae',
    '{"epochs": 3, "seed": 5, "batch_size": 300, "latent_dim": 16,
      "encoder_dims": [64], "decoder_dims": [64], "progress_every": 0,
      "privacy": {"epsilon": 3, "delta": 1e-6}}')$$,
    'a VAE trains with privacy {"epsilon": 3, "delta": 1e-6}');

CREATE TEMP TABLE rec AS SELECT privacy AS p, hyperparams AS h FROM aigc.models WHERE name = 'dp_eps';

SELECT ok(pg_temp.spends_target(p, 3),
          format('the epsilon spent is at most the target and within 1%% of it (%s)', p->>'epsilon'))
  FROM rec;
SELECT ok(pg_temp.rel_err(pg_temp.composed_epsilon(p), (p->>'epsilon')::float8) <= 1e-9,
          'the accountant recomputes the stored epsilon from the stored charges and conversion delta')
  FROM rec;
SELECT is((p->>'sample_rate')::float8, 300 / 3000.0::float8, 'sample rate = batch_size / rows') FROM rec;
SELECT is((p->>'steps')::int, 3 * 10, 'steps = epochs x rows / batch_size') FROM rec;
SELECT is((p->>'delta')::float8, 1e-6::float8, 'delta as given') FROM rec;
SELECT is((p->>'max_grad_norm')::float8, 1::float8, 'max_grad_norm defaults to 1') FROM rec;
SELECT ok(pg_temp.sgd_charge_last(p),
          'the last charge is DP-SGD''s, with the run''s noise, sample rate and steps') FROM rec;
SELECT ok(NOT p ? 'column_statistics' AND jsonb_array_length(p->'charges') = 2 * 2 + 3 + 1,
          'no "not private" marker: every column statistic is a charge (2 per numeric column, 1 per categorical)') FROM rec;
SELECT is(h->'calibrate', 'false'::jsonb, 'the calibration (which reads the rows) is off under privacy') FROM rec;

-- samples keep the table's types, the categories seen and the private range
SELECT is((SELECT count(*)::int FROM aigc_sample(NULL::dp_c, 'dp_eps', 300, seed => 1) s
            WHERE s.gender IN (SELECT gender FROM dp_c) AND s.region IN (SELECT region FROM dp_c)
              AND s.age BETWEEN (SELECT (c->>'min')::int FROM aigc.models, jsonb_array_elements(columns) c
                                  WHERE name = 'dp_eps' AND c->>'name' = 'age')
                            AND (SELECT (c->>'max')::int FROM aigc.models, jsonb_array_elements(columns) c
                                  WHERE name = 'dp_eps' AND c->>'name' = 'age')),
          300, 'samples of the private model come out typed, with the categories and private range trained on');

SELECT lives_ok($$SELECT aigc_train('dp_sigma', 'dp_c'::regclass, 'vae',
    '{"epochs": 2, "seed": 6, "batch_size": 200, "latent_dim": 8,
      "encoder_dims": [32], "decoder_dims": [32], "progress_every": 0,
      "privacy": {"noise_multiplier": 1.1, "delta": 1e-5, "max_grad_norm": 0.5}}')$$,
    'a VAE trains with a given noise multiplier');
SELECT ok(pg_temp.sigma_record(privacy, 1.1, 200 / 3000.0::float8, 2 * 15, 0.5),
          format('with a noise multiplier DP-SGD''s charge is the accountant''s for it, and the total (%s) composes the charges', privacy->>'epsilon'))
  FROM aigc.models WHERE name = 'dp_sigma';

SELECT lives_ok($$SELECT aigc_train('dp_none', 'dp_c'::regclass, 'vae',
    '{"epochs": 1, "seed": 7, "encoder_dims": [16], "decoder_dims": [16], "latent_dim": 4, "progress_every": 0}')$$,
    'without privacy');
SELECT is((SELECT privacy FROM aigc.models WHERE name = 'dp_none'), NULL::jsonb,
          'a model trained without privacy has no privacy record');

SELECT * FROM finish();
ROLLBACK;
