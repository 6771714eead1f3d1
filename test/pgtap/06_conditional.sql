-- Conditional sampling for both kinds of model: every row satisfies the
-- conditions, the other columns follow the training data, bad conditions
-- are clear errors and unsatisfiable ones end, never hang.
BEGIN;
SELECT plan(38);

SELECT lives_ok($$SELECT aigc_train('cond_vae', 'contributions'::regclass, kind => 'vae',
                                     options => '{"epochs": 40, "seed": 3, "progress_every": 0}')$$,
                'train a VAE for conditional sampling');
SELECT lives_ok($$SELECT aigc_train('cond_gan', 'contributions'::regclass, kind => 'gan',
                                     options => '{"epochs": 5, "seed": 3, "progress_every": 0}')$$,
                'train a GAN for conditional sampling (few epochs: its fidelity is tested in 05_gan.sql)');

CREATE TEMP TABLE models (model text);
INSERT INTO models VALUES ('cond_vae'), ('cond_gan');

-- categorical conditions: every row satisfies them, n rows come back
CREATE TEMP TABLE north_f AS
SELECT m.model, s.*
  FROM models m,
       LATERAL aigc_sample(NULL::contributions, m.model, 1000, seed => 5,
                           conditions => '{"region": "north", "gender": "F"}') s;
SELECT is((SELECT count(*)::int FROM north_f WHERE model = m), 1000, m || ': n rows under conditions')
  FROM unnest(ARRAY['cond_vae', 'cond_gan']) AS m;
SELECT is((SELECT count(*)::int FROM north_f WHERE model = m AND (region <> 'north' OR gender <> 'F')), 0,
          m || ': every row has region north and gender F')
  FROM unnest(ARRAY['cond_vae', 'cond_gan']) AS m;

-- the conditional distribution of the other columns follows the data:
-- mean wage given each region within 15% of the real one (the GAN's in 05_gan.sql)
CREATE TEMP TABLE by_region AS
SELECT r.region,
       (SELECT avg(monthly_wage) FROM contributions c WHERE c.region = r.region) AS real_mean,
       (SELECT avg(s.monthly_wage)
          FROM aigc_sample(NULL::contributions, 'cond_vae', 2000, seed => 9,
                           conditions => jsonb_build_object('region', r.region)) s) AS synth_mean
  FROM (SELECT DISTINCT region FROM contributions) r;
SELECT ok(abs(synth_mean / real_mean - 1) < 0.15,
          format('cond_vae: mean wage given region %s: real %s, synthetic %s', region,
                 round(real_mean), round(synth_mean)))
  FROM by_region ORDER BY region;
SELECT is((SELECT count(*)::int
             FROM models m, (SELECT DISTINCT region FROM contributions) r,
                  aigc_sample(NULL::contributions, m.model, 200, seed => 10,
                              conditions => jsonb_build_object('region', r.region)) s
            WHERE s.region <> r.region), 0, 'no row violates its region condition');

-- numeric ranges, as an object or an array; dates and booleans in their own syntax
SELECT ok((SELECT bool_and(age BETWEEN 30 AND 40) AND count(*) = 300
             FROM aigc_sample(NULL::contributions, m, 300, seed => 1,
                              conditions => '{"age": {"min": 30, "max": 40}}')),
          m || ': range as an object')
  FROM unnest(ARRAY['cond_vae', 'cond_gan']) AS m;
SELECT ok((SELECT bool_and(monthly_wage >= 3000 AND employer_type = 'public') AND count(*) = 100
             FROM aigc_sample(NULL::contributions, m, 100, seed => 1,
                              conditions => '{"monthly_wage": [3000, null], "employer_type": "public"}')),
          m || ': open range as an array, with a category')
  FROM unnest(ARRAY['cond_vae', 'cond_gan']) AS m;
SELECT ok((SELECT bool_and(month = '2024-06-01' AND part_time) AND count(*) = 50
             FROM aigc_sample(NULL::contributions, 'cond_vae', 50, seed => 1,
                              conditions => '{"month": "2024-06-01", "part_time": true}')),
          'a date and a boolean');
SELECT ok((SELECT bool_and(days_late IS NULL AND paid_on_time) AND count(*) = 100
             FROM aigc_sample(NULL::contributions, 'cond_gan', 100, seed => 1,
                              conditions => '{"days_late": null, "paid_on_time": "true"}')),
          'a NULL condition');
SELECT ok((SELECT count(*) = 50 AND bool_and(employer_type = 'agricultural')
             FROM aigc_sample(NULL::contributions, 'cond_gan', 50, seed => 1,
                              conditions => '{"employer_type": "agricultural"}')),
          'a rare category (under 2% of the rows) on demand');
CREATE TYPE region_wage AS (region text, monthly_wage numeric);
SELECT ok((SELECT bool_and(region = 'capital') AND count(*) = 20
             FROM aigc_sample(NULL::region_wage, 'cond_gan', 20, seed => 1,
                              conditions => '{"region": "capital", "age": [25, 35]}')),
          'a condition on a column the row type leaves out');

-- determinism, and NULL conditions mean none
SELECT is((SELECT md5(string_agg(t::text, ',')) FROM aigc_sample(NULL::contributions, m, 100, seed => 4,
                                                                   conditions => '{"region": "east"}') t),
          (SELECT md5(string_agg(t::text, ',')) FROM aigc_sample(NULL::contributions, m, 100, seed => 4,
                                                                   conditions => '{"region": "east"}') t),
          m || ': conditional sampling is deterministic for a seed')
  FROM unnest(ARRAY['cond_vae', 'cond_gan']) AS m;
SELECT is((SELECT md5(string_agg(t::text, ',')) FROM aigc_sample(NULL::contributions, m, 100, seed => 4, conditions => NULL) t),
          (SELECT md5(string_agg(t::text, ',')) FROM aigc_sample(NULL::contributions, m, 100, seed => 4) t),
          m || ': NULL conditions are no conditions')
  FROM unnest(ARRAY['cond_vae', 'cond_gan']) AS m;
SELECT is((SELECT count(*)::int FROM aigc_sample(NULL::contributions, 'cond_gan', 0, conditions => '{"region": "east"}')),
          0, 'n = 0 under conditions');

-- bad conditions
SELECT throws_ok(format('SELECT * FROM aigc_sample(NULL::contributions, %L, 5, conditions => %L)', model, conds),
                 state, message, description)
  FROM (VALUES
    ('cond_gan', '{"colour": "red"}', '42703', 'column "colour" named in conditions is not modelled by model "cond_gan"', 'unknown column'),
    ('cond_vae', '{"id": 3}', '42703', 'column "id" named in conditions is not modelled by model "cond_vae"', 'a column left out of the model'),
    ('cond_gan', '{"region": "atlantis"}', '22023', 'value "atlantis" of column "region" in conditions was not seen in training', 'unseen category'),
    ('cond_vae', '{"region": 3}', '42804', 'condition on column "region" has the wrong type', 'a number for a text column'),
    ('cond_vae', '{"gender": true}', '42804', 'condition on column "gender" has the wrong type', 'a boolean for a text column'),
    ('cond_vae', '{"age": true}', '42804', 'condition on column "age" has the wrong type', 'a boolean for an integer column'),
    ('cond_vae', '{"age": "old"}', '22P02', NULL, 'a value the column type cannot read'),
    ('cond_vae', '{"age": {"min": 40, "max": 30}}', '22023', 'invalid range for column "age" in conditions', 'min above max'),
    ('cond_vae', '{"age": {"low": 40}}', '22023', 'invalid range for column "age" in conditions', 'a range with an unknown key'),
    ('cond_vae', '{"age": [200, 300]}', '22023', 'condition on column "age" cannot be satisfied by model samples', 'a range outside the training data'),
    ('cond_vae', '{"gender": null}', '22023', 'column "gender" in conditions was never NULL in training', 'NULL for a column never NULL'),
    ('cond_vae', '["region"]', '22023', 'conditions must be a JSON object keyed by column name', 'conditions not an object')
  ) AS t(model, conds, state, message, description);

-- unsatisfiable within the training range: no value of a numeric(10,2)
-- lies strictly between two cents, so the bounded draws (10^6 rows) run
-- out; the loop is the same for both kinds, the VAE is the cheaper to run
SELECT throws_ok($$SELECT * FROM aigc_sample(NULL::contributions, 'cond_vae', 5,
                                             conditions => '{"contribution_base": [1000.001, 1000.004]}')$$,
                 '22023',
                 'model "cond_vae" did not produce 5 rows satisfying conditions {"contribution_base": [1000.001, 1000.004]}',
                 'conditions the model cannot satisfy end in an error');

SELECT * FROM finish();
ROLLBACK;
