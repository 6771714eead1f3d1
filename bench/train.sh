#!/usr/bin/env bash
# Training benchmark: throughput (rows x epochs / s) of VAE training on the
# demo tables, and how close training gets to OpenBLAS's own sgemm speed on
# the same matrix shapes (achieved GFLOP/s / sgemm GFLOP/s, same run).
#
#   bash bench/train.sh            # AIGC_BENCH_EPOCHS=N to change the budget (default 20)
#
# Installs what is missing, builds, and runs on its own throwaway cluster,
# like scripts/demo.sh.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"

EPOCHS="${AIGC_BENCH_EPOCHS:-20}"

bench_cluster aigc_bench
load_demo_data aigc_bench

log "training on contributions and randhie, $EPOCHS epochs each"
cd "$ROOT"
"$PGBIN/psql" -X -v ON_ERROR_STOP=1 -q -P pager=off -d aigc_bench -v epochs="$EPOCHS" <<'SQL'
SET client_min_messages = warning;
SELECT aigc_train('bench_contributions', 'contributions'::regclass,
                  options => format('{"epochs": %s, "seed": 1}', :'epochs')::jsonb) \gset
SELECT aigc_train('bench_randhie', 'randhie'::regclass,
                  options => format('{"epochs": %s, "seed": 1}', :'epochs')::jsonb) \gset
\echo
\echo 'VAE training (TVAE defaults: 128-128 encoder/decoder, latent 128, batch 500)'
SELECT m.name AS model, m.train_rows AS "rows", (m.stats->>'data_dim')::int AS encoded_width,
       jsonb_array_length(m.loss->'loss') AS epochs,
       round(m.train_seconds::numeric, 2) AS total_s,
       round((m.stats->>'train_loop_seconds')::numeric, 2) AS loop_s,
       round((m.stats->>'rows_epochs_per_second')::numeric) AS rows_epochs_per_s,
       round((m.stats->>'gemm_gflops_per_second')::numeric, 1) AS train_gflops,
       round(g.sgemm::numeric, 1) AS sgemm_gflops,
       round(((m.stats->>'gemm_gflops_per_second')::float8 / g.sgemm)::numeric, 3) AS train_over_sgemm
  FROM aigc.models m,
       LATERAL (SELECT aigc.sgemm_gflops(m.name, (m.hyperparams->>'batch_size')::int) AS sgemm) g
 ORDER BY m.name;
SQL
