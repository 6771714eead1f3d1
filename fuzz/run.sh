#!/usr/bin/env bash
# Run the model-deserialiser fuzzer (docs/fuzzing.md).
#
#   bash fuzz/run.sh smoke      fixed budget (AIGC_FUZZ_RUNS inputs, seed 1) on a
#                               fresh corpus; one PASS/FAIL line, log tail on failure
#   bash fuzz/run.sh SECONDS    long run on the persistent corpus fuzz/corpus,
#                               crash files in fuzz/artifacts
#
# PG_CONFIG selects the PostgreSQL whose headers and libraries are used.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PG_CONFIG="${PG_CONFIG:-pg_config}"
MODE="${1:?usage: run.sh smoke|SECONDS}"
RUNS="${AIGC_FUZZ_RUNS:-300000}"

make -C "$HERE" -s PG_CONFIG="$PG_CONFIG" all >/dev/null

# one BLAS thread: the machine is shared and nothing here multiplies matrices
export OPENBLAS_NUM_THREADS=1
opts=(-max_len=8192 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)

if [ "$MODE" = smoke ]; then
    work="$HERE/build/smoke"
    rm -rf "$work" && mkdir -p "$work/corpus"
    if "$HERE/build/fuzz_model" "${opts[@]}" -seed=1 -runs="$RUNS" \
            -artifact_prefix="$work/" "$work/corpus" "$HERE/build/seeds" \
            >"$work/fuzz.log" 2>&1; then
        echo "fuzz smoke: PASS ($RUNS inputs, seed 1, $(ls "$work/corpus" | wc -l) new corpus entries)"
        exit 0
    fi
    echo "fuzz smoke: FAIL (log: $work/fuzz.log)"
    grep -v '^#\|Uses:' "$work/fuzz.log" | tail -n 40
    ls "$work"/crash-* "$work"/leak-* "$work"/oom-* "$work"/timeout-* 2>/dev/null || true
    exit 1
fi

[[ "$MODE" =~ ^[0-9]+$ ]] || { echo "usage: run.sh smoke|SECONDS" >&2; exit 2; }
mkdir -p "$HERE/corpus" "$HERE/artifacts"
exec "$HERE/build/fuzz_model" "${opts[@]}" -max_total_time="$MODE" \
    -artifact_prefix="$HERE/artifacts/" "$HERE/corpus" "$HERE/build/seeds"
