#!/usr/bin/env bash
# Sampling benchmark: aigc_sample streams (inlined, batches made as the
# query asks) versus the same call forced through a Function Scan (WITH
# ORDINALITY is never inlined), which collects every row first.  Prints the
# time of LIMIT 1 out of 10^12 rows, of count(*) over 10^6 rows, and the
# temporary file bytes each count wrote.
#
#   bash bench/sample_stream.sh        (settings as scripts/common.sh; own cluster)
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"

db=aigc_bench
bench_cluster "$db"
load_demo_data "$db"
pg_psql -d "$db" -c "SET client_min_messages = warning" \
    -c "SELECT aigc_train('bench_vae', 'contributions'::regclass, options => '{\"epochs\": 5, \"seed\": 1, \"progress_every\": 0}')" >/dev/null

# milliseconds of one statement
ms() {
    pg_psql -d "$db" -At -c "\\timing on" -c "$1" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
}
temp_bytes() {
    sleep 1.5    # backends flush their statistics at most once a second
    pg_psql -d "$db" -At -c "SELECT pg_stat_force_next_flush()" \
        -c "SELECT temp_bytes FROM pg_stat_database WHERE datname = current_database()" | tail -1
}

echo "LIMIT 1 of 10^12 rows, streaming: $(ms "SELECT * FROM aigc_sample(NULL::contributions, 'bench_vae', 1000000000000) LIMIT 1") ms"
echo "LIMIT 1 of 10^6 rows, Function Scan: $(ms "SELECT * FROM aigc_sample(NULL::contributions, 'bench_vae', 1000000) WITH ORDINALITY LIMIT 1") ms"
t0=$(temp_bytes)
echo "count(*) of 10^6 rows, streaming: $(ms "SELECT count(*) FROM aigc_sample(NULL::contributions, 'bench_vae', 1000000)") ms"
t1=$(temp_bytes)
echo "count(*) of 10^6 rows, Function Scan: $(ms "SELECT count(*) FROM aigc_sample(NULL::contributions, 'bench_vae', 1000000) WITH ORDINALITY") ms"
t2=$(temp_bytes)
echo "temporary bytes written: streaming $((t1 - t0)), Function Scan $((t2 - t1))"
