#!/usr/bin/env bash
# Scoring benchmark: quality (ROC AUC on planted anomalies), batch scoring
# rows/s, and insert throughput with the scoring trigger divided by plain
# insert throughput (same table, same rows, same run), for bulk
# INSERT ... SELECT and for single-row INSERT statements from a client
# (pgbench, prepared statements, one row per transaction).
#
#   bash bench/scoring.sh        (settings as scripts/common.sh; own cluster)
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"

db=aigc_bench
bench_cluster "$db"
load_demo_data "$db"
(cd "$ROOT" && pg_psql -d "$db" -f data/contributions_anomalies.sql >/dev/null)

cd "$ROOT"
pg_psql -d "$db" -f bench/scoring.sql

rows=20600
script="$(mktemp)"
trap 'rm -f "$script"; stop_cluster' EXIT
cat >"$script" <<'SQL'
INSERT INTO ingest SELECT id, person_id, age, gender, region, employer_type, part_time, monthly_wage,
       contribution_base, amount, month, paid_on_time, days_late, anomaly, anomaly_score, flagged
  FROM ingest_src WHERE rn = (SELECT nextval('ingest_rn'));
SQL

# rows/s of one pgbench run inserting every row once, in order
single_row_rps() {
    pg_psql -d "$db" -c "TRUNCATE ingest" -c "SELECT setval('ingest_rn', 1, false)" \
        -c "ALTER TABLE ingest $1 TRIGGER score_contrib" >/dev/null
    "$PGBIN/pgbench" -n -M prepared -c 1 -t "$rows" -f "$script" "$db" 2>/dev/null |
        sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}

log "single-row INSERTs: $rows transactions per run, trigger off and on alternately, 3 runs each"
plain=()
trig=()
for _ in 1 2 3; do
    plain+=("$(single_row_rps DISABLE)")
    trig+=("$(single_row_rps ENABLE)")
done
median() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
p="$(median "${plain[@]}")"
t="$(median "${trig[@]}")"
echo
echo "=== single-row INSERT statements (pgbench -M prepared, 1 client, one row per transaction)"
printf 'single-row insert, plain:        %.0f rows/s (runs: %s)\n' "$p" "${plain[*]}"
printf 'single-row insert, with trigger: %.0f rows/s (runs: %s)\n' "$t" "${trig[*]}"
printf 'single-row insert throughput ratio (trigger / plain): %.3f (target >= 0.5)\n' \
    "$(awk -v t="$t" -v p="$p" 'BEGIN { print t / p }')"
pg_psql -d "$db" -At -c "SELECT 'rows scored by the trigger in the last run: ' || count(anomaly_score) FROM ingest"
