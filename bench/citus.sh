#!/usr/bin/env bash
# Citus scaling benchmark (docs/citus.md): scoring and sampling throughput on
# one node (the coordinator alone, a local table) against the two-worker
# cluster (a distributed table, work pushed down to the workers), on this
# machine, and the bytes that travel from the workers to the coordinator
# (Citus's EXPLAIN ANALYZE "Tuple data received from nodes").
#
#   bash bench/citus.sh            (cluster settings as scripts/cluster.sh)
# AIGC_BENCH_COPIES (default 10) copies of the 20000-row demo ledger.
set -euo pipefail

# shellcheck source=scripts/cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/cluster.sh"
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
copies="${AIGC_BENCH_COPIES:-10}"

ensure_packages
build_install
citus_build_install || die "cannot build Citus (log: $CITUS_BUILD_LOG)"
trap citus_stop EXIT
citus_start

log "loading $copies copies of data/contributions.sql"
(cd "$ROOT" && citus_psql coordinator -f data/contributions.sql >/dev/null)
citus_psql coordinator >/dev/null <<SQL
SET client_min_messages = warning;
CREATE TABLE ledger_local AS
SELECT (c.person_id + 1000000 * k)::integer AS person_id, c.age, c.gender, c.region, c.employer_type,
       c.part_time, c.monthly_wage, c.contribution_base, c.amount, c.month, c.paid_on_time, c.days_late
  FROM contributions c, generate_series(0, $copies - 1) AS k;
ANALYZE ledger_local;
CREATE TABLE ledger (LIKE ledger_local);
SELECT create_distributed_table('ledger', 'person_id');
INSERT INTO ledger SELECT * FROM ledger_local;
ANALYZE ledger;
SELECT aigc_train('bench_vae', 'contributions'::regclass,
                  options => '{"epochs": 2, "seed": 1, "progress_every": 0}');
CREATE TABLE synthetic_local (LIKE ledger_local);
SQL

# seconds one statement takes on the coordinator (best of 3)
seconds() {
    local best="" t i
    for i in 1 2 3; do
        t=$(citus_psql coordinator -At -c "SET client_min_messages = warning" -c "
            CREATE TEMP TABLE t0 AS SELECT clock_timestamp() AS t;
            $1;
            SELECT extract(epoch FROM clock_timestamp() - t) FROM t0" | tail -n 1)
        if [ -z "$best" ] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then
            best=$t
        fi
    done
    echo "$best"
}
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }
# bytes Citus received from the workers for a query
received() {
    citus_psql coordinator -At -c "SET client_min_messages = warning" \
        -c "EXPLAIN (ANALYZE, FORMAT TEXT) $1" |
        sed -n 's/.*Tuple data received from nodes: \(.*\)$/\1/p' | head -n 1
}

rows=$(citus_psql coordinator -At -c "SELECT count(*) FROM ledger")
sample_n=$((rows / 2))
echo
echo "=== $rows rows, VAE [128, 128] latent 128; $(nproc) cores; best of 3"
printf '%-52s %12s %12s\n' "" "1 node" "2 workers"

s1=$(seconds "SELECT sum(aigc_score('bench_vae', c.*)) FROM ledger_local c")
s2=$(seconds "SELECT sum(aigc_score('bench_vae', c.*)) FROM ledger c")
printf '%-52s %12s %12s\n' "aigc_score over every row (rows/s)" "$(rate "$rows" "$s1")" "$(rate "$rows" "$s2")"

s1=$(seconds "SELECT count(*) FROM aigc_score_batch('bench_vae', 'ledger_local')")
s2=$(seconds "SELECT count(*) FROM run_command_on_shards('ledger', \$\$SELECT count(*) FROM aigc_score_batch('bench_vae', '%s')\$\$)")
printf '%-52s %12s %12s\n' "aigc_score_batch over every row (rows/s)" "$(rate "$rows" "$s1")" "$(rate "$rows" "$s2")"

s1=$(seconds "SELECT count(*) FROM aigc_sample(NULL::ledger_local, 'bench_vae', $sample_n, seed => 7)")
s2=$(seconds "SELECT count(*) FROM aigc_sample_distributed(NULL::ledger, 'bench_vae', $sample_n, seed => 7)")
printf '%-52s %12s %12s\n' "sampling $sample_n rows to the client (rows/s)" "$(rate "$sample_n" "$s1")" "$(rate "$sample_n" "$s2")"

s1=$(seconds "TRUNCATE synthetic_local; INSERT INTO synthetic_local SELECT * FROM aigc_sample(NULL::ledger_local, 'bench_vae', $sample_n, seed => 7)")
s2=$(seconds "TRUNCATE ledger; INSERT INTO ledger SELECT r.* FROM aigc.sample_parts p, LATERAL aigc_sample(NULL::ledger, 'bench_vae', aigc.sample_part_rows($sample_n, p.part, p.parts), aigc.sample_part_seed(7, p.part)) r")
printf '%-52s %12s %12s\n' "sampling $sample_n rows into a table (rows/s)" "$(rate "$sample_n" "$s1")" "$(rate "$sample_n" "$s2")"
citus_psql coordinator -c "TRUNCATE ledger" -c "INSERT INTO ledger SELECT * FROM ledger_local" >/dev/null

echo
echo "=== data moved from the workers to the coordinator"
printf '%-60s %s\n' "scoring top 20 (ORDER BY score DESC LIMIT 20)" \
    "$(received "SELECT person_id, aigc_score('bench_vae', c.*) FROM ledger c ORDER BY 2 DESC LIMIT 20")"
printf '%-60s %s\n' "sum of all scores" \
    "$(received "SELECT sum(aigc_score('bench_vae', c.*)) FROM ledger c")"
printf '%-60s %s\n' "every score (SELECT aigc_score(...) FROM ledger)" \
    "$(received "SELECT aigc_score('bench_vae', c.*) FROM ledger c")"
printf '%-60s %s\n' "every row (what a training reads without a sample)" \
    "$(received "SELECT * FROM ledger")"
# what aigc_train reads under a 16MB aigc.train_memory_limit: its NOTICE gives the percentage
pct=$(citus_psql coordinator -At -c "SET aigc.train_memory_limit = '16MB'" \
    -c "SELECT version FROM aigc_train('bench_small', 'ledger'::regclass, options => '{\"epochs\": 1, \"seed\": 1, \"progress_every\": 0}')" 2>&1 |
    sed -n 's/.*the workers sample \([0-9.e+-]*\)% of.*/\1/p')
if [ -n "$pct" ]; then
    printf '%-60s %s\n' "training sample, aigc.train_memory_limit = 16MB ($pct%)" \
        "$(received "SELECT * FROM ledger TABLESAMPLE BERNOULLI ($pct) REPEATABLE (1)")"
else
    echo "training under a 16MB aigc.train_memory_limit read the whole table (it fits)"
fi
citus_psql coordinator -At -c "SELECT 'rows the sampled training read: ' || (stats->>'rows_scanned') || ' of $rows'
                                 FROM aigc.models WHERE name = 'bench_small'"
