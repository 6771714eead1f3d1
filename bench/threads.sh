#!/usr/bin/env bash
# Threads and parallel query, side by side in one run (docs/performance.md,
# "Threads and parallel query"):
#  - VAE training at default options on the census table cpssw8 of the
#    shared data folder, per-epoch seconds (the training loop's seconds over
#    its epochs) at aigc.threads 1 and 2, runs interleaved, and the ratio;
#  - sampling rows per second at aigc.threads 1 and 2;
#  - SELECT aigc_score(...) over the table serially and with 2 parallel
#    workers, with the parallel plan.
# The machine's load average is printed before and after: the ratios mean
# little when other jobs hold the cores.
#
#   bash bench/threads.sh    # AIGC_BENCH_EPOCHS (default 3), AIGC_BENCH_ROUNDS (default 2)
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"

DATA_DIR="${AIGC_DATA_DIR:-$ROOT/../shared/data}"
EPOCHS="${AIGC_BENCH_EPOCHS:-3}"
ROUNDS="${AIGC_BENCH_ROUNDS:-2}"
DB=aigc_bench
[ -f "$DATA_DIR/cpssw8.sql" ] || die "cpssw8.sql not found in $DATA_DIR (set AIGC_DATA_DIR)"

bench_cluster "$DB"
(cd "$DATA_DIR" && pg_psql -d "$DB" -f cpssw8.sql >/dev/null)

echo "cores: $(nproc); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$PGBIN/psql" -X -v ON_ERROR_STOP=1 -q -P pager=off -d "$DB" \
    -v epochs="$EPOCHS" -v rounds="$ROUNDS" <<'SQL'
SET client_min_messages = warning;
CREATE TEMP TABLE runs (threads int, round int, model text);
-- seconds of query run with setting = value (for the session)
CREATE FUNCTION pg_temp.seconds(setting text, value int, query text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz;
BEGIN
    PERFORM set_config(setting, value::text, false);
    t0 := clock_timestamp();
    EXECUTE query;
    RETURN extract(epoch FROM clock_timestamp() - t0);
END
$$;
-- interleaved: 1, 2, 1, 2, ... threads, so drifting load hits both alike
CREATE FUNCTION pg_temp.train_rounds(epochs int, rounds int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    FOR r IN 1..rounds LOOP
        FOR t IN 1..2 LOOP
            PERFORM set_config('aigc.threads', t::text, false);
            PERFORM aigc_train(format('th_%s_%s', t, r), 'cpssw8'::regclass,
                               options => jsonb_build_object('epochs', epochs, 'seed', 1,
                                                             'calibrate', false, 'progress_every', 0));
            INSERT INTO runs VALUES (t, r, format('th_%s_%s', t, r));
        END LOOP;
    END LOOP;
END
$$;
SELECT pg_temp.train_rounds(:'epochs', :'rounds') \gset
RESET aigc.threads;
\echo
\echo 'VAE training on cpssw8, default options, seconds per epoch'
SELECT r.threads, r.round, m.train_rows AS "rows",
       round(((m.stats->>'train_loop_seconds')::numeric / (m.stats->>'epochs_done')::int), 3) AS s_per_epoch,
       round(((m.stats->>'train_loop_cpu_seconds')::numeric / (m.stats->>'epochs_done')::int), 3) AS cpu_s_per_epoch
  FROM runs r JOIN aigc.models m ON m.name = r.model ORDER BY r.round, r.threads;
-- On idle cores a run's wall time is its CPU time over its threads, so
-- 2 x cpu(1 thread) / cpu(2 threads) is the speed-up the cores would give:
-- the work the split adds, without what the machine's other jobs take.
SELECT round((avg(s) FILTER (WHERE threads = 1) / avg(s) FILTER (WHERE threads = 2))::numeric, 2)
           AS "speed-up, 2 threads over 1, wall clock",
       round((2 * avg(c) FILTER (WHERE threads = 1) / avg(c) FILTER (WHERE threads = 2))::numeric, 2)
           AS "on idle cores (2 x CPU(1) / CPU(2))"
  FROM (SELECT r.threads, (m.stats->>'train_loop_seconds')::float8 / (m.stats->>'epochs_done')::int AS s,
               (m.stats->>'train_loop_cpu_seconds')::float8 / (m.stats->>'epochs_done')::int AS c
          FROM runs r JOIN aigc.models m ON m.name = r.model) x;

\echo 'sampling 50000 rows, rows per second (warm session)'
SELECT count(*) FROM aigc_sample(NULL::cpssw8, 'th_1_1', 1000) \gset
SELECT t AS threads,
       round(50000 / pg_temp.seconds('aigc.threads', t,
             $q$SELECT count(*) FROM aigc_sample(NULL::cpssw8, 'th_1_1', 50000, seed => 1)$q$)) AS rows_per_s
  FROM generate_series(1, 2) t, generate_series(1, :'rounds') r ORDER BY r, t;
RESET aigc.threads;

\echo 'scoring every row: serial, then 2 parallel workers'
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT sum(aigc_score('th_1_1', t.*)) FROM cpssw8 t;
SELECT w AS workers,
       round(pg_temp.seconds('max_parallel_workers_per_gather', w,
             $q$SELECT sum(aigc_score('th_1_1', t.*)) FROM cpssw8 t$q$)::numeric, 2) AS seconds
  FROM (VALUES (0), (2)) v(w), generate_series(1, :'rounds') r ORDER BY r, w;
SQL
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
