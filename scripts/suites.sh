#!/usr/bin/env bash
# Every test suite after pg_regress, against the running server that libpq's
# environment (PGHOST, PGPORT, PGUSER) names; `make installcheck` runs
# pg_regress and then this script with pg_regress's exit status, and
# scripts/test.sh runs `make installcheck` on its throwaway cluster.
#   (a) fuzz smoke: the model-deserialiser fuzzer for a short fixed budget
#       (needs clang; skipped with a message without it)
#   (b) the shell TAP tests (prove test/shell/*.sh): pg_dump/pg_restore,
#       killing and crashing a training, concurrency.  They restart the
#       server, so they run only on scripts/common.sh's throwaway cluster
#       (AIGC_PGDATA set); elsewhere they are skipped with a message.
#   (c) pgTAP (pg_prove test/pgtap/*.sql) in a fresh database aigc_test
#       holding the demo tables.
# The last line is the summary `suites: N passed, N failed`; the exit status
# is non-zero if any suite failed.
#
#   bash scripts/suites.sh [PG_REGRESS_STATUS]
set -uo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
set +e

passed=0
failed=0
suite_result() {
    if [ "$2" -eq 0 ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "$1: FAILED"
    fi
}

if [ $# -gt 0 ]; then
    if [ "$1" -ne 0 ] && [ -f "$ROOT/regression.diffs" ]; then
        echo "---- regression.diffs ----"
        cat "$ROOT/regression.diffs"
        echo "---- end of regression.diffs ----"
    fi
    suite_result pg_regress "$1"
fi

if command -v clang >/dev/null 2>&1; then
    log "fuzz smoke: fuzz/run.sh smoke"
    PG_CONFIG="$PG_CONFIG" bash "$ROOT/fuzz/run.sh" smoke
    suite_result "fuzz smoke" $?
else
    log "fuzz smoke skipped: clang is not installed (scripts/test.sh installs it)"
fi

if [ -n "${AIGC_PGDATA_OWNED:-}" ]; then
    log "shell tests: prove test/shell/*.sh"
    export AIGC_BASE AIGC_PGDATA AIGC_PGPORT AIGC_PGBIN="$PGBIN"
    prove "$ROOT"/test/shell/*.sh
    suite_result "shell tests" $?
else
    log "shell tests skipped: they restart the server, so they run only on the throwaway cluster of scripts/test.sh"
fi

shopt -s nullglob
tap_files=("$ROOT"/test/pgtap/*.sql)
shopt -u nullglob
if [ "${#tap_files[@]}" -gt 0 ]; then
    create_database aigc_test pgtap aigc_pg && load_demo_data aigc_test
    status=$?
    if [ "$status" -eq 0 ]; then
        log "pgTAP: pg_prove test/pgtap/*.sql"
        (cd "$ROOT" &&
            PGOPTIONS="-c client_min_messages=warning" pg_prove --psql-bin "$PGBIN/psql" \
                --timer -d aigc_test "${tap_files[@]#"$ROOT"/}" 2>&1)
        status=$?
    fi
    suite_result pgTAP "$status"
fi

echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
