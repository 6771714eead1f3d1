#!/usr/bin/env bash
# aigc_pg under valgrind memcheck: install the extension (built with -g) into
# a private copy of PostgreSQL 15 whose postgres binary is a wrapper that
# runs the server under valgrind, start a throwaway cluster, run the
# pg_regress suite and the pgTAP files given, if any, and fail if a test
# fails or valgrind reports an error with an aigc_pg frame.  Not part of
# scripts/test.sh: valgrind makes training some 50 times slower, so even
# the pg_regress suite takes about 20 minutes; see docs/fuzzing.md.
#
#   bash scripts/memcheck.sh [test/pgtap/NN_x.sql ...]
#
# Settings (environment):
#   AIGC_PGBIN         PostgreSQL 15 to copy (/usr/lib/postgresql/15/bin)
#   AIGC_MEMCHECK_DIR  working directory (/tmp/aigc_memcheck): pg/ the copy,
#                      build/ the extension build, cluster/ data, socket and
#                      server log, valgrind/ one log per server process
#   AIGC_PGPORT        port of the cluster's socket (54339)
#
# Only errors in stacks that pass through aigc_pg.so count: PostgreSQL built
# without USE_VALGRIND makes its own allocator and WAL code report
# uninitialised bytes that are no concern of the extension.  Leak checking
# is off: memory contexts free everything at once.  (AddressSanitizer was
# tried first: preloading libasan into Debian's postgres deadlocks in
# bindtextdomain at startup.)
set -euo pipefail

tap_files=("$@")
SRC_PGBIN="${AIGC_PGBIN:-/usr/lib/postgresql/15/bin}"
MC_DIR="${AIGC_MEMCHECK_DIR:-/tmp/aigc_memcheck}"
PREFIX="$MC_DIR/pg"
export AIGC_PGBIN="$PREFIX/lib/postgresql/15/bin"
export AIGC_BASE="$MC_DIR/cluster" AIGC_PGPORT="${AIGC_PGPORT:-54339}"
unset AIGC_PGDATA
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
BUILD="$MC_DIR/build"
VGLOG="$MC_DIR/valgrind"

ensure_packages

# The copy keeps Debian's layout, so PostgreSQL finds its share and lib
# directories relative to its binaries and pg_config points at the copy.
src_root="$(cd "$SRC_PGBIN/../../../.." && pwd)"
log "copying PostgreSQL 15 from $src_root to $PREFIX"
rm -rf "$PREFIX" "$BUILD" "$VGLOG"
mkdir -p "$PREFIX/lib/postgresql" "$PREFIX/share/postgresql" "$PREFIX/include" "$BUILD" "$VGLOG"
cp -a "$src_root/lib/postgresql/15" "$PREFIX/lib/postgresql/"
cp -a "$src_root/share/postgresql/15" "$PREFIX/share/postgresql/"
cp -a "$src_root/include/postgresql" "$PREFIX/include/"
[ "$(id -u)" -ne 0 ] || chown postgres "$VGLOG"

# initdb (bootstrap and single-user mode) and version checks run the real
# binary; the server itself, and so every backend it forks, runs under valgrind.
mv "$PGBIN/postgres" "$PGBIN/postgres.real"
cat >"$PGBIN/postgres" <<WRAPPER
#!/bin/sh
case "\$1" in
    --boot|--single|-V|--version|-C|--describe-config)
        exec "$PGBIN/postgres.real" "\$@" ;;
esac
exec valgrind --quiet --tool=memcheck --leak-check=no --error-limit=no \\
    --num-callers=30 --read-var-info=no --fullpath-after= --log-file="$VGLOG/%p.log" \\
    "$PGBIN/postgres.real" "\$@"
WRAPPER
chmod 755 "$PGBIN/postgres"

# A copy of the sources, so the normal build's objects stay as they are
cp -a "$ROOT/Makefile" "$ROOT/aigc_pg.control" "$ROOT/sql" "$ROOT/src" \
    "$ROOT/test" "$ROOT/expected" "$BUILD/"
find "$BUILD/src" -name '*.o' -delete
rm -f "$BUILD"/*.so
log "building aigc_pg with debug information"
make -C "$BUILD" -s -j"$(nproc)" PG_CONFIG="$PG_CONFIG" COPT="-g -fno-omit-frame-pointer"
make -C "$BUILD" -s install PG_CONFIG="$PG_CONFIG" >/dev/null

# valgrind serialises threads anyway; one BLAS thread keeps it quick
export OPENBLAS_NUM_THREADS=1
trap stop_cluster EXIT
start_cluster
pgrep -f "valgrind.*postgres.real -D $AIGC_PGDATA" >/dev/null ||
    die "the server does not run under valgrind"
log "server runs under valgrind (logs in $VGLOG)"

failed=0
log "pg_regress under valgrind"
if ! make -C "$BUILD" -s installcheck PG_CONFIG="$PG_CONFIG"; then
    failed=1
    [ -f "$BUILD/regression.diffs" ] && head -n 60 "$BUILD/regression.diffs"
fi

if [ "${#tap_files[@]}" -gt 0 ]; then
    create_database aigc_test pgtap aigc_pg
    load_demo_data aigc_test
    log "pgTAP under valgrind: ${tap_files[*]}"
    (cd "$ROOT" && PGOPTIONS="-c client_min_messages=warning" \
        pg_prove --psql-bin "$PGBIN/psql" -d aigc_test "${tap_files[@]}") || failed=1
fi
stop_cluster
trap - EXIT

# Without its "==pid== " prefixes a log is one paragraph per report; count
# the reports whose stack passes through the extension (its source files, by
# full path, or the library), and the rest.
ext="aigc_pg[.]so|$BUILD/src/"
ours=0
others=0
for f in "$VGLOG"/*.log; do
    reports="$(sed -E 's/^==[0-9]+== ?//' "$f")"
    n="$(awk -v RS='' -v ext="$ext" '$0 ~ ext { c++ } END { print c + 0 }' <<<"$reports")"
    m="$(awk -v RS='' -v ext="$ext" '$0 !~ ext { c++ } END { print c + 0 }' <<<"$reports")"
    ours=$((ours + n))
    others=$((others + m))
    if [ "$n" -gt 0 ]; then
        echo "---- valgrind errors in aigc_pg ($f) ----"
        awk -v RS='' -v ext="$ext" '$0 ~ ext { print; print "" }' <<<"$reports" | head -n 80
    fi
done
nlogs="$(find "$VGLOG" -name '*.log' | wc -l)"
log "valgrind: $nlogs server processes, $ours reports in aigc_pg, $others elsewhere in PostgreSQL"
if [ "$failed" -ne 0 ] || [ "$ours" -ne 0 ]; then
    echo "memcheck: FAIL"
    exit 1
fi
echo "memcheck: PASS (pg_regress and ${#tap_files[@]} pgTAP files under valgrind, no error in aigc_pg)"
