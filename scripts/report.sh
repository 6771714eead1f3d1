#!/usr/bin/env bash
# The HTML report of a model (aigc_report, docs/report.md) for people outside psql:
#
#   bash scripts/report.sh MODEL TABLE [--target COLUMN] [--group-by COLUMN] [--n N] [--seed S] > report.html
#
# Connects with the PG* environment when PGHOST or PGDATABASE is set, else to
# scripts/common.sh's throwaway cluster (AIGC_BASE, AIGC_PGPORT) and its demo
# database aigc_demo (scripts/demo.sh). The document goes to standard output.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() { die "usage: bash scripts/report.sh MODEL TABLE [--target COLUMN] [--group-by COLUMN] [--n N] [--seed S] > report.html"; }
[ $# -ge 2 ] || usage
model="$1" table="$2"
shift 2
target="" group_by="" n=5000 seed=0
while [ $# -gt 0 ]; do
    case "$1" in
        --target) target="${2:?}"; shift 2 ;;
        --group-by) group_by="${2:?}"; shift 2 ;;
        --n) n="${2:?}"; shift 2 ;;
        --seed) seed="${2:?}"; shift 2 ;;
        *) usage ;;
    esac
done
[[ "$n" =~ ^[0-9]+$ && "$seed" =~ ^-?[0-9]+$ ]] || die "--n and --seed take integers"

if [ -z "${PGHOST:-}" ] && [ -z "${PGDATABASE:-}" ]; then
    export PGHOST="$AIGC_SOCKDIR" PGPORT="$AIGC_PGPORT" PGUSER="${PGUSER:-postgres}" PGDATABASE=aigc_demo
fi
# psql variables are quoted by psql (:'name'), so any name is passed as a literal
pg_psql -At -v model="$model" -v tbl="$table" -v target="$target" -v group_by="$group_by" \
    -v n="$n" -v seed="$seed" <<'SQL'
SELECT aigc_report(:'model', :'tbl'::regclass, nullif(:'target', ''), :'n'::integer, :'seed'::bigint,
                   nullif(:'group_by', ''));
SQL
