-- Private column statistics and public metadata (docs/privacy.md, "Column
-- statistics"): under privacy the ranges, category lists, NULL shares and
-- mixtures come from noisy histograms charged to the budget, so the stored
-- ranges differ from the exact extremes yet hold most of the data, a rare
-- category is dropped, samples and aigc_explain stay inside the private
-- range, and the charges compose to privacy.epsilon; options bounds and
-- categories (with or without privacy) are what the model stores.  Small
-- and seeded: the 20000 rows of contributions, 2 epochs of a narrow network.
BEGIN;
SELECT plan(21);

SET LOCAL client_min_messages = warning;
CREATE TABLE dps AS
SELECT age, gender, region, CASE WHEN id % 50 = 0 THEN NULL ELSE monthly_wage END AS monthly_wage
  FROM contributions;
-- a category of three rows, which no private list may reveal
UPDATE dps SET region = 'atlantis' WHERE ctid IN (SELECT ctid FROM dps LIMIT 3);

\ir helpers/dp_compose.psql
-- a stored column description of a model
CREATE FUNCTION pg_temp.col(model text, col text) RETURNS jsonb LANGUAGE sql AS $$
SELECT c FROM aigc.models, jsonb_array_elements(columns) c
 WHERE name = model AND c->>'name' = col $$;

-- 1. privacy alone is a complete request (the rest only keeps the test short)
SELECT lives_ok($$SELECT aigc_train('dps_dp', 'dps'::regclass, 'vae',
    '{"epochs": 2, "seed": 3, "latent_dim": 8, "encoder_dims": [32], "decoder_dims": [32],
      "progress_every": 0, "privacy": {"epsilon": 1, "delta": 1e-5}}')$$,
    'a VAE trains with {"privacy": {"epsilon": 1, "delta": 1e-5}} and no public metadata');
CREATE TEMP TABLE rec AS SELECT privacy AS p FROM aigc.models WHERE name = 'dps_dp';

SELECT ok((SELECT bool_and(pg_temp.col('dps_dp', c)->>'source' = 'differentially private')
             FROM unnest('{age, gender, region, monthly_wage}'::text[]) c),
          'every column''s statistics are marked differentially private in aigc.models.columns');
SELECT ok((SELECT bool_and((pg_temp.col('dps_dp', c)->>'min')::float8 <> lo
                        OR (pg_temp.col('dps_dp', c)->>'max')::float8 <> hi)
             FROM (SELECT 'age' AS c, min(age)::float8 AS lo, max(age)::float8 AS hi FROM dps
                   UNION ALL SELECT 'monthly_wage', min(monthly_wage), max(monthly_wage) FROM dps) e),
          'the stored ranges are not the exact extremes');
SELECT ok((SELECT count(*) FILTER (WHERE age BETWEEN (pg_temp.col('dps_dp', 'age')->>'min')::float8
                                              AND (pg_temp.col('dps_dp', 'age')->>'max')::float8)
                  >= 0.9 * count(*) FROM dps)
          AND (SELECT count(*) FILTER (WHERE monthly_wage BETWEEN (pg_temp.col('dps_dp', 'monthly_wage')->>'min')::float8
                                                       AND (pg_temp.col('dps_dp', 'monthly_wage')->>'max')::float8)
                  >= 0.9 * count(monthly_wage) FROM dps),
          'the private ranges hold at least 90% of the values');
SELECT is((pg_temp.col('dps_dp', 'region')->>'categories')::int, 5,
          'the three-row category is dropped by the threshold, the five common ones kept');
SELECT ok(abs((pg_temp.col('dps_dp', 'monthly_wage')->>'null_fraction')::float8 - 0.02) < 0.05,
          format('the private NULL share of monthly_wage (%s) is near the true 2%%',
                 pg_temp.col('dps_dp', 'monthly_wage')->>'null_fraction'));

-- sampling and aigc_explain stay inside what the model may show
CREATE TEMP TABLE s AS SELECT * FROM aigc_sample(NULL::dps, 'dps_dp', 2000, seed => 2);
SELECT is((SELECT count(*)::int FROM s
            WHERE age NOT BETWEEN (pg_temp.col('dps_dp', 'age')->>'min')::float8
                              AND (pg_temp.col('dps_dp', 'age')->>'max')::float8
               OR monthly_wage NOT BETWEEN (pg_temp.col('dps_dp', 'monthly_wage')->>'min')::float8
                                       AND (pg_temp.col('dps_dp', 'monthly_wage')->>'max')::float8),
          0, 'no sampled value leaves the private range');
SELECT is((SELECT count(*)::int FROM s WHERE region = 'atlantis'), 0,
          'the dropped category is never sampled');
SELECT ok((SELECT bool_and(expected::float8 BETWEEN (pg_temp.col('dps_dp', column_name)->>'min')::float8
                                                AND (pg_temp.col('dps_dp', column_name)->>'max')::float8)
             FROM aigc_explain('dps_dp', ROW(1000, 'f', 'north', 1e7)::dps)
            WHERE column_name IN ('age', 'monthly_wage') AND expected IS NOT NULL),
          'aigc_explain''s expected values for an extreme row stay inside the private range');

-- the budget: one charge per mechanism, composing to epsilon <= the target
SELECT is((SELECT array_agg(c->>'mechanism' || ':' || coalesce(c->>'column', '') ORDER BY ord)
             FROM rec, jsonb_array_elements(p->'charges') WITH ORDINALITY e(c, ord)),
          '{range:age,histogram:age,categories:gender,categories:region,range:monthly_wage,histogram:monthly_wage,dp-sgd:}'::text[],
          'a charge for each column statistic and one for DP-SGD');
SELECT ok(pg_temp.rel_err(pg_temp.composed_epsilon(p), (p->>'epsilon')::float8) <= 1e-9
          AND (p->>'epsilon')::float8 <= 1 AND (p->>'epsilon')::float8 >= 0.99,
          format('the charges compose to privacy.epsilon (%s), at most the target and within 1%% of it', p->>'epsilon'))
  FROM rec;
SELECT ok(pg_temp.rel_err((p->>'conversion_delta')::float8
                          + (SELECT sum((c->>'delta')::float8) FROM jsonb_array_elements(p->'charges') c), 1e-5) <= 1e-12,
          'the thresholds'' deltas and the conversion delta add up to delta')
  FROM rec;
SELECT ok(pg_temp.rel_err((SELECT epsilon FROM aigc.dp_privacy_spent(
                               (p->'charges'->0->>'noise_multiplier')::float8, 1, 6, (p->>'conversion_delta')::float8)),
                          0.1) <= 1e-3,
          'the six statistics share one noise and together spend 10% of the target')
  FROM rec;
SELECT ok(NOT p ? 'column_statistics', 'no "not private" marker on a private model') FROM rec;

-- 2. public metadata under privacy: stored as given, no range charged for it
SELECT lives_ok($$SELECT aigc_train('dps_pub', 'dps'::regclass, 'vae',
    '{"epochs": 2, "seed": 4, "latent_dim": 8, "encoder_dims": [32], "decoder_dims": [32],
      "progress_every": 0, "privacy": {"epsilon": 1, "delta": 1e-5},
      "bounds": {"age": [18, 70], "monthly_wage": ["0", 9000.5]},
      "categories": {"region": ["north", "south", "east", "west", "south"]}}')$$,
    'a private VAE trains with public bounds and categories');
SELECT ok(pg_temp.col('dps_pub', 'age') @> '{"min": 18, "max": 70, "source": "public"}'
          AND pg_temp.col('dps_pub', 'monthly_wage') @> '{"min": 0, "max": 9000.5, "source": "public"}'
          AND pg_temp.col('dps_pub', 'region') @> '{"categories": 4, "source": "public"}',
          'the model stores the public bounds and the public categories (duplicates merged)');
SELECT is((SELECT array_agg(c->>'mechanism' || ':' || coalesce(c->>'column', '') ORDER BY ord)
             FROM aigc.models, jsonb_array_elements(privacy->'charges') WITH ORDINALITY e(c, ord)
            WHERE name = 'dps_pub'),
          '{histogram:age,categories:gender,category counts:region,histogram:monthly_wage,dp-sgd:}'::text[],
          'public bounds and categories cost nothing; their counts and NULL shares are still charged');
SELECT is((SELECT count(*)::int FROM aigc_sample(NULL::dps, 'dps_pub', 1000, seed => 3)
            WHERE region NOT IN ('north', 'south', 'east', 'west') OR age NOT BETWEEN 18 AND 70
               OR monthly_wage NOT BETWEEN 0 AND 9000.5),
          0, 'samples stay inside the public bounds and categories ("capital" is out of the list)');

-- 3. public metadata without privacy overrides the data too
CREATE TABLE dps_dates AS
SELECT date '2020-01-01' + (i % 400) AS d, (ARRAY['a', 'b', 'c'])[1 + i % 3] AS k, i % 90 AS n
  FROM generate_series(1, 600) i;
SELECT lives_ok($$SELECT aigc_train('dps_nodp', 'dps_dates'::regclass, 'vae',
    '{"epochs": 2, "seed": 5, "latent_dim": 4, "encoder_dims": [16], "decoder_dims": [16], "progress_every": 0,
      "bounds": {"d": ["2020-03-01", "2020-06-30"], "n": [10, 20]}, "categories": {"k": ["a", "b", "z"]}}')$$,
    'a VAE without privacy trains with public bounds on a date and an integer column, and categories');
SELECT is((SELECT count(*)::int FROM aigc_sample(NULL::dps_dates, 'dps_nodp', 1000, seed => 6)
            WHERE d NOT BETWEEN '2020-03-01' AND '2020-06-30' OR n NOT BETWEEN 10 AND 20
               OR k NOT IN ('a', 'b', 'z')),
          0, 'values outside the public bounds were clipped for training and samples stay inside them');
SELECT ok(pg_temp.col('dps_nodp', 'k') @> '{"categories": 3, "source": "public"}'
          AND abs((pg_temp.col('dps_nodp', 'k')->>'null_fraction')::float8 - 1 / 3.0) < 1e-6
          AND (SELECT privacy IS NULL FROM aigc.models WHERE name = 'dps_nodp')
          AND (SELECT hyperparams->'bounds' = '{"d": ["2020-03-01", "2020-06-30"], "n": [10, 20]}'
                 FROM aigc.models WHERE name = 'dps_nodp'),
          'without privacy: the public list is stored, the values outside it ("c") are learnt as NULL, and the options are kept in hyperparams');

SELECT * FROM finish();
ROLLBACK;
