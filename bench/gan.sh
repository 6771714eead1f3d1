#!/usr/bin/env bash
# Training throughput of the VAE, the GAN and the transformer side by side,
# on the generated contributions table (20000 rows) with each kind's default
# (TVAE / CTGAN / docs/transformer.md) hyperparameters:
#   rows x epochs per second of the training loop,
#   GFLOP/s the loop achieves in its matrix products,
#   GFLOP/s OpenBLAS sgemm alone reaches on the same shapes (aigc.sgemm_gflops),
#   and their ratio, the GEMM efficiency (how much of the loop is GEMM-bound;
#   for the transformer the loop's FLOPs are three forwards, attention and
#   head included, while sgemm_gflops times its projections only).
# Starts its own throwaway cluster (scripts/common.sh settings apply).
#
#   bash bench/gan.sh            # 5 epochs each
#   AIGC_BENCH_EPOCHS=20 bash bench/gan.sh
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"

EPOCHS="${AIGC_BENCH_EPOCHS:-5}"

bench_cluster aigc_bench
load_demo_data aigc_bench

log "training a VAE, a GAN and a transformer for $EPOCHS epochs each"
pg_psql -d aigc_bench <<SQL
SET client_min_messages = warning;
SELECT name, train_seconds FROM aigc_train('bench_vae', 'contributions'::regclass, kind => 'vae',
                  options => '{"epochs": $EPOCHS, "seed": 1, "progress_every": 0}');
SELECT name, train_seconds FROM aigc_train('bench_gan', 'contributions'::regclass, kind => 'gan',
                  options => '{"epochs": $EPOCHS, "seed": 1, "progress_every": 0}');
SELECT name, train_seconds FROM aigc_train('bench_tf', 'contributions'::regclass, kind => 'transformer',
                  options => '{"epochs": $EPOCHS, "seed": 1, "progress_every": 0}');
\pset footer off
SELECT m.kind,
       round((m.stats->>'rows_epochs_per_second')::numeric) AS rows_epochs_per_s,
       round((m.stats->>'train_loop_seconds')::numeric / $EPOCHS, 2) AS seconds_per_epoch,
       round((m.stats->>'gemm_gflops_per_second')::numeric, 1) AS loop_gflops,
       round(g.sgemm::numeric, 1) AS sgemm_gflops,
       round(((m.stats->>'gemm_gflops_per_second')::float8 / g.sgemm)::numeric, 2) AS gemm_efficiency
  FROM aigc.models m,
       LATERAL (SELECT aigc.sgemm_gflops(m.name, (m.hyperparams->>'batch_size')::int, seconds => 2.0) AS sgemm) g
 WHERE m.name IN ('bench_vae', 'bench_gan', 'bench_tf')
 ORDER BY m.kind DESC;
SELECT round(((SELECT (stats->>'rows_epochs_per_second')::float8 FROM aigc.models WHERE name = 'bench_vae') /
              (SELECT (stats->>'rows_epochs_per_second')::float8 FROM aigc.models WHERE name = 'bench_gan'))::numeric, 1)
       AS vae_over_gan_throughput;
SQL
