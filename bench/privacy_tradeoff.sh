#!/usr/bin/env bash
# The privacy trade-off (docs/privacy.md): for the demo table contributions
# and every table of the shared data folder (../shared/data relative to the
# repository root, or AIGC_DATA_DIR), split the rows into a training part
# (80%, a repeatable Bernoulli sample) and a holdout the models never see,
# train every kind without DP and at epsilon 10, 3 and 1 (delta 1e-6), and
# print per table, kind and budget: the epsilon spent, the SDMetrics-style
# quality score of aigc_evaluate (against the training rows) and the ROC AUC
# of its membership-inference attack (training rows against the holdout;
# 0.5 = chance).
#
#   bash bench/privacy_tradeoff.sh
#
# Settings (environment):
#   AIGC_BENCH_EPOCHS    epochs of every run (default 10)
#   AIGC_BENCH_ROWS      train on about this many rows of each table at most
#                        (default 8000; the holdout is a quarter of it)
#   AIGC_BENCH_KINDS     kinds to run (default "vae gan transformer")
#   AIGC_BENCH_EPSILONS  budgets, "none" for no DP (default "none 10 3 1")
#   AIGC_BENCH_N         synthetic rows evaluated (default 5000)
#   AIGC_BENCH_SEED      seed of the split, training and evaluation (1)
# and those of scripts/common.sh (AIGC_PGBIN, AIGC_BASE, AIGC_PGPORT) for
# the throwaway cluster this script starts.
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"

DATA_DIR="${AIGC_DATA_DIR:-$ROOT/../shared/data}"
EPOCHS="${AIGC_BENCH_EPOCHS:-10}"
ROWS="${AIGC_BENCH_ROWS:-8000}"
read -r -a KINDS <<<"${AIGC_BENCH_KINDS:-vae gan transformer}"
read -r -a EPSILONS <<<"${AIGC_BENCH_EPSILONS:-none 10 3 1}"
N="${AIGC_BENCH_N:-5000}"
SEED="${AIGC_BENCH_SEED:-1}"
DB=aigc_bench

[ -d "$DATA_DIR" ] || die "data folder $DATA_DIR not found (set AIGC_DATA_DIR)"
shopt -s nullglob
tables=("$DATA_DIR"/*.sql)
shopt -u nullglob

bench_cluster "$DB"
(cd "$ROOT" && pg_psql -d "$DB" -f data/contributions.sql >/dev/null)
for sql in "${tables[@]}"; do
    # \copy paths in the data files are relative to their folder
    (cd "$DATA_DIR" && pg_psql -d "$DB" -f "$(basename "$sql")" >/dev/null)
done

printf '\naigc_pg privacy trade-off: %s epochs, at most %s training rows, %s synthetic rows evaluated, seed %s; %s CPU(s), load %s\n\n' \
    "$EPOCHS" "$ROWS" "$N" "$SEED" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-18s %-11s %6s %6s %8s %8s %8s %7s\n' table kind target spent quality shapes pairs mia_auc

for table in contributions $(for sql in "${tables[@]}"; do basename "$sql" .sql; done); do
    # the split: Bernoulli samples of a table with no key, so the holdout is
    # every row of the table not drawn for training (EXCEPT ALL keeps duplicates)
    pg_psql -d "$DB" -v table="$table" -v rows="$ROWS" -v seed="$SEED" <<'SQL'
SET client_min_messages = warning;
SELECT count(*) AS table_rows FROM :"table" \gset
SELECT least(80, 100.0 * :rows / greatest(:table_rows, 1)) AS pct \gset
DROP TABLE IF EXISTS bench_train, bench_holdout;
CREATE TABLE bench_train AS
SELECT * FROM :"table" TABLESAMPLE BERNOULLI (:pct) REPEATABLE (:seed);
CREATE TABLE bench_holdout AS
SELECT * FROM (SELECT * FROM :"table" EXCEPT ALL SELECT * FROM bench_train) r
 ORDER BY pg_catalog.md5(r::text) LIMIT greatest(:rows / 4, 1);
SQL
    for kind in "${KINDS[@]}"; do
        for eps in "${EPSILONS[@]}"; do
            pg_psql -d "$DB" -At -F ' ' -v table="$table" -v kind="$kind" -v eps="$eps" \
                -v epochs="$EPOCHS" -v seed="$SEED" -v n="$N" <<'SQL' |
SET client_min_messages = warning;
SELECT format('bench_%s_%s_%s', :'table', :'kind', :'eps') AS model \gset
SELECT jsonb_build_object('epochs', :epochs, 'seed', :seed, 'progress_every', 0) ||
       CASE WHEN :'eps' = 'none' THEN '{}'::jsonb
            ELSE jsonb_build_object('privacy', jsonb_build_object('epsilon', nullif(:'eps', 'none')::float8, 'delta', 1e-6))
       END AS options \gset
SELECT (aigc_train(:'model', 'bench_train'::regclass, :'kind', :'options'::jsonb)).version AS v \gset
CREATE TEMP TABLE report AS
SELECT * FROM aigc_evaluate(:'model', 'bench_train'::regclass, n => :n, seed => :seed,
                            holdout => 'bench_holdout'::regclass);
SELECT :'table', :'kind', :'eps',
       coalesce((SELECT round((privacy->>'epsilon')::numeric, 2)::text FROM aigc.models
                  WHERE name = :'model' AND privacy IS NOT NULL), '-'),
       round(max(value) FILTER (WHERE metric = 'Quality Score')::numeric, 4),
       round(max(value) FILTER (WHERE property = 'Overall' AND metric = 'Column Shapes')::numeric, 4),
       round(max(value) FILTER (WHERE property = 'Overall' AND metric = 'Column Pair Trends')::numeric, 4),
       round(max(value) FILTER (WHERE property = 'Privacy'
                                  AND metric = 'Membership inference ROC AUC')::numeric, 4)
  FROM report;
SELECT aigc_drop(:'model');
SQL
            while read -r t k e spent q shapes pairs auc; do
                [ -n "$auc" ] || continue
                printf '%-18s %-11s %6s %6s %8s %8s %8s %7s\n' \
                    "$t" "$k" "$e" "$spent" "$q" "$shapes" "$pairs" "$auc"
            done
        done
    done
done
cat <<'EOF2'

target = privacy.epsilon asked (none: trained without DP); spent = the model's privacy.epsilon
(column statistics and DP-SGD together); quality = aigc_evaluate's Quality Score against the
training rows; mia_auc = its membership-inference ROC AUC, training rows against the holdout
(0.5 = the attacker does no better than chance; docs/privacy.md says what it does not prove).
EOF2
