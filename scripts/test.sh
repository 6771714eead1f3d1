#!/usr/bin/env bash
# aigc_pg tests: install what is missing, build and install the extension,
# run the model-deserialiser fuzzer for a short fixed budget (fuzz/run.sh
# smoke: no cluster needed), start a throwaway PostgreSQL 15 cluster, then run
#   (a) the pg_regress suite (make installcheck: test/sql -> expected/)
#   (b) the shell tests (prove test/shell/*.sh: pg_dump/pg_restore, killing
#       and crashing a training), which need the cluster itself, and
#       test/shell/citus.sh, which starts its own three-node Citus cluster
#       (scripts/cluster.sh; building Citus from ../shared/citus the first
#       time, a few minutes; skipped with the reason when it cannot be built,
#       or when AIGC_CITUS=skip)
#   (c) the pgTAP suite (pg_prove test/pgtap/*.sql) in a fresh database
#       aigc_test that holds the demo tables.
# The last line printed is pg_prove's summary; the exit status is non-zero if
# any part failed.
#
#   bash scripts/test.sh
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ensure_packages
build_install

failed=0

# Fuzz smoke: a finding (crash, sanitizer report, unexpected ERROR) fails the suite.
log "fuzz smoke: fuzz/run.sh smoke"
if ! PG_CONFIG="$PG_CONFIG" bash "$ROOT/fuzz/run.sh" smoke; then
    failed=1
fi

trap stop_cluster EXIT
start_cluster

# (a) pg_regress against the running cluster (PGHOST/PGPORT/PGUSER are set).
log "pg_regress: make installcheck"
rm -f "$ROOT/regression.diffs" "$ROOT/regression.out"
if ! make -C "$ROOT" -s installcheck PG_CONFIG="$PG_CONFIG"; then
    failed=1
    if [ -f "$ROOT/regression.diffs" ]; then
        echo "---- regression.diffs ----"
        cat "$ROOT/regression.diffs"
        echo "---- end of regression.diffs ----"
    fi
    echo "pg_regress: FAILED"
fi

# (b) shell tests; they restart the cluster, so they run before pgTAP
export AIGC_BASE AIGC_PGDATA AIGC_PGPORT AIGC_PGBIN="$PGBIN"
log "shell tests: prove test/shell/*.sh"
if ! prove "$ROOT"/test/shell/*.sh; then
    failed=1
    echo "shell tests: FAILED"
fi

# (c) pgTAP
shopt -s nullglob
tap_files=("$ROOT"/test/pgtap/*.sql)
shopt -u nullglob
if [ "${#tap_files[@]}" -eq 0 ]; then
    log "no pgTAP tests in test/pgtap"
    if [ "$failed" -ne 0 ]; then
        exit 1
    fi
    exit 0
fi

create_database aigc_test pgtap aigc_pg
load_demo_data aigc_test

log "pgTAP: pg_prove test/pgtap/*.sql"
cd "$ROOT"
prove_status=0
PGOPTIONS="-c client_min_messages=warning" pg_prove --psql-bin "$PGBIN/psql" --timer -d aigc_test "${tap_files[@]#"$ROOT"/}" 2>&1 || prove_status=$?

if [ "$prove_status" -ne 0 ] || [ "$failed" -ne 0 ]; then
    exit 1
fi
