-- Train a VAE on the generated contributions table and check what the samples preserve.
BEGIN;
SELECT plan(30);

SELECT lives_ok($$SELECT aigc_train('contrib_vae', 'contributions'::regclass, kind => 'vae',
                                     options => '{"epochs": 50, "seed": 42}')$$,
                'train a VAE over the contributions table');

SELECT is((SELECT count(*)::int FROM aigc.models WHERE name = 'contrib_vae'), 1, 'one stored version');
SELECT is((SELECT version FROM aigc.models WHERE name = 'contrib_vae'), 1, 'first version is 1');
SELECT is((SELECT train_rows FROM aigc.models WHERE name = 'contrib_vae'), 20000::bigint, 'trained on every row');
SELECT is((SELECT jsonb_array_length(loss->'loss') FROM aigc.models WHERE name = 'contrib_vae'), 50,
          'one loss value per epoch');
SELECT ok((SELECT (loss->'loss'->>49)::float8 < (loss->'loss'->>0)::float8 FROM aigc.models WHERE name = 'contrib_vae'),
          'loss decreases over training');
SELECT ok((SELECT (stats->>'share_gap_after_calibration')::float8 < 0.03
                AND (stats->>'share_gap_after_calibration')::float8 < (stats->>'share_gap_before_calibration')::float8
             FROM aigc.models WHERE name = 'contrib_vae'),
          'marginal calibration brings sampled category shares within 0.03 of the data');
SELECT is((SELECT hyperparams->>'batch_size' FROM aigc.models WHERE name = 'contrib_vae'), '500', 'TVAE batch size by default');
SELECT ok((SELECT NOT (columns @> '[{"name": "id"}]') FROM aigc.models WHERE name = 'contrib_vae'),
          'the identity key is not modelled');

CREATE TEMP TABLE synth AS
SELECT * FROM aigc_sample(NULL::contributions, 'contrib_vae', 10000, seed => 7);

SELECT is((SELECT count(*)::int FROM synth), 10000, 'sample returns n rows');
SELECT ok((SELECT bool_and(id IS NULL) FROM synth), 'the key column comes back NULL');
SELECT is((SELECT format('%s %s %s %s %s %s', pg_typeof(age), pg_typeof(gender), pg_typeof(part_time),
                         pg_typeof(monthly_wage), pg_typeof(month), pg_typeof(days_late))
             FROM aigc_sample(NULL::contributions, 'contrib_vae', 1, seed => 3)),
          'integer text boolean numeric date integer', 'sampled rows have the source types');

\ir helpers/fidelity.psql

-- numeric means within 10% of the real ones
SELECT ok(abs(synth_mean / real_mean - 1) < 0.10,
          format('mean of %s: real %s, synthetic %s', col, round(real_mean, 2), round(synth_mean, 2)))
  FROM pg_temp.mean_gaps() ORDER BY col;

-- categorical frequencies within 0.05 of the real ones
SELECT ok(max_gap < 0.05, format('frequencies of %s: largest gap %s', col, round(max_gap, 4)))
  FROM pg_temp.frequency_gaps() ORDER BY col;

SELECT ok((SELECT abs(avg((s.days_late IS NULL)::int) - (SELECT avg((days_late IS NULL)::int) FROM contributions)) < 0.05 FROM synth s),
          'NULL rate of days_late preserved within 0.05');
SELECT ok((SELECT bool_and(region IN (SELECT region FROM contributions))
              AND bool_and(employer_type IN (SELECT employer_type FROM contributions))
              AND bool_and(gender IN (SELECT gender FROM contributions)) FROM synth),
          'categories only from those seen in training');
SELECT ok((SELECT min(age) >= (SELECT min(age) FROM contributions) AND max(age) <= (SELECT max(age) FROM contributions)
              AND min(monthly_wage) >= (SELECT min(monthly_wage) FROM contributions)
              AND max(monthly_wage) <= (SELECT max(monthly_wage) FROM contributions)
              AND min(month) >= (SELECT min(month) FROM contributions)
              AND max(month) <= (SELECT max(month) FROM contributions) FROM synth),
          'values within the observed ranges');
SELECT ok((SELECT bool_and(monthly_wage = round(monthly_wage, 2)) FROM synth), 'numeric(10,2) typmod applied');
-- numeric(p, s) values are built from their digits, not printed and parsed: the same value and scale
SELECT ok((SELECT bool_and(x = x::float8::numeric(10, 2) AND x::text = (x::float8::numeric(10, 2))::text
                           AND scale(x) = 2)
             FROM synth, LATERAL (VALUES (monthly_wage), (contribution_base), (amount)) v(x)),
          'numeric(10,2) values and display scale as converting their doubles gives');

SELECT is((SELECT md5(string_agg(t::text, ',')) FROM aigc_sample(NULL::contributions, 'contrib_vae', 200, seed => 11) t),
          (SELECT md5(string_agg(t::text, ',')) FROM aigc_sample(NULL::contributions, 'contrib_vae', 200, seed => 11) t),
          'sampling is deterministic for a seed');
SELECT ok((SELECT count(*) FROM aigc_sample(NULL::contributions, 'contrib_vae', 0)) = 0, 'n = 0 gives no rows');

SELECT * FROM finish();
ROLLBACK;
