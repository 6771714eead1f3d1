#!/usr/bin/env bash
# aigc_pg tests: install what is missing, build and install the extension,
# start a throwaway PostgreSQL 15 cluster and run `make installcheck` on it:
# pg_regress (test/sql -> expected/), then scripts/suites.sh: the fuzz smoke
# run, the shell TAP tests (test/shell; citus.sh starts its own three-node
# Citus cluster with scripts/cluster.sh, building Citus from ../shared/citus
# the first time, and is skipped with the reason when it cannot be built or
# when AIGC_CITUS=skip) and pgTAP (test/pgtap).  The last
# line printed is the summary `suites: N passed, N failed`; the exit status
# is non-zero if any suite failed.
#
#   bash scripts/test.sh
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ensure_packages
build_install

trap stop_cluster EXIT
start_cluster

# the shell tests may restart this cluster: it is ours
export AIGC_PGDATA_OWNED=1
rm -f "$ROOT/regression.diffs" "$ROOT/regression.out"
make -C "$ROOT" -s installcheck PG_CONFIG="$PG_CONFIG"
