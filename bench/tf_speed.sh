#!/usr/bin/env bash
# The transformer's training speed against the closest PyTorch equivalent
# (bench/tf_torch.py: the same architecture, sizes, batches and Adam), side
# by side in one run on the same machine: aigc_train trains the kind's
# defaults on contributions (without id) for AIGC_TF_EPOCHS epochs, then
# tf_torch.py trains the same positions and vocabulary slices (read off
# the stored model's columns) on as many rows, at the same thread count
# (aigc.threads, which sets OpenBLAS's threads during training, and torch's).
# Prints seconds per epoch of both and their ratio, in wall-clock time
# and in CPU time (the backend's training loop, train_loop_cpu_seconds,
# against the PyTorch process's): on a shared machine the CPU ratio is the
# steadier one, as neither side is charged for the time others take.
#
#   OPENBLAS_NUM_THREADS=1 bash bench/tf_speed.sh
#
# Settings: AIGC_TF_EPOCHS (2), AIGC_TF_THREADS (1), AIGC_TF_FLUSH_DENORMAL
# (1: torch.set_flush_denormal, PyTorch's best case; 0: its default), and
# those of scripts/common.sh for the throwaway cluster.  Needs Debian's
# python3-torch (/usr/bin/python3).
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"

EPOCHS="${AIGC_TF_EPOCHS:-2}"
THREADS="${AIGC_TF_THREADS:-1}"
FLUSH="${AIGC_TF_FLUSH_DENORMAL:-1}"
DB=aigc_tf_speed
export OPENBLAS_NUM_THREADS="$THREADS"

bench_cluster "$DB"
(cd "$ROOT" && pg_psql -d "$DB" -f data/contributions.sql >/dev/null)
read -r rows slices ours ours_cpu < <(pg_psql -d "$DB" -At -F ' ' -v epochs="$EPOCHS" -v threads="$THREADS" <<'SQL'
SET client_min_messages = warning;
SET aigc.threads = :threads;
SELECT aigc_train('tf_speed', 'contributions'::regclass, 'transformer',
                  jsonb_build_object('epochs', :epochs, 'seed', 1, 'exclude', '["id"]'::jsonb,
                                     'progress_every', 0)) IS NOT NULL AS trained \gset
-- each position's tokens: a categorical column's categories (and NULL),
-- a continuous one's modes (and NULL), then its offset bins
SELECT m.train_rows,
       string_agg(CASE WHEN c->>'encoding' = 'one-hot'
                       THEN ((c->>'categories')::int + ((c->>'null_fraction')::float8 > 0)::int)::text
                       ELSE ((c->>'modes')::int + ((c->>'null_fraction')::float8 > 0)::int)::text
                            || ',' || (m.hyperparams->>'offset_bins') END, ',' ORDER BY o),
       (m.stats->>'train_loop_seconds')::float8 / :epochs,
       (m.stats->>'train_loop_cpu_seconds')::float8 / :epochs
  FROM aigc.models m, jsonb_array_elements(m.columns) WITH ORDINALITY AS e(c, o)
 WHERE m.name = 'tf_speed'
 GROUP BY m.train_rows, m.hyperparams, m.stats;
SQL
)
flush=()
[ "$FLUSH" = 1 ] && flush=(--flush-denormal)
torch_json=$(/usr/bin/python3 "$ROOT/bench/tf_torch.py" --slices "$slices" --rows "$rows" \
    --epochs "$EPOCHS" --threads "$THREADS" "${flush[@]}")
/usr/bin/python3 - "$ours" "$torch_json" "$rows" "$slices" "$ours_cpu" <<'PY'
import json, sys
ours, torch, rows, slices = float(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
ours_cpu = float(sys.argv[5])
# the first epoch of PyTorch carries its warm-up: the later ones if any
t = torch["epoch_s"][1:] or torch["epoch_s"]
theirs = sum(t) / len(t)
tc = torch["epoch_cpu_s"][1:] or torch["epoch_cpu_s"]
theirs_cpu = sum(tc) / len(tc)
print(f"contributions: {rows} rows, {torch['positions']} positions, {torch['tokens']} tokens, "
      f"{torch['parameters']} parameters; threads {torch['threads']}, "
      f"flush_denormal {torch['flush_denormal']}, torch {torch['torch']}")
print(f"seconds per epoch: aigc_pg {ours:.2f}, PyTorch {theirs:.2f} (epochs {torch['epoch_s']}); "
      f"ratio aigc_pg / PyTorch {ours / theirs:.2f}")
print(f"CPU seconds per epoch: aigc_pg {ours_cpu:.2f}, PyTorch {theirs_cpu:.2f}; "
      f"ratio aigc_pg / PyTorch {ours_cpu / theirs_cpu:.2f}")
PY
