-- aigc_pg demo: train generative models on two tables and compare synthetic
-- rows with the real ones. Run by scripts/demo.sh (psql -e, from the repo root)
-- in a database that has the extension and the tables of data/*.sql.
\pset pager off
\pset null '(null)'

\echo
\echo '=== 1. Train a VAE (TVAE-style) on contributions: 20000 rows, 60 epochs'
SELECT * FROM aigc_train('contrib_vae', 'contributions'::regclass, 'vae',
                         '{"epochs": 60, "seed": 42}');

SELECT name, version, kind, train_rows, round(train_seconds::numeric, 2) AS train_seconds, weights_bytes
  FROM aigc.models;

\echo
\echo '=== 2. Five synthetic rows, typed as the contributions table (the identity key comes back NULL)'
SELECT * FROM aigc_sample(NULL::contributions, 'contrib_vae', 5, seed => 7);

\echo
\echo '=== 3. A view of 10000 synthetic rows (seed 7: the same rows on every read)'
CREATE VIEW synthetic_contributions AS
SELECT * FROM aigc_sample(NULL::contributions, 'contrib_vae', 10000, seed => 7);

\echo
\echo '=== Real vs synthetic: numeric columns'
WITH r AS (SELECT count(*) AS n,
                  avg(monthly_wage) AS wage_mean, stddev(monthly_wage) AS wage_sd,
                  avg(amount) AS amount_mean, stddev(amount) AS amount_sd,
                  avg(age) AS age_mean, stddev(age) AS age_sd,
                  avg((days_late IS NULL)::int) AS late_null
             FROM contributions),
     s AS (SELECT count(*) AS n,
                  avg(monthly_wage) AS wage_mean, stddev(monthly_wage) AS wage_sd,
                  avg(amount) AS amount_mean, stddev(amount) AS amount_sd,
                  avg(age) AS age_mean, stddev(age) AS age_sd,
                  avg((days_late IS NULL)::int) AS late_null
             FROM synthetic_contributions)
SELECT v.measure, v."real", v.synthetic
  FROM r, s,
       LATERAL (VALUES
           (1, 'rows',                   r.n::numeric,              s.n::numeric),
           (2, 'monthly_wage mean',      round(r.wage_mean, 2),     round(s.wage_mean, 2)),
           (3, 'monthly_wage stddev',    round(r.wage_sd, 2),       round(s.wage_sd, 2)),
           (4, 'amount mean',            round(r.amount_mean, 2),   round(s.amount_mean, 2)),
           (5, 'amount stddev',          round(r.amount_sd, 2),     round(s.amount_sd, 2)),
           (6, 'age mean',               round(r.age_mean, 2),      round(s.age_mean, 2)),
           (7, 'age stddev',             round(r.age_sd, 2),        round(s.age_sd, 2)),
           (8, 'days_late NULL rate',    round(r.late_null, 4),     round(s.late_null, 4))
       ) AS v(ord, measure, "real", synthetic)
 ORDER BY v.ord;

\echo
\echo '=== Real vs synthetic: category shares'
WITH syn AS MATERIALIZED (SELECT region, employer_type FROM synthetic_contributions),
     counts AS (
         SELECT 'region' AS col, region AS value, 'real' AS src, count(*) AS n FROM contributions GROUP BY region
         UNION ALL
         SELECT 'employer_type', employer_type, 'real', count(*) FROM contributions GROUP BY employer_type
         UNION ALL
         SELECT 'region', region, 'synthetic', count(*) FROM syn GROUP BY region
         UNION ALL
         SELECT 'employer_type', employer_type, 'synthetic', count(*) FROM syn GROUP BY employer_type),
     shares AS (
         SELECT col, value, src, n::numeric / sum(n) OVER (PARTITION BY col, src) AS share FROM counts)
SELECT col AS "column", value,
       round(coalesce(max(share) FILTER (WHERE src = 'real'), 0), 3) AS real_share,
       round(coalesce(max(share) FILTER (WHERE src = 'synthetic'), 0), 3) AS synthetic_share
  FROM shares
 GROUP BY col, value
 ORDER BY col DESC, real_share DESC, value;

\echo
\echo '=== Quality report of 10000 synthetic rows (SDMetrics definitions; docs/evaluate.md): overall scores, column shapes, privacy, detection'
SELECT property, metric, column_names, round(value::numeric, 4) AS value
  FROM aigc_evaluate('contrib_vae', 'contributions'::regclass, n => 10000, seed => 7)
 WHERE property IN ('Overall', 'Column Shapes')
    OR metric IN ('DCR share closer than holdout p5', 'Exact copies', 'Logistic regression ROC AUC');

\echo
\echo '=== 4. Conditional sampling: rows with region = capital (the highest wages)'
SELECT (SELECT round(avg(monthly_wage)) FROM contributions WHERE region = 'capital') AS real_mean_wage,
       round(avg(monthly_wage)) AS synthetic_mean_wage, count(*) AS "rows",
       bool_and(region = 'capital') AS all_capital
  FROM aigc_sample(NULL::contributions, 'contrib_vae', 1000, seed => 3,
                   conditions => '{"region": "capital"}');

\echo
\echo '=== 5. Scoring: calibrate on the real rows, then the five most anomalous contributions'
SELECT model, version, "rows" FROM aigc_calibrate('contrib_vae', 'contributions'::regclass);
SELECT id, age, region, employer_type, monthly_wage, contribution_base, amount,
       round(aigc_score('contrib_vae', c.*)::numeric, 2) AS score,
       round(aigc_score_percentile('contrib_vae', c.*)::numeric, 4) AS percentile
  FROM contributions c
 ORDER BY aigc_score('contrib_vae', c.*) DESC
 LIMIT 5;

\echo
\echo '=== Why the most anomalous row stands out: the columns with the largest share of its score'
SELECT coalesce(column_name, '(' || term || ' term)') AS column_name,
       round(contribution::numeric, 2) AS contribution, round(share::numeric, 3) AS share,
       observed, expected
  FROM aigc_explain('contrib_vae', (SELECT c FROM contributions c
                                     ORDER BY aigc_score('contrib_vae', c.*) DESC LIMIT 1))
 ORDER BY contribution DESC
 LIMIT 4;

\echo
\echo '=== An insert trigger scores new rows as they arrive: one normal row, one paying 30% of its due'
CREATE TABLE incoming (LIKE contributions INCLUDING IDENTITY, anomaly_score float8);
CREATE TRIGGER score_incoming BEFORE INSERT ON incoming
    FOR EACH ROW EXECUTE FUNCTION aigc_score_trigger('contrib_vae', 'anomaly_score');
INSERT INTO incoming (person_id, age, gender, region, employer_type, part_time, monthly_wage,
                      contribution_base, amount, month, paid_on_time, days_late)
SELECT person_id, age, gender, region, employer_type, part_time, monthly_wage,
       contribution_base, CASE WHEN id = 2 THEN round(amount * 0.3, 2) ELSE amount END,
       month, paid_on_time, days_late
  FROM contributions WHERE id IN (1, 2);
SELECT id, employer_type, contribution_base, amount, round(anomaly_score::numeric, 2) AS anomaly_score,
       round(aigc_score_percentile('contrib_vae', i)::numeric, 4) AS percentile
  FROM incoming i;

\echo
\echo '=== 6. Train a VAE on randhie (RAND Health Insurance Experiment, 20190 rows), 20 epochs'
SELECT * FROM aigc_train('randhie_vae', 'randhie'::regclass, 'vae', '{"epochs": 20, "seed": 1}');

CREATE VIEW synthetic_randhie AS
SELECT * FROM aigc_sample(NULL::randhie, 'randhie_vae', 10000, seed => 7);

\echo
\echo '=== Real vs synthetic randhie'
WITH r AS (SELECT count(*) AS n, avg(mdvis) AS mdvis, avg(lncoins) AS lncoins, avg(lpi) AS lpi,
                  avg(idp::int) AS idp FROM randhie),
     s AS (SELECT count(*) AS n, avg(mdvis) AS mdvis, avg(lncoins) AS lncoins, avg(lpi) AS lpi,
                  avg(idp::int) AS idp FROM synthetic_randhie)
SELECT v.measure, v."real", v.synthetic
  FROM r, s,
       LATERAL (VALUES
           (1, 'rows',             r.n::numeric,                  s.n::numeric),
           (2, 'mdvis mean',       round(r.mdvis, 3),             round(s.mdvis, 3)),
           (3, 'lncoins mean',     round(r.lncoins::numeric, 3),  round(s.lncoins::numeric, 3)),
           (4, 'lpi mean',         round(r.lpi::numeric, 3),      round(s.lpi::numeric, 3)),
           (5, 'share idp = true', round(r.idp, 3),               round(s.idp, 3))
       ) AS v(ord, measure, "real", synthetic)
 ORDER BY v.ord;

\echo
SELECT count(*) AS n_models, sum(train_rows) AS n_rows,
       round(sum(train_seconds)::numeric, 1) AS n_seconds
  FROM aigc.models \gset
\echo 'aigc_pg demo done:' :n_models 'models trained on' :n_rows 'rows in' :n_seconds 's; synthetic rows in the views synthetic_contributions and synthetic_randhie'
