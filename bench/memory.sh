#!/usr/bin/env bash
# Memory benchmark: train on a 10-million-row table under a memory cap and
# watch the training backend's private (anonymous) resident memory.
#
#   bash bench/memory.sh          # AIGC_BENCH_ROWS (10000000), AIGC_BENCH_CAP (256MB)
#
# The cap is the GUC aigc.train_memory_limit: a table larger than it is
# trained on a uniform reservoir sample (a NOTICE says so).  The claim
# checked here: peak RssAnon during training - RssAnon before it stays
# within the cap plus the network's training state (weights, gradients and
# Adam's two moments: 4 x the stored weights).  Shared buffers are excluded
# (RssShmem): they belong to the server, not to the run.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"

ROWS="${AIGC_BENCH_ROWS:-10000000}"
CAP="${AIGC_BENCH_CAP:-256MB}"

db=aigc_bench_memory
bench_cluster "$db"

log "creating a table of $ROWS rows"
pg_psql -d "$db" <<SQL
SET client_min_messages = warning;
CREATE UNLOGGED TABLE big (age integer, region text, wage float8, paid boolean, amount numeric(10,2));
INSERT INTO big
SELECT 18 + (i * 7919) % 49,
       (ARRAY['north', 'south', 'east', 'west', 'capital'])[1 + (i * 31) % 5],
       1000 + ((i * 104729) % 5000) * (1 + (i % 3)),
       (i * 13) % 10 <> 0,
       ((i * 7) % 1200)::numeric / 2
  FROM generate_series(1::bigint, $ROWS) AS i;
SQL

pidfile="$AIGC_BASE/bench_memory.pid"
out="$AIGC_BASE/bench_memory.out"
rm -f "$pidfile"
log "training one epoch under aigc.train_memory_limit = $CAP"
pg_psql -d "$db" -At >/dev/null 2>"$out" <<SQL &
SET client_min_messages = notice;
SET aigc.train_memory_limit = '$CAP';
\o $pidfile
SELECT pg_backend_pid();
\o /dev/null
SELECT aigc_train('big_vae', 'big'::regclass, options => '{"epochs": 1, "seed": 1, "progress_every": 0}');
SQL
client=$!
pid=""
for _ in $(seq 1 100); do
    pid=$(head -n1 "$pidfile" 2>/dev/null || true)
    [ -n "$pid" ] && break
    sleep 0.1
done
[ -n "$pid" ] || die "could not find the training backend"
anon_kb() { awk '/^RssAnon:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
base=$(anon_kb "$pid")
peak=$base
while kill -0 "$client" 2>/dev/null; do
    now=$(anon_kb "$pid")
    [ "${now:-0}" -gt "$peak" ] && peak=$now
    sleep 0.2
done
wait "$client" || { cat "$out"; die "training failed"; }

pg_psql -d "$db" -At -F ' ' -c "SELECT train_rows, weights_bytes, round(train_seconds::numeric, 1) FROM aigc.models WHERE name = 'big_vae'" |
while read -r train_rows weights secs; do
    cap_kb=$(pg_psql -d "$db" -At -c "SELECT pg_size_bytes('$CAP') / 1024")
    state_kb=$((4 * weights / 1024))
    used_kb=$((peak - base))
    echo
    echo "rows in the table:            $ROWS"
    echo "rows trained on (sample):     $train_rows"
    echo "training time:                ${secs} s"
    grep -m1 "NOTICE" "$out" | sed 's/^/notice:                       /' || true
    echo "memory cap:                   $((cap_kb / 1024)) MiB"
    echo "network training state:       $((state_kb / 1024)) MiB (4 x $((weights / 1024)) KiB of weights)"
    echo "backend RssAnon before:       $((base / 1024)) MiB"
    echo "backend RssAnon peak:         $((peak / 1024)) MiB"
    echo "growth during training:       $((used_kb / 1024)) MiB"
    echo "growth / (cap + state):       $(awk -v u="$used_kb" -v c="$cap_kb" -v s="$state_kb" 'BEGIN { printf "%.3f", u / (c + s) }') (within the bound when <= 1)"
done
