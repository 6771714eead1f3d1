#!/usr/bin/env bash
# Differentially private training benchmark (docs/privacy.md): seconds per
# epoch of training with and without DP-SGD side by side, and the quality of
# the samples (aigc_evaluate) at epsilon 1, 3 and 10 and without DP, on the
# 20000-row demo table contributions, for the VAE, the GAN and the
# transformer.
#
#   bash bench/privacy.sh        # AIGC_BENCH_KINDS="vae gan transformer" (default) to choose kinds,
#                                # AIGC_BENCH_EPOCHS=N (default 10) for the VAE,
#                                # AIGC_BENCH_GAN_EPOCHS=N (default 5) for the GAN,
#                                # AIGC_BENCH_TF_EPOCHS=N (default 3) for the transformer
#
# Installs what is missing, builds, and runs on its own throwaway cluster,
# like scripts/demo.sh.  Every run of a kind has the same options (the
# kind's defaults, batch 500, seed 1; the transformer without the key
# column id) but for privacy (null: none); delta is
# 1e-6 < 1 / 20000.  The GAN also runs without DP at pac 1, the pac DP-SGD
# uses, so that the cost of DP itself shows apart from pac's.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"

KINDS="${AIGC_BENCH_KINDS:-vae gan transformer}"
VAE_EPOCHS="${AIGC_BENCH_EPOCHS:-10}"
GAN_EPOCHS="${AIGC_BENCH_GAN_EPOCHS:-5}"
TF_EPOCHS="${AIGC_BENCH_TF_EPOCHS:-3}"

bench_cluster aigc_bench
load_demo_data aigc_bench
cd "$ROOT"

# bench_kind KIND EPOCHS: trains the runs (no DP first, the reference of the
# epoch-time ratio), then prints their cost and their samples' quality
bench_kind() {
    local kind="$1" epochs="$2"
    log "$kind on contributions, $epochs epochs each: without DP, then at epsilon 10, 3 and 1"
    "$PGBIN/psql" -X -v ON_ERROR_STOP=1 -q -P pager=off -d aigc_bench \
        -v kind="$kind" -v epochs="$epochs" <<'SQL'
SET client_min_messages = warning;
CREATE TEMP TABLE runs (model text, extra jsonb, privacy jsonb);
INSERT INTO runs VALUES (:'kind' || '_nodp', '{}', NULL);
-- a unique key column teaches a transformer nothing and costs it a token
UPDATE runs SET extra = '{"exclude": ["id"]}' WHERE :'kind' = 'transformer';
INSERT INTO runs SELECT :'kind' || '_nodp_pac1', '{"pac": 1}', NULL WHERE :'kind' = 'gan';
INSERT INTO runs SELECT :'kind' || e.suffix, r.extra, e.privacy
  FROM (SELECT extra FROM runs WHERE model = :'kind' || '_nodp') r,
       (VALUES ('_eps10', '{"epsilon": 10, "delta": 1e-6}'::jsonb),
               ('_eps3', '{"epsilon": 3, "delta": 1e-6}'), ('_eps1', '{"epsilon": 1, "delta": 1e-6}')) e(suffix, privacy);
SELECT count(aigc_train(model, 'contributions'::regclass, :'kind',
                        extra || jsonb_build_object('epochs', :'epochs'::int, 'seed', 1,
                                                    'batch_size', 500, 'privacy', privacy)))
  FROM (SELECT * FROM runs ORDER BY ctid) r \gset
\echo
\echo 'Training with and without DP-SGD (the kind''s defaults, batch 500 = expected batch under DP)'
WITH t AS (
    SELECT r.model, r.privacy AS target, m.privacy, m.stats, m.loss, m.created_at,
           (m.stats->>'train_loop_seconds')::float8 / (m.hyperparams->>'epochs')::int AS spe
      FROM runs r JOIN aigc.models m ON m.name = r.model)
SELECT t.model, coalesce(t.target->>'epsilon', '-') AS target_epsilon,
       round((t.privacy->>'epsilon')::numeric, 4) AS epsilon_spent,
       round((t.privacy->>'noise_multiplier')::numeric, 4) AS noise_multiplier,
       (t.stats->>'steps')::int AS steps,
       round(t.spe::numeric, 3) AS seconds_per_epoch,
       round((t.spe / (SELECT spe FROM t WHERE model = :'kind' || '_nodp'))::numeric, 2) AS vs_no_dp,
       -- the first loss series: the VAE's total, the GAN's generator loss, the transformer's NLL
       round((coalesce(t.loss->'loss', t.loss->'generator', t.loss->'nll')->>-1)::numeric, 3) AS final_loss
  FROM t
 ORDER BY t.created_at;
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
}

for kind in $KINDS; do
    case "$kind" in
        vae) bench_kind vae "$VAE_EPOCHS" ;;
        gan) bench_kind gan "$GAN_EPOCHS" ;;
        transformer) bench_kind transformer "$TF_EPOCHS" ;;
        *) die "unknown kind in AIGC_BENCH_KINDS: $kind" ;;
    esac
done
