#!/usr/bin/env bash
# Differentially private training benchmark (docs/privacy.md): seconds per
# epoch of VAE training with and without DP-SGD side by side, and the
# quality of the samples (aigc_evaluate) at epsilon 1, 3 and 10 and without
# DP, on the 20000-row demo table contributions.
#
#   bash bench/privacy.sh        # AIGC_BENCH_EPOCHS=N to change the budget (default 10)
#
# Installs what is missing, builds, and runs on its own throwaway cluster,
# like scripts/demo.sh.  Every run has the same options (TVAE defaults,
# batch 500, seed 1) but for privacy (null: none); delta is 1e-6 < 1 / 20000.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"

EPOCHS="${AIGC_BENCH_EPOCHS:-10}"

bench_cluster aigc_bench
load_demo_data aigc_bench

log "training on contributions, $EPOCHS epochs each: without DP, then at epsilon 10, 3 and 1"
cd "$ROOT"
"$PGBIN/psql" -X -v ON_ERROR_STOP=1 -q -P pager=off -d aigc_bench -v epochs="$EPOCHS" <<'SQL'
SET client_min_messages = warning;
CREATE TEMP TABLE runs (model text, privacy jsonb);
INSERT INTO runs VALUES ('bench_nodp', NULL),
    ('bench_eps10', '{"epsilon": 10, "delta": 1e-6}'),
    ('bench_eps3', '{"epsilon": 3, "delta": 1e-6}'),
    ('bench_eps1', '{"epsilon": 1, "delta": 1e-6}');
SELECT count(aigc_train(model, 'contributions'::regclass,
                        options => jsonb_build_object('epochs', :'epochs'::int, 'seed', 1,
                                                      'privacy', privacy)))
  FROM runs \gset
\echo
\echo 'VAE training with and without DP-SGD (TVAE defaults, batch 500 = expected batch under DP)'
SELECT r.model, coalesce(r.privacy->>'epsilon', '-') AS target_epsilon,
       round((m.privacy->>'epsilon')::numeric, 4) AS epsilon_spent,
       round((m.privacy->>'noise_multiplier')::numeric, 4) AS noise_multiplier,
       (m.stats->>'steps')::int AS steps,
       round(((m.stats->>'train_loop_seconds')::float8 / jsonb_array_length(m.loss->'loss'))::numeric, 3)
           AS seconds_per_epoch,
       round((m.loss->'loss'->>-1)::numeric, 3) AS final_loss
  FROM runs r JOIN aigc.models m ON m.name = r.model
 ORDER BY m.created_at;
\echo
\echo 'Quality of 10000 samples against the table (aigc_evaluate, seed 0)'
SELECT r.model,
       round(max(e.value) FILTER (WHERE e.property = 'Overall' AND e.metric = 'Quality Score')::numeric, 4) AS quality,
       round(max(e.value) FILTER (WHERE e.property = 'Overall' AND e.metric = 'Column Shapes')::numeric, 4) AS column_shapes,
       round(max(e.value) FILTER (WHERE e.property = 'Overall' AND e.metric = 'Column Pair Trends')::numeric, 4) AS pair_trends,
       round(max(e.value) FILTER (WHERE e.metric = 'Logistic regression ROC AUC')::numeric, 4) AS detection_auc
  FROM runs r CROSS JOIN LATERAL aigc_evaluate(r.model, 'contributions'::regclass, n => 10000) e
 GROUP BY r.model
 ORDER BY min(r.ctid);
SQL
