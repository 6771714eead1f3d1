#!/usr/bin/env bash
# A throwaway Citus cluster on this machine, with aigc_pg on every node:
# a coordinator and two workers, each its own PostgreSQL 15 cluster on a
# private Unix socket (no TCP), shared_preload_libraries = 'citus'.
#
#   bash scripts/cluster.sh [start]   build what is missing, start the cluster, print how to connect
#   bash scripts/cluster.sh build     only build and install Citus (and aigc_pg) if missing
#   bash scripts/cluster.sh stop      stop the three nodes (their data directories are kept)
#
# Citus is built from the source tarball in ../shared/citus beside the
# repository (Citus 13.2.2, the newest release for PostgreSQL 15, plus a
# patch for Debian's 15.x headers) and installed into the PostgreSQL given by
# AIGC_PGBIN, unless citus.so is already installed there.  A real deployment
# installs Citus from its own packages instead (docs/citus.md).
#
# Settings (environment), besides scripts/common.sh's AIGC_PGBIN:
#   AIGC_CITUS_BASE   working directory                 (/tmp/aigc_citus)
#   AIGC_CITUS_PORT   coordinator port; workers +1, +2  (54340)
#   AIGC_CITUS_DB     database with citus and aigc_pg    (aigc_citus)
#   AIGC_CITUS_SRC    directory holding the tarball and patch ($ROOT/../shared/citus)
# Sourcing this file defines the functions without running anything.

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

CITUS_VERSION=13.2.2
CITUS_BASE="${AIGC_CITUS_BASE:-/tmp/aigc_citus}"
CITUS_PORT="${AIGC_CITUS_PORT:-54340}"
CITUS_DB="${AIGC_CITUS_DB:-aigc_citus}"
CITUS_SRC="${AIGC_CITUS_SRC:-$ROOT/../shared/citus}"
CITUS_SOCK="$CITUS_BASE/sock"
CITUS_BUILD_LOG="$CITUS_BASE/citus-build.log"
CITUS_NODES=(coordinator worker1 worker2)

# Debian packages Citus's configure and build need (besides PostgreSQL's server-dev)
CITUS_PACKAGES=(
    make gcc pkg-config postgresql-15 postgresql-server-dev-15
    liblz4-dev libzstd-dev libkrb5-dev libssl-dev libselinux1-dev
    libxslt1-dev libpam0g-dev libreadline-dev
    # PostgreSQL's server headers include ICU, libxml2 and zlib ones
    libicu-dev libxml2-dev zlib1g-dev
)

citus_installed() {
    [ -f "$("$PG_CONFIG" --pkglibdir)/citus.so" ] &&
        [ -f "$("$PG_CONFIG" --sharedir)/extension/citus.control" ]
}

# Build and install Citus into the PostgreSQL of $PG_CONFIG unless it is
# there already.  Returns 1 when it cannot be built, with the reason on
# stderr and in $CITUS_BUILD_REASON (the log in $CITUS_BUILD_LOG); apt
# failures exit, as in scripts/common.sh.
CITUS_BUILD_REASON="$CITUS_BASE/citus-build.reason"
citus_build_failed() {
    echo "$*" | tee "$CITUS_BUILD_REASON" >&2
    return 1
}
citus_build_install() {
    mkdir -p "$CITUS_BASE"
    rm -f "$CITUS_BUILD_REASON"
    if citus_installed; then
        log "Citus already installed in $("$PG_CONFIG" --pkglibdir)"
        return 0
    fi
    local tarball="$CITUS_SRC/citus-$CITUS_VERSION.tar.gz"
    local patchfile="$CITUS_SRC/pg15-have_createdb_privilege.patch"
    if [ ! -f "$tarball" ]; then
        citus_build_failed "Citus source $tarball not found"
        return 1
    fi
    echo "apt-get failed installing the build dependencies of Citus" >"$CITUS_BUILD_REASON"
    ensure_packages "${CITUS_PACKAGES[@]}"
    rm -f "$CITUS_BUILD_REASON"
    local build="$CITUS_BASE/build"
    rm -rf "$build"
    mkdir -p "$build"
    log "building Citus $CITUS_VERSION against $PG_CONFIG (log: $CITUS_BUILD_LOG; a few minutes)"
    # with_llvm=no: no JIT bitcode, which would double the build time
    if ! (
        set -e
        tar xzf "$tarball" -C "$build"
        cd "$build/citus-$CITUS_VERSION"
        patch -p1 <"$patchfile"
        ./configure --without-libcurl PG_CONFIG="$PG_CONFIG"
        make -j"$(nproc | awk '{ print ($1 > 2) ? 2 : $1 }')" with_llvm=no
        as_root make install with_llvm=no
    ) >"$CITUS_BUILD_LOG" 2>&1; then
        citus_build_failed "Citus build failed ($CITUS_BUILD_LOG): $(grep -m 3 -E 'error|Error' "$CITUS_BUILD_LOG" ||
            tail -n 3 "$CITUS_BUILD_LOG")"
        return 1
    fi
    rm -rf "$build"
    citus_installed
}

citus_port() {
    local i
    for i in "${!CITUS_NODES[@]}"; do
        if [ "${CITUS_NODES[$i]}" = "$1" ]; then
            echo $((CITUS_PORT + i))
            return 0
        fi
    done
    die "unknown node $1"
}

# psql on node $1 (coordinator, worker1, worker2), database $CITUS_DB unless -d is given
citus_psql() {
    local node="$1"
    shift
    "$PGBIN/psql" -X -v ON_ERROR_STOP=1 -q -h "$CITUS_SOCK" -p "$(citus_port "$node")" \
        -U postgres -d "$CITUS_DB" "$@"
}

citus_node_start() {
    local node="$1"
    as_pg "$PGBIN/pg_ctl" -D "$CITUS_BASE/$node" -w -t 60 -l "$CITUS_BASE/$node.log" start \
        -o "-p $(citus_port "$node") -k $CITUS_SOCK -c listen_addresses=''" >/dev/null 2>&1 || {
        tail -n 20 "$CITUS_BASE/$node.log" >&2
        die "could not start $node"
    }
}

# mode: fast, or immediate (a crash)
citus_node_stop() {
    local node="$1" mode="${2:-fast}"
    if [ -f "$CITUS_BASE/$node/postmaster.pid" ]; then
        as_pg "$PGBIN/pg_ctl" -D "$CITUS_BASE/$node" stop -m "$mode" -w -t 60 >/dev/null 2>&1 || true
    fi
}

citus_stop() {
    local node
    for node in "${CITUS_NODES[@]}"; do
        citus_node_stop "$node"
    done
    return 0
}

# Fresh data directories, Citus preloaded, the nodes registered with the
# coordinator, aigc_pg on every node and its model store made of Citus
# reference tables (aigc.citus_distribute_store).
citus_start() {
    id postgres >/dev/null 2>&1 || die "OS user postgres does not exist (is postgresql-15 installed?)"
    citus_stop
    mkdir -p "$CITUS_BASE" "$CITUS_SOCK"
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$CITUS_BASE" "$CITUS_SOCK"
    local node
    for node in "${CITUS_NODES[@]}"; do
        rm -rf "${CITUS_BASE:?}/$node"
        install -d -m 700 "$CITUS_BASE/$node"
        : >"$CITUS_BASE/$node.log"
        [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$CITUS_BASE/$node" "$CITUS_BASE/$node.log"
        as_pg "$PGBIN/initdb" -D "$CITUS_BASE/$node" --auth=trust -U postgres \
            --encoding=UTF8 --locale=C >"$CITUS_BASE/initdb.log" 2>&1 ||
            { cat "$CITUS_BASE/initdb.log" >&2; die "initdb $node failed"; }
        # max_prepared_transactions: Citus commits writes to reference
        # tables (the model store) with two-phase commit
        as_pg tee -a "$CITUS_BASE/$node/postgresql.conf" >/dev/null <<'EOF'

# aigc_pg throwaway Citus cluster (scripts/cluster.sh)
shared_preload_libraries = 'citus'
max_prepared_transactions = 100
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
        citus_node_start "$node"
    done
    log "Citus cluster: coordinator on port $CITUS_PORT, workers on $((CITUS_PORT + 1)) and $((CITUS_PORT + 2)), socket $CITUS_SOCK"
    for node in "${CITUS_NODES[@]}"; do
        citus_psql "$node" -d postgres -c "CREATE DATABASE $CITUS_DB"
        citus_psql "$node" -c "SET client_min_messages = warning" -c "CREATE EXTENSION citus"
    done
    citus_psql coordinator -c "SET client_min_messages = warning" \
        -c "SELECT citus_set_coordinator_host('$CITUS_SOCK', $CITUS_PORT)" \
        -c "SELECT citus_add_node('$CITUS_SOCK', $((CITUS_PORT + 1)))" \
        -c "SELECT citus_add_node('$CITUS_SOCK', $((CITUS_PORT + 2)))" >/dev/null
    # Citus creates the extension on the workers too
    citus_psql coordinator -c "SET client_min_messages = warning" \
        -c "CREATE EXTENSION aigc_pg" \
        -c "SELECT aigc.citus_distribute_store()" >/dev/null
}

citus_connect_hint() {
    echo "coordinator: $PGBIN/psql -h $CITUS_SOCK -p $CITUS_PORT -U postgres $CITUS_DB"
    echo "stop:        bash $ROOT/scripts/cluster.sh stop"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    case "${1:-start}" in
        build)
            ensure_packages
            build_install
            citus_build_install || die "cannot build Citus (log: $CITUS_BUILD_LOG)"
            ;;
        start)
            ensure_packages
            build_install
            citus_build_install || die "cannot build Citus (log: $CITUS_BUILD_LOG)"
            citus_start
            citus_connect_hint
            ;;
        stop)
            citus_stop
            ;;
        *)
            die "usage: bash scripts/cluster.sh [start|build|stop]"
            ;;
    esac
fi
