-- Scoring benchmark, run by bench/scoring.sh in a database with the demo
-- tables and data/contributions_anomalies.sql.  Prints quality (ROC AUC),
-- batch scoring rows/s and bulk-insert throughput with and without the
-- trigger; bench/scoring.sh adds single-row inserts with pgbench.
\pset pager off
SET client_min_messages = warning;

\echo '=== training the model scored below (compact network, as test/pgtap/09_anomalies.sql)'
SELECT name, version, train_rows, round(train_seconds::numeric, 1) AS train_seconds
  FROM aigc_train('bench_vae', 'contributions'::regclass,
                  options => '{"epochs": 30, "seed": 42, "latent_dim": 16, "encoder_dims": [64, 64],
                               "decoder_dims": [64, 64], "progress_every": 0}');

-- Execution time of a statement (it runs), from EXPLAIN ANALYZE: parallel
-- plans stay possible, unlike EXECUTE ... INTO in PL/pgSQL.
CREATE FUNCTION pg_temp.run_ms(query text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
    line text;
    ms float8;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) ' || query LOOP
        IF line ~ '^Execution Time' THEN
            ms := substring(line FROM '([0-9.]+) ms')::float8;
        END IF;
    END LOOP;
    RETURN ms;
END
$$;
CREATE FUNCTION pg_temp.median_ms(query text, runs int, setup text DEFAULT NULL) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
    t float8[] := '{}';
BEGIN
    FOR i IN 1..runs LOOP
        IF setup IS NOT NULL THEN
            EXECUTE setup;
        END IF;
        t := t || pg_temp.run_ms(query);
    END LOOP;
    RETURN (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(t) AS x);
END
$$;

\echo
\echo '=== quality: ROC AUC of aigc_score on 600 planted anomalies among 20000 real rows'
CREATE TEMP TABLE scored AS
SELECT anomaly, aigc_score('bench_vae', a) AS score FROM contributions_anomalies a;
SELECT aigc_calibrate('bench_vae', 'contributions'::regclass) IS NOT NULL AS calibrated;
CREATE FUNCTION pg_temp.auc(kind text) RETURNS numeric LANGUAGE sql AS $$
    WITH ranked AS (SELECT anomaly IS NOT NULL AS pos,
                           rank() OVER (ORDER BY score) + (count(*) OVER (PARTITION BY score) - 1) / 2.0 AS rk
                      FROM scored WHERE anomaly IS NULL OR kind IS NULL OR anomaly = kind)
    SELECT round((sum(rk) FILTER (WHERE pos) - count(*) FILTER (WHERE pos) * (count(*) FILTER (WHERE pos) + 1) / 2.0)
                 / (count(*) FILTER (WHERE pos) * count(*) FILTER (WHERE NOT pos)), 4)
      FROM ranked
$$;
SELECT coalesce(k, 'all anomalies') AS anomalies, pg_temp.auc(k) AS roc_auc,
       (SELECT round(avg((s.score > q.quantiles[991])::int), 3)
          FROM scored s, aigc.score_calibration q
         WHERE q.model = 'bench_vae' AND s.anomaly IS NOT DISTINCT FROM coalesce(k, s.anomaly)
           AND (k IS NOT NULL OR s.anomaly IS NOT NULL)) AS share_above_p99
  FROM (VALUES (NULL), ('underpaid'), ('wrong_rate'), ('impossible')) AS v(k);
SELECT round(avg((s.score > q.quantiles[991])::int), 4) AS real_rows_above_p99
  FROM scored s, aigc.score_calibration q WHERE q.model = 'bench_vae' AND s.anomaly IS NULL;

\echo
\echo '=== batch scoring of 20600 rows: SELECT aigc_score(...), and aigc_score_batch (median of 3 runs)'
SET max_parallel_workers_per_gather = 0;
SELECT round(20600 / (pg_temp.median_ms($$SELECT count(aigc_score('bench_vae', a)) FROM contributions_anomalies a$$, 3) / 1000))
       AS serial_rows_per_second \gset
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SELECT round(20600 / (pg_temp.median_ms($$SELECT count(aigc_score('bench_vae', a)) FROM contributions_anomalies a$$, 3) / 1000))
       AS parallel_rows_per_second \gset
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
\echo 'batch scoring, 1 process:           ' :serial_rows_per_second 'rows/s'
\echo 'batch scoring, leader + 2 workers:  ' :parallel_rows_per_second 'rows/s'
SELECT round(20600 / (pg_temp.median_ms($$SELECT count(*) FROM aigc_score_batch('bench_vae', 'contributions_anomalies')$$, 3) / 1000))
       AS batch_rows_per_second \gset
\echo 'aigc_score_batch (256 rows a pass):  ' :batch_rows_per_second 'rows/s'

\echo
\echo '=== bulk INSERT ... SELECT of the same 20600 rows into the same table, trigger off / on (median of 3)'
DROP TABLE IF EXISTS ingest;
CREATE TABLE ingest (LIKE contributions_anomalies INCLUDING ALL, anomaly_score float8, flagged boolean);
ALTER TABLE ingest ADD PRIMARY KEY (id);
-- flag what the calibration puts above the 99.9th percentile of real rows
SELECT format('CREATE TRIGGER score_contrib BEFORE INSERT ON ingest FOR EACH ROW '
              'EXECUTE FUNCTION aigc_score_trigger(%L, %L, %L, %L)',
              'bench_vae', 'anomaly_score', 'flagged', quantiles[1000])
  FROM aigc.score_calibration WHERE model = 'bench_vae' \gexec
ALTER TABLE ingest DISABLE TRIGGER score_contrib;
SELECT pg_temp.median_ms('INSERT INTO ingest SELECT *, NULL, NULL FROM contributions_anomalies', 3,
                         'TRUNCATE ingest') AS plain_ms \gset
ALTER TABLE ingest ENABLE TRIGGER score_contrib;
SELECT pg_temp.median_ms('INSERT INTO ingest SELECT *, NULL, NULL FROM contributions_anomalies', 3,
                         'TRUNCATE ingest') AS trigger_ms \gset
SELECT round(20600 / (:plain_ms / 1000)) AS plain_rps, round(20600 / (:trigger_ms / 1000)) AS trigger_rps,
       round((:plain_ms / :trigger_ms)::numeric, 3) AS ratio \gset
\echo 'bulk insert, plain:        ' :plain_rps 'rows/s'
\echo 'bulk insert, with trigger: ' :trigger_rps 'rows/s'
\echo 'bulk insert throughput ratio (trigger / plain):' :ratio
SELECT count(*) AS rows, count(*) FILTER (WHERE flagged) AS flagged,
       count(*) FILTER (WHERE flagged AND anomaly IS NOT NULL) AS flagged_anomalies
  FROM ingest;

-- for the single-row inserts of bench/scoring.sh
DROP TABLE IF EXISTS ingest_src;
CREATE TABLE ingest_src AS
SELECT row_number() OVER (ORDER BY id) AS rn, a.*, NULL::float8 AS anomaly_score, NULL::boolean AS flagged
  FROM contributions_anomalies a;
ALTER TABLE ingest_src ADD PRIMARY KEY (rn);
DROP SEQUENCE IF EXISTS ingest_rn;
CREATE SEQUENCE ingest_rn;
ANALYZE ingest_src;
