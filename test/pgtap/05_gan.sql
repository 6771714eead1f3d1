-- Train a CTGAN-style GAN on the generated contributions table and check what
-- the samples preserve; options, history, determinism, cancellation.
-- 60 epochs (of CTGAN's default 300) with every other default: enough for
-- the bounds below with this seed (docs/gan.md, "Fidelity").
BEGIN;
SELECT plan(45);

SELECT lives_ok($$SELECT aigc_train('contrib_gan', 'contributions'::regclass, kind => 'gan',
                                     options => '{"epochs": 60, "seed": 1}')$$,
                'train a GAN over the contributions table');

SELECT is((SELECT kind FROM aigc.models WHERE name = 'contrib_gan'), 'gan', 'stored as kind gan');
SELECT is((SELECT train_rows FROM aigc.models WHERE name = 'contrib_gan'), 20000::bigint, 'trained on every row');
SELECT is((SELECT jsonb_object_agg(key, CASE jsonb_typeof(value) WHEN 'number' THEN to_jsonb(value::text::float8) ELSE value END)
             FROM aigc.models, jsonb_each(hyperparams - 'seed' - 'epochs') WHERE name = 'contrib_gan'),
          '{"kind": "gan", "batch_size": 500, "learning_rate": 0.0002, "weight_decay": 1e-06,
            "noise_dim": 128, "generator_dims": [256, 256], "discriminator_dims": [256, 256], "pac": 10,
            "discriminator_learning_rate": 0.0002, "discriminator_weight_decay": 1e-06,
            "discriminator_steps": 1, "gradient_penalty": 10, "gumbel_tau": 0.2, "log_frequency": true, "generator_average": 0.99,
            "max_modes": 10, "max_categories": 1000, "exclude": ["id"]}'::jsonb,
          'CTGAN''s hyperparameters by default, plus generator averaging');
SELECT is((SELECT ARRAY(SELECT jsonb_object_keys(loss) ORDER BY 1) FROM aigc.models WHERE name = 'contrib_gan'),
          ARRAY['cross_entropy', 'discriminator', 'generator', 'gradient_penalty'],
          'loss history of both networks');
SELECT ok((SELECT bool_and(jsonb_array_length(loss->k) = 60) FROM aigc.models, unnest(ARRAY['generator', 'discriminator']) k
            WHERE name = 'contrib_gan'), 'one loss value per epoch for each network');
SELECT ok((SELECT (loss->'cross_entropy'->>59)::float8 < (loss->'cross_entropy'->>0)::float8 / 10
             FROM aigc.models WHERE name = 'contrib_gan'),
          'the generator learns to honour the conditional vector');
SELECT ok((SELECT (stats->>'gemm_flops')::float8 > 0 AND (stats->>'rows_epochs_per_second')::float8 > 0
             FROM aigc.models WHERE name = 'contrib_gan'), 'throughput recorded');

CREATE TEMP TABLE synth AS
SELECT * FROM aigc_sample(NULL::contributions, 'contrib_gan', 10000, seed => 7);
SELECT is((SELECT count(*)::int FROM synth), 10000, 'sample returns n rows');

\ir helpers/fidelity.psql

-- numeric means within 15% of the real ones
SELECT ok(abs(synth_mean / real_mean - 1) < 0.15,
          format('mean of %s: real %s, synthetic %s', col, round(real_mean, 2), round(synth_mean, 2)))
  FROM pg_temp.mean_gaps() ORDER BY col;

-- categorical frequencies within 0.07 of the real ones
SELECT ok(max_gap < 0.07, format('frequencies of %s: largest gap %s', col, round(max_gap, 4)))
  FROM pg_temp.frequency_gaps() ORDER BY col;
SELECT ok((SELECT abs(avg((s.days_late IS NULL)::int) - (SELECT avg((days_late IS NULL)::int) FROM contributions)) < 0.07 FROM synth s),
          'NULL rate of days_late within 0.07');

-- rare categories: agricultural employers are under 2% of the rows
SELECT ok((SELECT avg((employer_type = 'agricultural')::int) FROM contributions) <= 0.02,
          'agricultural is a rare category in the data');
SELECT ok((SELECT count(*) FROM synth WHERE employer_type = 'agricultural') >= 50,
          'the rare category appears in samples');
SELECT ok((SELECT bool_and(region IN (SELECT region FROM contributions))
              AND bool_and(employer_type IN (SELECT employer_type FROM contributions)) FROM synth),
          'categories only from those seen in training');
SELECT ok((SELECT min(age) >= 18 AND max(age) <= 66 AND bool_and(monthly_wage = round(monthly_wage, 2)) FROM synth),
          'values within the observed ranges, typmods applied');

-- conditional sampling through the conditional vector: mean wage given
-- each region within 15% of the real one
SELECT ok(abs(synth_mean / real_mean - 1) < 0.15,
          format('mean wage given region %s: real %s, synthetic %s', region, round(real_mean), round(synth_mean)))
  FROM (SELECT r.region,
               (SELECT avg(monthly_wage) FROM contributions c WHERE c.region = r.region) AS real_mean,
               (SELECT avg(s.monthly_wage)
                  FROM aigc_sample(NULL::contributions, 'contrib_gan', 2000, seed => 9,
                                   conditions => jsonb_build_object('region', r.region)) s) AS synth_mean
          FROM (SELECT DISTINCT region FROM contributions) r) m
 ORDER BY region;

SELECT is((SELECT md5(string_agg(t::text, ',')) FROM aigc_sample(NULL::contributions, 'contrib_gan', 200, seed => 11) t),
          (SELECT md5(string_agg(t::text, ',')) FROM aigc_sample(NULL::contributions, 'contrib_gan', 200, seed => 11) t),
          'sampling is deterministic for a seed');

-- the stored form: GAN blobs are format version 2, VAE blobs stay version 1,
-- either becomes version 3 with a bigint column (test/pgtap/20_extreme_values.sql)
SELECT is((SELECT substr(weights, 9, 8) FROM aigc.model_store WHERE name = 'contrib_gan'),
          '\x0200000002000000'::bytea, 'a GAN blob is format version 2, kind 2');

-- training is deterministic for a seed, and a cancelled run leaves no model
CREATE TEMP TABLE small AS SELECT * FROM contributions WHERE id <= 1000;
SELECT is((aigc_train('small_gan', 'small'::regclass, kind => 'gan',
                      options => '{"epochs": 2, "seed": 5, "batch_size": 100, "progress_every": 0}')).version, 1, 'small GAN');
SELECT is((aigc_train('small_gan', 'small'::regclass, kind => 'gan',
                      options => '{"epochs": 2, "seed": 5, "batch_size": 100, "progress_every": 0}')).version, 2, 'again');
SELECT is((SELECT count(DISTINCT md5(weights))::int FROM aigc.model_store WHERE name = 'small_gan'), 1,
          'GAN training is deterministic for a seed: identical weights');
CREATE FUNCTION pg_temp.train_until_cancelled() RETURNS text LANGUAGE plpgsql AS $f$
BEGIN
    PERFORM aigc_train('small_gan', 'small'::regclass, kind => 'gan',
                       options => '{"epochs": 1000000, "seed": 5, "batch_size": 100, "progress_every": 0}');
    RETURN 'finished';
EXCEPTION WHEN query_canceled THEN
    RETURN 'cancelled';
END
$f$;
SET LOCAL statement_timeout = '3s';
SELECT is(pg_temp.train_until_cancelled(), 'cancelled', 'a long GAN training can be cancelled');
SET LOCAL statement_timeout = 0;
SELECT is((SELECT max(version) FROM aigc.models WHERE name = 'small_gan'), 2, 'a cancelled training leaves no model');
SELECT aigc_train('small_vae', 'SELECT age, gender, monthly_wage FROM small', options => '{"epochs": 1, "progress_every": 0}');
SELECT is((SELECT substr(weights, 9, 8) FROM aigc.model_store WHERE name = 'small_vae'),
          '\x0100000001000000'::bytea, 'a VAE blob is still format version 1, kind 1');

-- a table without categorical columns trains unconditionally
CREATE TEMP TABLE numbers AS SELECT age, monthly_wage FROM contributions WHERE id <= 1000;
SELECT lives_ok($$SELECT aigc_train('num_gan', 'numbers'::regclass, kind => 'gan',
                                     options => '{"epochs": 1, "seed": 1, "batch_size": 100, "progress_every": 0}')$$,
                'a GAN without a conditional vector');
SELECT is((SELECT count(*)::int FROM aigc_sample(NULL::numbers, 'num_gan', 30) WHERE age IS NOT NULL), 30,
          'samples of an unconditional GAN');

-- options of the other kind and a batch that is not whole pac groups are errors
SELECT throws_ok($$SELECT aigc_train('x', 'small'::regclass, kind => 'gan', options => '{"latent_dim": 8}')$$,
                 '22023', 'training option "latent_dim" does not apply to kind "gan"', 'a VAE option for a GAN');
SELECT throws_ok($$SELECT aigc_train('x', 'small'::regclass, kind => 'vae', options => '{"pac": 5}')$$,
                 '22023', 'training option "pac" does not apply to kind "vae"', 'a GAN option for a VAE');
SELECT throws_ok($$SELECT aigc_train('x', 'small'::regclass, kind => 'gan', options => '{"batch_size": 55}')$$,
                 '22023', 'training option "batch_size" (55) must be a multiple of "pac" (10)', 'batch not a multiple of pac');
SELECT throws_ok($$SELECT aigc_train('x', 'small'::regclass, kind => 'gan', options => '{"discriminator_dims": []}')$$,
                 '22023', 'invalid value for training option "discriminator_dims"', 'a discriminator needs a hidden layer');

-- never trust a stored GAN blob
UPDATE aigc.model_store SET weights = overlay(weights PLACING '\xff'::bytea FROM 300 FOR 1) WHERE name = 'num_gan';
SELECT throws_ok($$SELECT * FROM aigc_sample(NULL::numbers, 'num_gan', 5)$$, 'XX001',
                 'stored model is corrupted', 'a flipped byte in a GAN blob is caught');

SELECT * FROM finish();
ROLLBACK;
