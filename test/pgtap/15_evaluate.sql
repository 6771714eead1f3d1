-- aigc_evaluate / aigc_evaluate_relations: known answers on small deterministic tables.
BEGIN;
SELECT plan(54);

-- 3000 real rows: identity ordering, a few columns of every kind (NULLs in days_late)
CREATE TEMP TABLE src AS
SELECT id AS k, age, gender, region, part_time, monthly_wage, amount, month, days_late
  FROM contributions WHERE id <= 3000;
CREATE TEMP TABLE base AS
SELECT age, gender, region, part_time, monthly_wage, amount, month, days_late FROM src ORDER BY k;

------------------------------------------------------------------------------
-- 1. identical relations
CREATE TEMP TABLE rep_same AS SELECT * FROM aigc_evaluate_relations('base', 'base');

SELECT is((SELECT count(*) FROM rep_same WHERE property = 'Column Shapes'), 8::bigint, 'one shape row per column');
SELECT is((SELECT count(*) FROM rep_same WHERE property = 'Column Pair Trends'), 28::bigint, 'one row per column pair');
SELECT is((SELECT string_agg(metric, ',' ORDER BY metric) FROM (SELECT DISTINCT metric FROM rep_same WHERE property = 'Column Shapes') m),
          'KSComplement,TVComplement', 'KSComplement for numbers and dates, TVComplement for categories');
SELECT is((SELECT metric FROM rep_same WHERE column_names = 'age, monthly_wage'), 'CorrelationSimilarity', 'numeric pair: CorrelationSimilarity');
SELECT is((SELECT metric FROM rep_same WHERE column_names = 'age, gender'), 'ContingencySimilarity', 'numeric x categorical pair: ContingencySimilarity');
SELECT is((SELECT metric FROM rep_same WHERE column_names = 'month, days_late'), 'CorrelationSimilarity', 'date x numeric pair: CorrelationSimilarity');
SELECT ok((SELECT bool_and(value = 1) FROM rep_same WHERE property IN ('Column Shapes', 'Column Pair Trends')),
          'identical relations: every shape and pair score is 1');
SELECT is((SELECT value FROM rep_same WHERE metric = 'Quality Score'), 1::float8, 'identical relations: quality score 1');
SELECT is((SELECT value FROM rep_same WHERE metric = 'Exact copies'), 3000::float8, 'identical relations: every row is an exact copy');
SELECT ok((SELECT value > 0.45 FROM rep_same WHERE metric = 'DCR share closer than holdout p5'),
          'identical relations: the rows of the training half have DCR 0, so about half are closer than the holdout p5');
SELECT ok((SELECT value BETWEEN 0.45 AND 0.55 FROM rep_same WHERE metric = 'Logistic regression ROC AUC'),
          'identical relations: the classifier cannot tell the sides apart (AUC near 0.5)');
SELECT is((SELECT value FROM rep_same WHERE metric = 'rows_used' AND column_names = 'real'), 3000::float8, 'all rows used under max_rows');

------------------------------------------------------------------------------
-- 2. every column shuffled independently: the same marginals, no joint structure
CREATE TEMP TABLE shuffled AS
SELECT a.age, g.gender, r.region, p.part_time, w.monthly_wage, m.amount, mo.month, d.days_late
  FROM (SELECT age, row_number() OVER (ORDER BY md5(k || 'age')) AS pos FROM src) a
  JOIN (SELECT gender, row_number() OVER (ORDER BY md5(k || 'gender')) AS pos FROM src) g USING (pos)
  JOIN (SELECT region, row_number() OVER (ORDER BY md5(k || 'region')) AS pos FROM src) r USING (pos)
  JOIN (SELECT part_time, row_number() OVER (ORDER BY md5(k || 'part_time')) AS pos FROM src) p USING (pos)
  JOIN (SELECT monthly_wage, row_number() OVER (ORDER BY md5(k || 'monthly_wage')) AS pos FROM src) w USING (pos)
  JOIN (SELECT amount, row_number() OVER (ORDER BY md5(k || 'amount')) AS pos FROM src) m USING (pos)
  JOIN (SELECT month, row_number() OVER (ORDER BY md5(k || 'month')) AS pos FROM src) mo USING (pos)
  JOIN (SELECT days_late, row_number() OVER (ORDER BY md5(k || 'days_late')) AS pos FROM src) d USING (pos);
CREATE TEMP TABLE rep_shuf AS SELECT * FROM aigc_evaluate_relations('base', 'shuffled');

SELECT ok((SELECT bool_and(value = 1) FROM rep_shuf WHERE property = 'Column Shapes'),
          'shuffled columns: every column shape is still 1');
-- most pairs of this table are nearly independent; the correlated ones fall far
SELECT ok((SELECT value < 0.95 FROM rep_shuf WHERE property = 'Overall' AND metric = 'Column Pair Trends'),
          'shuffled columns: the pair trends score drops');
SELECT ok((SELECT value < (SELECT value FROM rep_same WHERE metric = 'Quality Score') FROM rep_shuf WHERE metric = 'Quality Score'),
          'shuffled columns: lower quality score than identical relations');
-- CorrelationSimilarity = 1 - |rho_real - rho_syn| / 2, rho from SQL's corr()
SELECT ok(abs((SELECT value FROM rep_shuf WHERE column_names = 'monthly_wage, amount')
              - (1 - abs((SELECT corr(monthly_wage, amount) FROM base) - (SELECT corr(monthly_wage, amount) FROM shuffled)) / 2)) < 1e-9,
          'CorrelationSimilarity of monthly_wage, amount matches corr() in SQL');
SELECT ok((SELECT value < 0.6 FROM rep_shuf WHERE column_names = 'monthly_wage, amount'),
          'a strong correlation destroyed by shuffling scores near 0.5');
-- ContingencySimilarity of age (10 equal-width bins over the real range, numpy.digitize) x gender, in SQL
WITH r AS (SELECT min(age)::float8 AS lo, max(age)::float8 AS hi FROM base),
     e AS (SELECT lo, hi, (hi - lo) / 10 AS step FROM r),
     binned AS (
         SELECT side, gender,
                (SELECT count(*) FROM generate_series(0, 9) i WHERE e.lo + i * e.step <= t.age) + (e.hi <= t.age)::int AS bin
           FROM e, (SELECT 'real' AS side, age, gender FROM base UNION ALL SELECT 'syn', age, gender FROM shuffled) t),
     cells AS (SELECT bin, gender, count(*) FILTER (WHERE side = 'real') / 3000.0 AS pr,
                      count(*) FILTER (WHERE side = 'syn') / 3000.0 AS ps
                 FROM binned GROUP BY bin, gender)
SELECT ok(abs((SELECT value FROM rep_shuf WHERE column_names = 'age, gender') - (1 - 0.5 * sum(abs(pr - ps)))::float8) < 1e-9,
          'ContingencySimilarity of age x gender matches a SQL contingency table over 10 equal-width bins')
  FROM cells;

------------------------------------------------------------------------------
-- 3. a numeric column shifted by +100 over a uniform 1..1000: KS statistic 0.1 exactly
CREATE TEMP TABLE u_real AS SELECT x, x % 7 AS y, (x % 3)::text AS c FROM generate_series(1, 1000) x;
CREATE TEMP TABLE u_shift AS SELECT x + 100 AS x, x % 7 AS y, (x % 3)::text AS c FROM generate_series(1, 1000) x;
CREATE TEMP TABLE rep_shift AS SELECT * FROM aigc_evaluate_relations('u_real', 'u_shift');

-- the KS statistic computed independently: sup over values v of |F_real(v) - F_shifted(v)|
SELECT ok(abs((SELECT value FROM rep_shift WHERE column_names = 'x')
              - (1 - (SELECT max(abs((SELECT count(*) FROM u_real WHERE x <= v.x) / 1000.0
                                     - (SELECT count(*) FROM u_shift WHERE x <= v.x) / 1000.0))
                        FROM (SELECT x FROM u_real UNION SELECT x FROM u_shift) v))::float8) < 1e-12,
          'KSComplement of the shifted column = 1 - KS statistic computed in SQL');
SELECT ok(abs((SELECT value FROM rep_shift WHERE column_names = 'x') - 0.9) < 1e-12, 'shift by 100 over 1..1000: KSComplement 0.9');
SELECT is((SELECT value FROM rep_shift WHERE column_names = 'y'), 1::float8, 'the unshifted numeric column keeps KSComplement 1');
SELECT is((SELECT value FROM rep_shift WHERE column_names = 'c'), 1::float8, 'the categorical column keeps TVComplement 1');
SELECT is((SELECT value FROM rep_shift WHERE column_names = 'x, y'), 1::float8, 'a shift leaves Pearson correlation unchanged');
-- detection: a monotone score over the shifted x has AUC P(X_syn > X_real) + P(X_syn = X_real) / 2 = 0.595;
-- the fitted classifier is scored on a 30% split of 2000 rows, hence the tolerance
SELECT ok(abs((SELECT value FROM rep_shift WHERE metric = 'Logistic regression ROC AUC')
              - (SELECT avg(CASE WHEN s.x > r.x THEN 1.0 WHEN s.x = r.x THEN 0.5 ELSE 0 END) FROM u_real r, u_shift s)) < 0.08,
          'detection AUC of a shifted column is near the AUC of the ideal monotone classifier');
-- a synthetic side beyond the real range: separable, far from every real row
CREATE TEMP TABLE u_far AS SELECT x + 2000 AS x, x % 7 AS y, (x % 3)::text AS c FROM generate_series(1, 1000) x;
CREATE TEMP TABLE rep_far AS SELECT * FROM aigc_evaluate_relations('u_real', 'u_far');
SELECT is((SELECT value FROM rep_far WHERE metric = 'Logistic regression ROC AUC'), 1::float8, 'separable sides: detection AUC 1');
SELECT is((SELECT value FROM rep_far WHERE metric = 'LogisticDetection'), 0::float8, 'separable sides: LogisticDetection 0');
SELECT is((SELECT value FROM rep_far WHERE column_names = 'x'), 0::float8, 'disjoint ranges: KSComplement 0');
SELECT is((SELECT value FROM rep_far WHERE metric = 'DCR share closer than holdout p5'), 0::float8, 'far rows: no DCR below the holdout p5');
SELECT is((SELECT value FROM rep_far WHERE metric = 'Exact copies'), 0::float8, 'far rows: no exact copies');

-- TVComplement with a NULL category: 1 - 0.5 (|0.6 - 0.3| + |0.4 - 0.5| + |0 - 0.2|) = 0.7
CREATE TEMP TABLE c_real AS SELECT CASE WHEN i <= 600 THEN 'a' ELSE 'b' END AS c FROM generate_series(1, 1000) i;
CREATE TEMP TABLE c_syn AS SELECT CASE WHEN i <= 300 THEN 'a' WHEN i <= 800 THEN 'b' END AS c FROM generate_series(1, 1000) i;
SELECT ok(abs((SELECT value FROM aigc_evaluate_relations('c_real', 'c_syn') WHERE metric = 'TVComplement') - 0.7) < 1e-12,
          'TVComplement counts NULL as a category');
SELECT ok(abs((SELECT value FROM aigc_evaluate_relations('c_real', 'c_syn') WHERE metric = 'Quality Score') - 0.7) < 1e-12,
          'a single column has no pairs: the quality score is its shape score');

------------------------------------------------------------------------------
-- 4. bounded memory: a seeded reservoir sample of max_rows rows per side
CREATE TEMP TABLE rep_cap AS SELECT * FROM aigc_evaluate_relations('contributions', 'contributions', max_rows => 4000);
SELECT is((SELECT value FROM rep_cap WHERE metric = 'rows_scanned' AND column_names = 'real'), 20000::float8, 'every row scanned');
SELECT is((SELECT value FROM rep_cap WHERE metric = 'rows_used' AND column_names = 'real'), 4000::float8, 'max_rows real rows used');
SELECT is((SELECT value FROM rep_cap WHERE metric = 'rows_used' AND column_names = 'synthetic'), 4000::float8, 'max_rows synthetic rows used');
SELECT ok((SELECT value > 0.9 FROM rep_cap WHERE metric = 'Quality Score'), 'two samples of one table still score high');
SELECT is((SELECT count(*) FROM rep_cap WHERE column_names = 'id' OR column_names LIKE 'id, %' OR column_names LIKE '%, id'), 0::bigint,
          'the identity key column is skipped');
SELECT is((SELECT array_agg(value ORDER BY property, metric, column_names) FROM aigc_evaluate_relations('contributions', 'contributions', seed => 3, max_rows => 4000)),
          (SELECT array_agg(value ORDER BY property, metric, column_names) FROM aigc_evaluate_relations('contributions', 'contributions', seed => 3, max_rows => 4000)),
          'the report is deterministic for a seed');

------------------------------------------------------------------------------
-- 5. a model against its training relation
CREATE TEMP TABLE small AS SELECT age, gender, region, monthly_wage, days_late FROM contributions WHERE id <= 2000;
SELECT lives_ok($$SELECT aigc_train('small_vae', 'small'::regclass, options => '{"epochs": 5, "seed": 1, "progress_every": 0}')$$,
                'train a small model');
CREATE TEMP TABLE rep_model AS SELECT * FROM aigc_evaluate('small_vae', "real" => 'small'::regclass, n => 1500, seed => 3);

SELECT is((SELECT count(*) FROM rep_model WHERE property IN ('Column Shapes', 'Column Pair Trends')), 15::bigint,
          'model report: 5 shapes and 10 pairs');
SELECT ok((SELECT bool_and(value BETWEEN 0 AND 1) FROM rep_model WHERE property IN ('Column Shapes', 'Column Pair Trends', 'Overall', 'Detection')),
          'model report: scores within [0, 1]');
SELECT is((SELECT value FROM rep_model WHERE metric = 'rows_used' AND column_names = 'synthetic'), 1500::float8, 'n synthetic rows');
CREATE TEMP TABLE small_syn AS SELECT * FROM aigc_sample(NULL::small, 'small_vae', 1500, seed => 3);
SELECT is((SELECT array_agg(value ORDER BY property, metric, column_names) FROM rep_model WHERE property <> 'Info'),
          (SELECT array_agg(value ORDER BY property, metric, column_names) FROM aigc_evaluate_relations('small', 'small_syn', seed => 3) WHERE property <> 'Info'),
          'aigc_evaluate scores the rows aigc_sample returns for the same seed');
SELECT lives_ok($$SELECT aigc_train('small_ex_vae', 'small'::regclass, options => '{"epochs": 1, "seed": 1, "progress_every": 0, "exclude": ["region"]}')$$,
                'train a model without one column');
SELECT is((SELECT string_agg(column_names, ',' ORDER BY column_names) FROM aigc_evaluate('small_ex_vae', 'small', n => 200) WHERE property = 'Column Shapes'),
          'age,days_late,gender,monthly_wage', 'the model''s columns define the column set: an excluded column is skipped');

------------------------------------------------------------------------------
-- 6. errors
CREATE TEMP TABLE base_text_age AS SELECT age::text AS age, gender, region, part_time, monthly_wage, amount, month, days_late FROM base;
SELECT throws_ok($$SELECT * FROM aigc_evaluate_relations('base', 'u_real')$$, '42703',
                 'column "age" of relation "base" does not exist in relation "u_real"', 'a column missing on one side');
SELECT throws_ok($$SELECT * FROM aigc_evaluate_relations('u_real', 'c_real')$$, '42703',
                 'column "x" of relation "u_real" does not exist in relation "c_real"', 'a column missing on the other side');
SELECT throws_ok($$SELECT * FROM aigc_evaluate_relations('base', 'base_text_age')$$, '42804',
                 'column "age" has type integer in relation "base" but type text in relation "base_text_age"', 'incompatible column types');
SELECT throws_ok($$SELECT * FROM aigc_evaluate('small_vae', 'u_real')$$, '42703',
                 'column "age" of model "small_vae" does not exist in relation "u_real"', 'relation lacks a model column');
SELECT throws_ok($$SELECT * FROM aigc_evaluate('no_such_model', 'small')$$, '42704',
                 'model "no_such_model" does not exist', 'unknown model');
SELECT throws_ok($$SELECT * FROM aigc_evaluate('small_vae', 'small', n => 0)$$, '22023',
                 'n must be between 1 and 10000000', 'n = 0');
SELECT throws_ok($$SELECT * FROM aigc_evaluate_relations('base', 'base', max_rows => 0)$$, '22023',
                 'max_rows must be between 1 and 10000000', 'max_rows = 0');
SELECT throws_ok($$SELECT * FROM aigc_evaluate_relations(NULL, 'base')$$, '22004', NULL, 'NULL relation');
CREATE TEMP TABLE empty_t AS SELECT * FROM base WHERE false;
SELECT throws_ok($$SELECT * FROM aigc_evaluate_relations('base', 'empty_t')$$, '22023',
                 'cannot evaluate: the synthetic side has no rows', 'an empty side');
CREATE ROLE aigc_eval_nopriv;
SET LOCAL ROLE aigc_eval_nopriv;
SELECT throws_ok($$SELECT * FROM aigc_evaluate_relations('contributions', 'contributions')$$, '42501', NULL,
                 'relations are read with the caller''s privileges');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
