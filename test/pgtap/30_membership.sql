-- Membership inference in aigc_evaluate / aigc_evaluate_relations (holdout
-- argument, docs/evaluate.md): exact AUCs on crafted relations, a memorising
-- model the attack catches, a generalising one it does not, and no row
-- without a holdout.
BEGIN;
SELECT plan(20);

-- contributions split by a seeded hash of the key: 80% training, 20% holdout
CREATE TEMP TABLE mia_src AS
SELECT md5(id || 'mia-seed-7') AS h, age, gender, region, part_time, monthly_wage, paid_on_time, days_late
  FROM contributions;
CREATE TEMP TABLE mia_train AS
SELECT age, gender, region, part_time, monthly_wage, paid_on_time, days_late FROM mia_src WHERE h >= '3';
CREATE TEMP TABLE mia_hold AS
SELECT age, gender, region, part_time, monthly_wage, paid_on_time, days_late FROM mia_src WHERE h < '3';

------------------------------------------------------------------------------
-- 1. exact AUCs on one column.  Members x = 0..9 and 16 (range 16: every
-- scaled value and difference is exact in float), the synthetic row x = 9,
-- every holdout row x = 12.  Members' distances to the synthetic row are
-- 0..9 and 7 (in 1/16), every non-member's is 3: 3 members closer, 1 tied,
-- so the DCR attacker's AUC is 3.5 / 11.  The density-ratio attacker's
-- reference rows (the other half of the holdout) sit on the non-members,
-- whose population density is then infinite: every member outranks every
-- non-member, AUC 1.
CREATE TEMP TABLE mia_x_members AS SELECT x::float8 AS x FROM (VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9), (16)) v(x);
CREATE TEMP TABLE mia_x_syn AS SELECT 9::float8 AS x;
CREATE TEMP TABLE mia_x_hold AS SELECT 12::float8 AS x FROM generate_series(1, 30);
CREATE TEMP TABLE mia_x AS SELECT * FROM aigc_evaluate_relations('mia_x_members', 'mia_x_syn', holdout => 'mia_x_hold');

SELECT ok(abs((SELECT value FROM mia_x WHERE metric = 'Membership inference ROC AUC') - 3.5 / 11) < 1e-12,
          'crafted case: the DCR attacker''s AUC is exactly 3.5 / 11 (ties count one half)');
SELECT is((SELECT value FROM mia_x WHERE metric = 'Membership inference ROC AUC (density ratio)'), 1::float8,
          'crafted case: the density-ratio attacker ranks every member first (AUC 1)');
SELECT is((SELECT string_agg(column_names || '=' || value, ',' ORDER BY column_names) FROM mia_x WHERE metric = 'membership_rows'),
          'members=11,non-members=11,reference=19,synthetic=1',
          'balanced samples: 11 members, 11 non-members, the other 19 holdout rows as reference');

------------------------------------------------------------------------------
-- 2. synthetic rows that are the training rows: every member is at distance 0
CREATE TEMP TABLE mia_copy AS SELECT * FROM aigc_evaluate_relations('mia_train', 'mia_train', holdout => 'mia_hold');
SELECT ok((SELECT value FROM mia_copy WHERE metric = 'Membership inference ROC AUC') > 0.99,
          'synthetic = training rows: the DCR attacker tells members apart (AUC > 0.99)');
SELECT ok((SELECT value FROM mia_copy WHERE metric = 'Membership inference ROC AUC (density ratio)') > 0.99,
          'and so does the density-ratio attacker');
SELECT is((SELECT string_agg(column_names || '=' || value, ',' ORDER BY column_names) FROM mia_copy WHERE metric = 'membership_rows'),
          (SELECT format('members=%s,non-members=%s,reference=%s,synthetic=%s', m, m, h - m, t)
             FROM (SELECT count(*) / 2 AS m, count(*) AS h, (SELECT count(*) FROM mia_train) AS t FROM mia_hold) c),
          'half the holdout (under 2000 rows) as non-members, as many members, the rest of the holdout as reference');
SELECT is((SELECT value FROM mia_copy WHERE metric = 'rows_used' AND column_names = 'holdout'),
          (SELECT count(*)::float8 FROM mia_hold), 'Info: the holdout rows used');

-- 3. fresh real rows as the "synthetic" side: no attacker can do better than chance
CREATE TEMP TABLE mia_train_a AS
SELECT age, gender, region, part_time, monthly_wage, paid_on_time, days_late FROM mia_src WHERE h >= '3' AND h < '9';
CREATE TEMP TABLE mia_train_b AS
SELECT age, gender, region, part_time, monthly_wage, paid_on_time, days_late FROM mia_src WHERE h >= '9';
CREATE TEMP TABLE mia_fresh AS
SELECT * FROM aigc_evaluate_relations('mia_train_a', 'mia_train_b', holdout => 'mia_hold');
SELECT ok((SELECT value BETWEEN 0.45 AND 0.55 FROM mia_fresh WHERE metric = 'Membership inference ROC AUC'),
          'synthetic rows from the population, not the members: DCR attacker AUC within [0.45, 0.55]');
SELECT ok((SELECT value BETWEEN 0.45 AND 0.55 FROM mia_fresh WHERE metric = 'Membership inference ROC AUC (density ratio)'),
          'and density-ratio attacker AUC within [0.45, 0.55]');

------------------------------------------------------------------------------
-- 4. a memorising model: a 1/256 slice of the training split (about 80
-- rows), a wide VAE with a 4-dimensional latent space, 500 epochs, a heavy
-- reconstruction weight.  Training seeds 1, 2 and 3 gave DCR attacker AUCs of
-- 0.76, 0.78 and 0.80 (density ratio 0.69, 0.69, 0.72).
CREATE TEMP TABLE mia_small_train AS
SELECT age, gender, region, part_time, monthly_wage, paid_on_time, days_late FROM mia_src WHERE h >= '3' AND h < '31';
SELECT is((SELECT version FROM aigc_train('mia_memorise', 'mia_small_train'::regclass, 'vae',
                  '{"epochs": 500, "seed": 1, "loss_factor": 50, "latent_dim": 4, "encoder_dims": [128, 128],
                    "decoder_dims": [128, 128], "batch_size": 20, "progress_every": 0}')), 1,
          'a VAE memorising a few rows trains');
CREATE TEMP TABLE mia_mem AS
SELECT * FROM aigc_evaluate('mia_memorise', 'mia_small_train', n => 5000, seed => 1, holdout => 'mia_hold');
SELECT diag('memorising VAE: ' || string_agg(metric || ' = ' || round(value::numeric, 4), ', ' ORDER BY metric))
  FROM mia_mem WHERE metric LIKE 'Membership%';
SELECT ok((SELECT value >= 0.65 FROM mia_mem WHERE metric = 'Membership inference ROC AUC'),
          'memorising model: the DCR attacker finds the members (AUC >= 0.65)');
SELECT ok((SELECT value >= 0.6 FROM mia_mem WHERE metric = 'Membership inference ROC AUC (density ratio)'),
          'memorising model: so does the density-ratio attacker (AUC >= 0.6)');

-- 5. a model trained on 16 000 rows for a few epochs generalises
SELECT is((SELECT version FROM aigc_train('mia_general', 'mia_train'::regclass, 'vae',
                  '{"epochs": 10, "seed": 1, "progress_every": 0}')), 1,
          'a VAE trained on the 80% split');
CREATE TEMP TABLE mia_gen AS
SELECT * FROM aigc_evaluate('mia_general', 'mia_train', n => 10000, seed => 1, holdout => 'mia_hold');
SELECT diag('generalising VAE: ' || string_agg(metric || ' = ' || round(value::numeric, 4), ', ' ORDER BY metric))
  FROM mia_gen WHERE metric LIKE 'Membership%';
SELECT ok((SELECT value BETWEEN 0.42 AND 0.58 FROM mia_gen WHERE metric = 'Membership inference ROC AUC'),
          'generalising model: DCR attacker AUC within [0.42, 0.58]');
SELECT ok((SELECT value BETWEEN 0.42 AND 0.58 FROM mia_gen WHERE metric = 'Membership inference ROC AUC (density ratio)'),
          'generalising model: density-ratio attacker AUC within [0.42, 0.58]');

-- aigc_report passes the holdout on: its privacy table then has the attack rows
SELECT ok((SELECT aigc_report('mia_memorise', 'mia_small_train', n => 300, holdout => 'mia_hold')
                  ~ '<td>Membership inference ROC AUC</td>'),
          'aigc_report with a holdout shows the membership-inference AUC');
SELECT ok((SELECT aigc_report('mia_memorise', 'mia_small_train', n => 300) !~ 'Membership inference'),
          'and without one does not');

------------------------------------------------------------------------------
-- 6. without a holdout there is no attack row (not a meaningless 0.5), and
-- the other figures are those of the run with a holdout
CREATE TEMP TABLE mia_none AS SELECT * FROM aigc_evaluate('mia_general', 'mia_train', n => 10000, seed => 1);
SELECT is((SELECT count(*) FROM mia_none WHERE metric LIKE 'Membership%' OR metric = 'membership_rows'
                                           OR column_names = 'holdout' AND property = 'Info' AND metric LIKE 'rows%'),
          0::bigint, 'no holdout: no membership-inference rows');
SELECT is((SELECT count(*) FROM mia_none n JOIN mia_gen g USING (property, metric, column_names)
            WHERE n.value IS DISTINCT FROM g.value AND n.metric <> 'encoded_width'),
          0::bigint, 'the holdout changes no other figure');

-- 7. the holdout is read with the caller's privileges
CREATE ROLE aigc_mia_reader;
GRANT SELECT ON mia_x_members, mia_x_syn TO aigc_mia_reader;
SET LOCAL ROLE aigc_mia_reader;
SELECT throws_ok($$SELECT * FROM aigc_evaluate_relations('mia_x_members', 'mia_x_syn', holdout => 'mia_x_hold')$$,
                 '42501', NULL, 'no SELECT on the holdout: 42501');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
