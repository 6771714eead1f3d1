#!/usr/bin/env bash
# The three model kinds side by side: for the demo table contributions and
# every table of the shared data folder (../shared/data relative to the
# repository root, or AIGC_DATA_DIR), train a VAE, a GAN and a transformer
# and print per table and kind the training seconds, aigc_evaluate()'s
# SDMetrics-style quality score with its Column Shapes and Column Pair Trends
# halves, and, on contributions, the ROC AUC with which aigc_score ranks the
# 600 planted anomalies of data/contributions_anomalies.sql above the real
# rows (as in test/pgtap/09_anomalies.sql).
#
#   bash bench/kinds.sh                          # each kind's default options
#   AIGC_BENCH_SECONDS=120 bash bench/kinds.sh   # equal wall-clock
#
# Settings (environment):
#   AIGC_BENCH_EPOCHS    epochs for every kind (default: each kind's own
#                        default, 300 / 300 / 30)
#   AIGC_BENCH_SECONDS   equal wall-clock mode: each kind first trains
#                        AIGC_BENCH_PROBE_EPOCHS (2) epochs to measure its
#                        seconds per epoch, then trains
#                        max(1, round(budget / seconds per epoch)) epochs, so
#                        every kind spends about the same training loop time
#   AIGC_BENCH_ROWS      train on about this many rows of each table (a
#                        repeatable Bernoulli sample) to shorten a run; the
#                        evaluation still compares against the whole table
#   AIGC_BENCH_N         synthetic rows evaluated (10000)
#   AIGC_BENCH_SEED      seed of training, sampling and evaluation (1)
#   AIGC_BENCH_KINDS     the kinds to train, space-separated ("vae gan
#                        transformer")
#   AIGC_BENCH_TABLES    the tables, space-separated (contributions and every
#                        table of the data folder)
# and those of scripts/common.sh (AIGC_PGBIN, AIGC_BASE, AIGC_PGPORT) for
# the throwaway cluster this script starts.  Timings depend on the machine
# and its load: compare runs on the same one.
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"

DATA_DIR="${AIGC_DATA_DIR:-$ROOT/../shared/data}"
EPOCHS="${AIGC_BENCH_EPOCHS:-}"
BUDGET="${AIGC_BENCH_SECONDS:-}"
PROBE="${AIGC_BENCH_PROBE_EPOCHS:-2}"
ROWS="${AIGC_BENCH_ROWS:-}"
N="${AIGC_BENCH_N:-10000}"
SEED="${AIGC_BENCH_SEED:-1}"
DB=aigc_bench
read -r -a KINDS <<<"${AIGC_BENCH_KINDS:-vae gan transformer}"

[ -z "$EPOCHS" ] || [ -z "$BUDGET" ] || die "set AIGC_BENCH_EPOCHS or AIGC_BENCH_SECONDS, not both"
[ -d "$DATA_DIR" ] || die "data folder $DATA_DIR not found (set AIGC_DATA_DIR)"
shopt -s nullglob
tables=("$DATA_DIR"/*.sql)
shopt -u nullglob

bench_cluster "$DB"
(cd "$ROOT" &&
    pg_psql -d "$DB" -f data/contributions.sql >/dev/null &&
    pg_psql -d "$DB" -f data/contributions_anomalies.sql >/dev/null)
for sql in "${tables[@]}"; do
    # \copy paths in the data files are relative to their folder
    (cd "$DATA_DIR" && pg_psql -d "$DB" -f "$(basename "$sql")" >/dev/null)
done

if [ -n "$BUDGET" ]; then
    mode="equal wall-clock: about ${BUDGET}s of training loop per kind (epochs from a ${PROBE}-epoch probe)"
elif [ -n "$EPOCHS" ]; then
    mode="$EPOCHS epochs for every kind"
else
    mode="each kind's default epochs"
fi
printf '\naigc_pg kinds benchmark: %s; training rows %s; seed %s; %s synthetic rows evaluated; %s CPU(s), load %s\n\n' \
    "$mode" "${ROWS:-all}" "$SEED" "$N" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-18s %-11s %7s %6s %8s %8s %7s %7s %8s\n' \
    table kind rows epochs train_s quality shapes pairs anom_auc

for table in ${AIGC_BENCH_TABLES:-contributions $(for sql in "${tables[@]}"; do basename "$sql" .sql; done)}; do
    for kind in "${KINDS[@]}"; do
        pg_psql -d "$DB" -At -F ' ' -v table="$table" -v kind="$kind" -v seed="$SEED" -v n="$N" \
            -v epochs="$EPOCHS" -v budget="$BUDGET" -v probe="$PROBE" -v rows="$ROWS" <<'SQL' |
SET client_min_messages = warning;
SELECT 'bench_' || :'table' || '_' || :'kind' AS model \gset
SELECT count(*) AS table_rows FROM :"table" \gset
SELECT CASE WHEN :'rows' = '' THEN format('SELECT * FROM %I', :'table')
            ELSE format('SELECT * FROM %I TABLESAMPLE BERNOULLI (%s) REPEATABLE (%s)', :'table',
                        least(100, 100.0 * nullif(:'rows', '')::bigint / greatest(:table_rows, 1)), :seed)
       END AS query \gset
-- equal wall-clock: epochs from the seconds per epoch of a short probe
SELECT CASE WHEN :'budget' = '' THEN '{}'::jsonb
            ELSE jsonb_build_object('epochs', :probe::int)
       END AS probe_options \gset
-- (\gset unsets a variable for a NULL, hence '' when there is no probe)
SELECT CASE WHEN :'budget' = '' THEN ''
            ELSE (aigc_train(:'model' || '_probe', :'query', :'kind',
                             :'probe_options'::jsonb || jsonb_build_object('seed', :seed, 'progress_every', 0))).name
       END AS probe_model \gset
SELECT jsonb_build_object('seed', :seed, 'progress_every', 0) ||
       CASE WHEN :'epochs' <> '' THEN jsonb_build_object('epochs', nullif(:'epochs', '')::int)
            WHEN :'budget' <> '' THEN
                (SELECT jsonb_build_object('epochs', greatest(1, round(nullif(:'budget', '')::float8 * :probe
                                                                      / (stats->>'train_loop_seconds')::float8))::int)
                   FROM aigc.models WHERE name = :'probe_model')
            ELSE '{}'::jsonb
       END AS options \gset
SELECT CASE WHEN :'budget' = '' THEN 0 ELSE aigc_drop(:'probe_model') END AS dropped \gset
SELECT train_rows, train_seconds, epochs
  FROM aigc_train(:'model', :'query', :'kind', :'options'::jsonb) \gset
CREATE TEMP TABLE report AS
SELECT * FROM aigc_evaluate(:'model', :'table'::regclass, n => :n, seed => :seed);
-- ROC AUC by Mann-Whitney over the planted anomalies (contributions only)
CREATE TEMP TABLE scored AS
SELECT anomaly IS NOT NULL AS pos, aigc_score(:'model', c) AS s
  FROM contributions_anomalies c WHERE :'table' = 'contributions';
SELECT coalesce(round((sum(rk) FILTER (WHERE pos)
                       - count(*) FILTER (WHERE pos) * (count(*) FILTER (WHERE pos) + 1) / 2.0)
                      / nullif(count(*) FILTER (WHERE pos) * count(*) FILTER (WHERE NOT pos), 0), 4)::text,
                '-') AS auc
  FROM (SELECT pos, rank() OVER (ORDER BY s) + (count(*) OVER (PARTITION BY s) - 1) / 2.0 AS rk
          FROM scored) r \gset
SELECT :'table', :'kind', :train_rows, :epochs, round(:train_seconds::numeric, 1),
       round(max(value) FILTER (WHERE metric = 'Quality Score')::numeric, 4),
       round(max(value) FILTER (WHERE property = 'Overall' AND metric = 'Column Shapes')::numeric, 4),
       round(max(value) FILTER (WHERE property = 'Overall' AND metric = 'Column Pair Trends')::numeric, 4),
       :'auc'
  FROM report;
SQL
        while read -r t k rows ep train q shapes pairs auc; do
            printf '%-18s %-11s %7s %6s %8s %8s %7s %7s %8s\n' \
                "$t" "$k" "$rows" "$ep" "$train" "$q" "$shapes" "$pairs" "$auc"
        done
    done
done
cat <<'EOF2'

train_s = aigc_train's train_seconds; quality = SDMetrics QualityReport score (mean of
Column Shapes and Column Pair Trends, see docs/evaluate.md); anom_auc = ROC AUC of
aigc_score over the 600 planted anomalies of contributions_anomalies (0.5 = chance).
EOF2
