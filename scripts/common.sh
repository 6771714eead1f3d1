# shellcheck shell=bash
# Shared helpers for scripts/demo.sh and scripts/test.sh; source this file.
#
# Works on a fresh Debian 12 machine as root (CI), and is idempotent: every
# run installs only what is missing, rebuilds, and starts a brand-new
# throwaway PostgreSQL 15 cluster that listens on a Unix socket only.
#
# Settings (environment):
#   AIGC_BASE     working directory of the throwaway cluster (/tmp/aigc_pg)
#   AIGC_PGDATA   its data directory                        ($AIGC_BASE/data)
#   AIGC_PGPORT   port number of its socket                 (54329)
#   AIGC_PGBIN    PostgreSQL 15 binaries to build against and run
#                 (/usr/lib/postgresql/15/bin; a relocated copy works too)
# The socket lives in $AIGC_BASE/sock, the server log in $AIGC_BASE/postgres.log.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PGBIN="${AIGC_PGBIN:-/usr/lib/postgresql/15/bin}"
PG_CONFIG="$PGBIN/pg_config"

AIGC_BASE="${AIGC_BASE:-/tmp/aigc_pg}"
AIGC_PGDATA="${AIGC_PGDATA:-$AIGC_BASE/data}"
AIGC_PGPORT="${AIGC_PGPORT:-54329}"
AIGC_SOCKDIR="$AIGC_BASE/sock"
AIGC_PGLOG="$AIGC_BASE/postgres.log"

AIGC_PACKAGES=(
    make gcc pkg-config
    postgresql-15 postgresql-server-dev-15
    libopenblas-dev
    postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl
    python3 python3-numpy
    clang libclang-rt-14-dev valgrind
)

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Run a command as root: directly when we are root, else through sudo.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

# Run a server-side command (initdb, pg_ctl) as the cluster's owner.
# PostgreSQL refuses to run as root, so root runs it as the OS user postgres
# (created by the postgresql-15 package). Run from / so that the postgres
# user never trips over a working directory it cannot read.
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && "$@")
    fi
}

# Install (with apt-get) only the packages that are not installed yet: the
# arguments, or AIGC_PACKAGES without any.  Another apt or dpkg run (a
# package manager started elsewhere on the machine) is waited for, not failed.
ensure_packages() {
    local p status missing=()
    [ "$#" -gt 0 ] || set -- "${AIGC_PACKAGES[@]}"
    for p in "$@"; do
        status="$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)"
        [ "$status" = "install ok installed" ] || missing+=("$p")
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        return 0
    fi
    log "installing Debian packages: ${missing[*]}"
    local aptlog
    aptlog="$(mktemp)"
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
            -o DPkg::Lock::Timeout=900 >"$aptlog" 2>&1 ||
       ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            -o DPkg::Lock::Timeout=900 -o Dpkg::Use-Pty=0 --no-install-recommends "${missing[@]}" >>"$aptlog" 2>&1; then
        cat "$aptlog" >&2
        rm -f "$aptlog"
        die "apt-get failed"
    fi
    rm -f "$aptlog"
}

# Build the extension with PGXS against PostgreSQL 15 and install it.
build_install() {
    [ -x "$PG_CONFIG" ] || die "$PG_CONFIG not found (is postgresql-server-dev-15 installed?)"
    log "building aigc_pg"
    make -C "$ROOT" -s -j"$(nproc)" PG_CONFIG="$PG_CONFIG"
    log "installing aigc_pg into $("$PG_CONFIG" --pkglibdir)"
    as_root make -C "$ROOT" -s install PG_CONFIG="$PG_CONFIG" >/dev/null
}

# Stop a cluster of ours that may still be running from an earlier run: the
# one in AIGC_PGDATA, and whatever postmaster holds our socket (its lock file
# names its data directory). Never fails.
_stop_stale_cluster() {
    local lock="$AIGC_SOCKDIR/.s.PGSQL.$AIGC_PGPORT.lock" dir
    for dir in "$AIGC_PGDATA" "$(sed -n 2p "$lock" 2>/dev/null || true)"; do
        if [ -n "$dir" ] && [ -f "$dir/postmaster.pid" ]; then
            as_pg "$PGBIN/pg_ctl" -D "$dir" stop -m immediate -w -t 30 >/dev/null 2>&1 || true
        fi
    done
}

# Start a fresh throwaway cluster and point libpq's environment at it.
start_cluster() {
    id postgres >/dev/null 2>&1 || die "OS user postgres does not exist (is postgresql-15 installed?)"

    _stop_stale_cluster
    if [ -e "$AIGC_PGDATA" ]; then
        # wipe only what looks like a data directory (or an empty directory)
        if [ -f "$AIGC_PGDATA/PG_VERSION" ] || [ -z "$(ls -A "$AIGC_PGDATA" 2>/dev/null)" ]; then
            rm -rf "$AIGC_PGDATA"
        else
            die "$AIGC_PGDATA exists and is not a PostgreSQL data directory; refusing to wipe it"
        fi
    fi

    # Root creates the directories and hands them to postgres; anyone else
    # runs the cluster as themselves.
    mkdir -p "$AIGC_BASE" "$AIGC_SOCKDIR" "$(dirname "$AIGC_PGDATA")"
    install -d -m 700 "$AIGC_PGDATA"
    rm -f "$AIGC_PGLOG"
    touch "$AIGC_PGLOG"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres:postgres "$AIGC_BASE" "$AIGC_SOCKDIR" "$AIGC_PGDATA" "$AIGC_PGLOG"
    fi

    log "initdb $AIGC_PGDATA"
    as_pg "$PGBIN/initdb" -D "$AIGC_PGDATA" --auth=trust -U postgres \
        --encoding=UTF8 --locale=C >"$AIGC_BASE/initdb.log" 2>&1 ||
        { cat "$AIGC_BASE/initdb.log" >&2; die "initdb failed"; }

    # A throwaway cluster: durability buys nothing here, speed does.
    as_pg tee -a "$AIGC_PGDATA/postgresql.conf" >/dev/null <<'EOF'

# aigc_pg throwaway test cluster (scripts/common.sh)
fsync = off
synchronous_commit = off
full_page_writes = off
EOF

    log "starting PostgreSQL 15 on socket $AIGC_SOCKDIR port $AIGC_PGPORT (log: $AIGC_PGLOG)"
    if ! as_pg "$PGBIN/pg_ctl" -D "$AIGC_PGDATA" -w -t 60 -l "$AIGC_PGLOG" start \
            -o "-p $AIGC_PGPORT -k $AIGC_SOCKDIR -c listen_addresses=''" >/dev/null 2>&1; then
        tail -n 30 "$AIGC_PGLOG" >&2 || true
        die "could not start PostgreSQL"
    fi

    export PGHOST="$AIGC_SOCKDIR" PGPORT="$AIGC_PGPORT" PGUSER=postgres PGDATABASE=postgres
    unset PGPASSWORD PGSERVICE PGOPTIONS 2>/dev/null || true
}

# Stop the cluster (the data directory is kept for inspection). Quiet, never fails.
stop_cluster() {
    if [ -f "$AIGC_PGDATA/postmaster.pid" ]; then
        as_pg "$PGBIN/pg_ctl" -D "$AIGC_PGDATA" stop -m fast -w -t 60 >/dev/null 2>&1 ||
            as_pg "$PGBIN/pg_ctl" -D "$AIGC_PGDATA" stop -m immediate >/dev/null 2>&1 || true
    fi
    return 0
}

# psql 15 against the cluster: no psqlrc, stop at the first error, quiet.
pg_psql() {
    "$PGBIN/psql" -X -v ON_ERROR_STOP=1 -q "$@"
}

# (Re)create database $1 with the extensions named after it.
create_database() {
    local db="$1" ext
    shift
    pg_psql -d postgres -c "SET client_min_messages = warning" \
        -c "DROP DATABASE IF EXISTS \"$db\"" -c "CREATE DATABASE \"$db\""
    for ext in "$@"; do
        pg_psql -d "$db" -c "CREATE EXTENSION \"$ext\""
    done
}

# Load the demo tables (contributions, randhie) into database $1. The data
# files use paths relative to the repository root, so psql runs from there.
load_demo_data() {
    local db="$1"
    log "loading data/contributions.sql and data/randhie.sql into $db"
    (cd "$ROOT" &&
        pg_psql -d "$db" -f data/contributions.sql >/dev/null &&
        pg_psql -d "$db" -f data/randhie.sql >/dev/null)
}

# A benchmark's set-up: install what is missing, build and install the
# extension, start a fresh throwaway cluster (stopped when the script exits)
# and create database $1 with aigc_pg in it.
bench_cluster() {
    ensure_packages
    build_install
    trap stop_cluster EXIT
    start_cluster
    create_database "$1" aigc_pg
}
