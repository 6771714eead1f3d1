#!/usr/bin/env bash
# aigc_pg demo: install what is missing, build and install the extension,
# start a throwaway PostgreSQL 15 cluster, load the demo tables and run
# scripts/demo.sql (train two models, compare synthetic with real rows).
#
#   bash scripts/demo.sh
#
# AIGC_KEEP_RUNNING=1 leaves the cluster running afterwards, to explore the
# database aigc_demo with psql (the command is printed at the end).
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ensure_packages
build_install

if [ "${AIGC_KEEP_RUNNING:-0}" != 1 ]; then
    trap stop_cluster EXIT
fi
start_cluster

create_database aigc_demo aigc_pg
load_demo_data aigc_demo

log "running scripts/demo.sql"
cd "$ROOT"
"$PGBIN/psql" -X -v ON_ERROR_STOP=1 -q -e -P pager=off -d aigc_demo -f scripts/demo.sql

if [ "${AIGC_KEEP_RUNNING:-0}" = 1 ]; then
    log "cluster left running: $PGBIN/psql -h $PGHOST -p $PGPORT -U postgres aigc_demo"
    log "stop it with: runuser -u postgres -- $PGBIN/pg_ctl -D $AIGC_PGDATA stop"
fi
