#!/usr/bin/env bash
# Quality per training second: for every table of the shared data folder
# (../shared/data relative to the repository root, or AIGC_DATA_DIR) and
# every kind asked for, train a model with a fixed budget, then print the
# aigc_evaluate() report's main figures next to the training time.
#
#   bash bench/quality.sh
#   AIGC_BENCH_KINDS="vae gan transformer" bash bench/quality.sh
#
# Settings (environment): AIGC_BENCH_KINDS (vae), AIGC_BENCH_EPOCHS (30),
# AIGC_BENCH_SEED (1), AIGC_BENCH_N synthetic rows evaluated (10000),
# AIGC_BENCH_TABLES (every table of the data folder), and those of
# scripts/common.sh (AIGC_PGBIN, AIGC_BASE, AIGC_PGPORT) for the throwaway
# cluster this script starts.  Timings depend on the machine: compare runs
# on the same one.
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"

DATA_DIR="${AIGC_DATA_DIR:-$ROOT/../shared/data}"
EPOCHS="${AIGC_BENCH_EPOCHS:-30}"
SEED="${AIGC_BENCH_SEED:-1}"
N="${AIGC_BENCH_N:-10000}"
KINDS="${AIGC_BENCH_KINDS:-vae}"
DB=aigc_bench

[ -d "$DATA_DIR" ] || die "data folder $DATA_DIR not found (set AIGC_DATA_DIR)"
shopt -s nullglob
tables=("$DATA_DIR"/*.sql)
shopt -u nullglob
if [ -n "${AIGC_BENCH_TABLES:-}" ]; then
    tables=()
    for t in $AIGC_BENCH_TABLES; do tables+=("$DATA_DIR/$t.sql"); done
fi
[ "${#tables[@]}" -gt 0 ] || die "no *.sql tables in $DATA_DIR"

bench_cluster "$DB"

printf '\naigc_pg quality benchmark: %s, %s epochs, seed %s, %s synthetic rows evaluated; %s; %s\n\n' \
    "$KINDS" "$EPOCHS" "$SEED" "$N" "$(nproc) CPU(s)" "$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)"
printf '%-18s %-11s %7s %8s %8s %7s %7s %7s %7s %7s %7s %9s\n' \
    table kind rows train_s quality shapes pairs det_auc dcr_p5 copies eval_s quality/s
for sql in "${tables[@]}"; do
    table="$(basename "$sql" .sql)"
    [ -f "$sql" ] || die "$sql not found"
    # \copy paths in the data files are relative to their folder
    (cd "$DATA_DIR" && pg_psql -d "$DB" -f "$(basename "$sql")" >/dev/null)
    for kind in $KINDS; do
        pg_psql -d "$DB" -At -F ' ' -v table="$table" -v kind="$kind" -v epochs="$EPOCHS" -v seed="$SEED" -v n="$N" <<'SQL' |
SET client_min_messages = warning;
SELECT train_rows, train_seconds
  FROM aigc_train('bench_' || :'kind' || '_' || :'table', :'table'::regclass, :'kind',
                  jsonb_build_object('epochs', :epochs, 'seed', :seed, 'progress_every', 0)) \gset
SELECT clock_timestamp() AS eval_start \gset
CREATE TEMP TABLE report AS
SELECT * FROM aigc_evaluate('bench_' || :'kind' || '_' || :'table', :'table'::regclass, n => :n, seed => :seed);
SELECT :'table', :'kind', :train_rows, round(:train_seconds::numeric, 1),
       round(max(value) FILTER (WHERE metric = 'Quality Score')::numeric, 4),
       round(max(value) FILTER (WHERE property = 'Overall' AND metric = 'Column Shapes')::numeric, 4),
       round(max(value) FILTER (WHERE property = 'Overall' AND metric = 'Column Pair Trends')::numeric, 4),
       round(max(value) FILTER (WHERE metric = 'Logistic regression ROC AUC')::numeric, 4),
       round(max(value) FILTER (WHERE metric = 'DCR share closer than holdout p5')::numeric, 4),
       max(value) FILTER (WHERE metric = 'Exact copies')::bigint,
       round(extract(epoch FROM clock_timestamp() - :'eval_start'::timestamptz), 2),
       round((max(value) FILTER (WHERE metric = 'Quality Score') / :train_seconds)::numeric, 5)
  FROM report;
SQL
        while read -r t k rows train q shapes pairs auc dcr copies eval qps; do
            printf '%-18s %-11s %7s %8s %8s %7s %7s %7s %7s %7s %7s %9s\n' \
                "$t" "$k" "$rows" "$train" "$q" "$shapes" "$pairs" "$auc" "$dcr" "$copies" "$eval" "$qps"
        done
    done
done
cat <<'EOF2'

quality = SDMetrics QualityReport score (mean of Column Shapes and Column Pair Trends);
det_auc = ROC AUC of a logistic regression telling real from synthetic rows (0.5 best);
dcr_p5 = share of synthetic rows closer to the training half than the holdout's 5th
percentile distance (about 0.05 when nothing is copied); copies = synthetic rows equal
to a real row; quality/s = quality score per second of training.  See docs/evaluate.md.
EOF2
