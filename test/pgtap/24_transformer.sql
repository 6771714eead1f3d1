-- The transformer kind (docs/transformer.md) on the demo table: it trains
-- and is stored, samples typed rows that follow the table, conditions by
-- rejection, scores rows by their exact -log p(row) (the explanation's terms
-- add up to it) and ranks the planted anomalies of
-- data/contributions_anomalies.sql above the real rows.  Trained on a
-- quarter of the table for a few epochs, so the file stays cheap.
BEGIN;
SELECT plan(32);

SELECT is((aigc_train('tf_contrib', 'SELECT * FROM contributions WHERE id % 4 = 0', 'transformer',
                      '{"epochs": 5, "seed": 42, "exclude": ["id"], "progress_every": 0}')).train_rows,
          5000::bigint, 'train a transformer on a quarter of contributions');
SELECT is((SELECT kind FROM aigc.model_store WHERE name = 'tf_contrib'), 'transformer',
          'stored as kind transformer');
SELECT is((SELECT hyperparams->>'n_layer' || '/' || (hyperparams->>'d_model') || '/' ||
                  (hyperparams->>'n_head') || '/' || (hyperparams->>'offset_bins') || '/' ||
                  (hyperparams->>'batch_size') || '/' || (hyperparams->>'learning_rate')
             FROM aigc.model_store WHERE name = 'tf_contrib'),
          '2/64/4/32/256/0.001', 'the kind''s defaults are stored: 2 layers, width 64, 4 heads, 32 bins, batch 256, lr 1e-3');
SELECT is((SELECT jsonb_array_length(loss->'nll') FROM aigc.model_store WHERE name = 'tf_contrib'), 5,
          'one nll per epoch');

CREATE TEMP TABLE tf_rows AS SELECT * FROM aigc_sample(NULL::contributions, 'tf_contrib', 2000, 7);
SELECT is((SELECT count(*)::int FROM tf_rows), 2000, 'n typed rows');
SELECT ok((SELECT bool_and(s.r = t.r)
             FROM (SELECT row_number() OVER () AS i, x AS r FROM aigc_sample(NULL::contributions, 'tf_contrib', 200, 7) x) s
             JOIN (SELECT row_number() OVER () AS i, x AS r FROM aigc_sample(NULL::contributions, 'tf_contrib', 200, 7) x) t
               USING (i)),
          'the same seed gives the same rows');

-- largest gap between a category's share in the samples and in the table
CREATE FUNCTION pg_temp.share_gap(col text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
    gap float8;
BEGIN
    EXECUTE format($q$
        SELECT max(abs(coalesce(s.p, 0) - coalesce(t.p, 0)))
          FROM (SELECT %1$I AS v, count(*)::float8 / sum(count(*)) OVER () AS p FROM tf_rows GROUP BY 1) s
          FULL JOIN (SELECT %1$I AS v, count(*)::float8 / sum(count(*)) OVER () AS p FROM contributions GROUP BY 1) t
            USING (v)$q$, col) INTO gap;
    RETURN gap;
END
$$;
SELECT ok(pg_temp.share_gap('region') <= 0.05,
          format('region shares within 0.05 of the table''s (largest gap %s)', round(pg_temp.share_gap('region')::numeric, 4)));
SELECT ok(pg_temp.share_gap('gender') <= 0.05,
          format('gender shares within 0.05 of the table''s (largest gap %s)', round(pg_temp.share_gap('gender')::numeric, 4)));
SELECT ok((SELECT abs(avg(monthly_wage) / (SELECT avg(monthly_wage) FROM contributions) - 1) FROM tf_rows) <= 0.10,
          format('mean monthly_wage within 10%% of the table''s (%s vs %s)',
                 (SELECT round(avg(monthly_wage), 2) FROM tf_rows), (SELECT round(avg(monthly_wage), 2) FROM contributions)));
-- the table has NULLs in days_late only: no other column ever samples one
SELECT is((SELECT count(*)::int FROM tf_rows
            WHERE num_nulls(person_id, age, gender, region, employer_type, part_time, monthly_wage,
                            contribution_base, amount, month, paid_on_time) > 0),
          0, 'columns never NULL in training never sample NULL');
SELECT ok((SELECT count(*) - count(days_late) FROM tf_rows) > 0, 'days_late, NULL in training, samples NULLs');

SELECT is((SELECT count(*)::int FROM aigc_sample(NULL::contributions, 'tf_contrib', 200, 3,
                                                 conditions => '{"region": "north"}') WHERE region = 'north'),
          200, 'conditions {"region": "north"}: n rows, every one north');
-- conditioning keeps the dependence: wages follow the region asked for
-- (the capital earns about a quarter more than the rest)
CREATE TEMP TABLE tf_region_wage AS
SELECT t.region, t.mean AS table_mean,
       (SELECT avg(s.monthly_wage)
          FROM aigc_sample(NULL::contributions, 'tf_contrib', 200, 11,
                           conditions => jsonb_build_object('region', t.region)) s) AS sample_mean
  FROM (SELECT region, avg(monthly_wage) AS mean FROM contributions GROUP BY region) t;
SELECT ok((SELECT bool_and(abs(sample_mean / table_mean - 1) <= 0.15) AND count(*) = 5 FROM tf_region_wage),
          format('conditional mean monthly_wage per region within 15%% of the table''s (%s)',
                 (SELECT string_agg(format('%s %s vs %s', region, round(sample_mean, 0), round(table_mean, 0)), ', '
                                    ORDER BY region) FROM tf_region_wage)));
SELECT is((SELECT count(*)::int FROM aigc_sample(NULL::contributions, 'tf_contrib', 100, 3,
                                                 conditions => '{"days_late": null, "gender": "F"}')
            WHERE days_late IS NULL AND gender = 'F'),
          100, 'a NULL and a category condition together');

-- exact likelihood: the column terms add up to the score
SELECT ok((SELECT max(abs(t.total - aigc_score('tf_contrib', c)) / aigc_score('tf_contrib', c))
             FROM contributions c,
                  LATERAL (SELECT sum(contribution) AS total FROM aigc_explain('tf_contrib', c)) t
            WHERE c.id % 97 = 0) <= 1e-6,
          'aigc_explain''s terms sum to aigc_score within 1e-6 relative');
SELECT is((SELECT count(*)::int FROM aigc_explain('tf_contrib', (SELECT c FROM contributions c WHERE id = 1)) e
            WHERE e.term = 'none (always 0)' AND e.contribution = 0 AND e.expected IS NULL),
          1, 'the last term is 0 and nothing is reconstructed');
SELECT is((SELECT aigc_score('tf_contrib', (c.id, c.person_id, c.age, c.gender, 'atlantis', c.employer_type,
                                            c.part_time, c.monthly_wage, c.contribution_base, c.amount,
                                            c.month, c.paid_on_time, c.days_late)::contributions)
             FROM contributions c WHERE id = 1),
          'Infinity'::float8, 'a category never seen has probability 0: score +Infinity');
SELECT is((SELECT array_length(aigc_encode('tf_contrib', c), 1) FROM contributions c WHERE id = 1), 64,
          'aigc_encode: the mean final hidden state, d_model wide');

-- the sgemm benchmark multiplies batch x positions rows per projection
SELECT ok(aigc.sgemm_gflops('tf_contrib', 256, seconds => 0.1) > 0,
          'aigc.sgemm_gflops runs the projections of a transformer');

-- temperature: the same training (same seed) sampled at 1 and at 0.5; a
-- lower temperature sharpens every softmax, so the modal employer type
-- (private, about 62% of the table) takes a larger share
CREATE TEMP TABLE tf_re AS SELECT age, region, employer_type, monthly_wage FROM contributions WHERE id % 4 = 0;
SELECT aigc_train('tf_t' || t, 'tf_re'::regclass, 'transformer',
                  jsonb_build_object('epochs', 2, 'seed', 5, 'progress_every', 0, 'temperature', t))
  FROM (VALUES (1), (0.5)) v(t);
SELECT is((SELECT hyperparams->>'temperature' FROM aigc.model_store WHERE name = 'tf_t0.5'), '0.5',
          'the temperature is stored with the model');
SELECT is((SELECT substr(weights, 9, 8) FROM aigc.model_store WHERE name = 'tf_t0.5'),
          '\x0500000003000000'::bytea, 'a transformer blob is format version 5 (with its temperature), kind 3');
CREATE TEMP TABLE tf_temp AS
SELECT t, (SELECT count(*) FILTER (WHERE employer_type = 'private')::float8 / count(*)
             FROM aigc_sample(NULL::tf_re, 'tf_t' || t, 2000, 9)) AS private_share
  FROM (VALUES ('1'), ('0.5')) v(t);
SELECT ok((SELECT abs(private_share - (SELECT avg((employer_type = 'private')::int) FROM contributions))
             FROM tf_temp WHERE t = '1') <= 0.05,
          format('at temperature 1 the private share follows the table''s (%s vs %s)',
                 (SELECT round(private_share::numeric, 3) FROM tf_temp WHERE t = '1'),
                 (SELECT round(avg((employer_type = 'private')::int), 3) FROM contributions)));
SELECT ok((SELECT private_share FROM tf_temp WHERE t = '0.5') >= (SELECT private_share FROM tf_temp WHERE t = '1') + 0.1,
          format('at temperature 0.5 the modal category''s share rises (%s vs %s)',
                 (SELECT round(private_share::numeric, 3) FROM tf_temp WHERE t = '0.5'),
                 (SELECT round(private_share::numeric, 3) FROM tf_temp WHERE t = '1')));

-- conditions on the leading column are met by construction: a range on
-- age (the first column of tf_re) draws its mode and offset bin from the
-- model's distribution restricted to the range, so nearly every generated
-- row is kept (about 5% of the table is 30 or 31); a range on a later
-- column is left to rejection
SELECT is((SELECT count(*)::int FROM aigc_sample(NULL::tf_re, 'tf_t1', 900, 3,
                                                 conditions => '{"age": {"min": 30, "max": 31}}')
            WHERE age BETWEEN 30 AND 31),
          900, 'a range on the leading column: n rows, all within it');
SELECT is((SELECT count(*)::int FROM aigc.sample_batches(NULL::tf_re, 'tf_t1', 900, 3, NULL,
                                                         '{"age": {"min": 30, "max": 31}}')),
          1, 'a range on the leading column: one batch of 1000 generated rows gives 900 (acceptance >= 90%)');
SELECT ok((SELECT count(*) FROM aigc.sample_batches(NULL::tf_re, 'tf_t1', 900, 3, NULL,
                                                    '{"monthly_wage": {"min": 3000, "max": 3100}}')) > 5,
          'a range on a later column goes through rejection (more than 5 batches)');
CREATE TEMP TABLE tf_age_wage AS
SELECT (SELECT avg(monthly_wage) FROM aigc_sample(NULL::tf_re, 'tf_t1', 1000, 4,
                                                  conditions => '{"age": [30, 31]}')) AS sample_mean,
       (SELECT avg(monthly_wage) FROM tf_re WHERE age BETWEEN 30 AND 31) AS table_mean;
SELECT ok((SELECT abs(sample_mean / table_mean - 1) <= 0.15 FROM tf_age_wage),
          format('given age 30 to 31, mean monthly_wage within 15%% of the table''s (%s vs %s)',
                 (SELECT round(sample_mean, 0) FROM tf_age_wage), (SELECT round(table_mean, 0) FROM tf_age_wage)));
SELECT is((SELECT count(*)::int FROM aigc_sample(NULL::tf_re, 'tf_t1', 300, 5,
                                                 conditions => '{"age": [30, 31], "region": "north"}')
            WHERE age BETWEEN 30 AND 31 AND region = 'north'),
          300, 'a leading range and a later category together');

-- a category on the leading column fixes its token and the run goes on:
-- the range on the next column is then drawn given it
CREATE TEMP TABLE tf_ra AS SELECT region, age FROM tf_re;
SELECT aigc_train('tf_ra', 'tf_ra'::regclass, 'transformer', '{"epochs": 1, "seed": 6, "progress_every": 0}');
SELECT is((SELECT count(*)::int FROM aigc_sample(NULL::tf_ra, 'tf_ra', 500, 3,
                                                 conditions => '{"region": "north", "age": {"min": 30, "max": 35}}')
            WHERE region = 'north' AND age BETWEEN 30 AND 35),
          500, 'a leading category and a range on the next column: n rows, all satisfying both');
SELECT is((SELECT count(*)::int FROM aigc.sample_batches(NULL::tf_ra, 'tf_ra', 500, 3, NULL,
                                                         '{"region": "north", "age": {"min": 30, "max": 35}}')),
          1, 'both met by construction: one batch of 1000 generated rows gives 500');

\i data/contributions_anomalies.sql
CREATE TEMP TABLE tf_scored AS
SELECT anomaly, aigc_score('tf_contrib', c) AS anomaly_score FROM contributions_anomalies c;
SELECT is((SELECT count(*)::int FROM tf_scored WHERE anomaly_score < 'Infinity'::float8), 20600,
          'every row of contributions_anomalies has a finite score');
-- ROC AUC by Mann-Whitney, as in 09_anomalies.sql
CREATE FUNCTION pg_temp.auc() RETURNS numeric LANGUAGE sql AS $$
    WITH ranked AS (SELECT anomaly IS NOT NULL AS pos,
                           rank() OVER (ORDER BY anomaly_score)
                           + (count(*) OVER (PARTITION BY anomaly_score) - 1) / 2.0 AS rk
                      FROM tf_scored)
    SELECT (sum(rk) FILTER (WHERE pos) - count(*) FILTER (WHERE pos) * (count(*) FILTER (WHERE pos) + 1) / 2.0)
           / (count(*) FILTER (WHERE pos) * count(*) FILTER (WHERE NOT pos))
      FROM ranked
$$;
SELECT ok(pg_temp.auc() >= 0.85,
          format('the planted anomalies score higher: ROC AUC %s (>= 0.85)', round(pg_temp.auc(), 4)));

SELECT * FROM finish();
ROLLBACK;
