#!/usr/bin/env bash
# The layering of src/ (docs/architecture.md) holds: each folder includes
# only the aigc_pg headers of the folders below it, and core/ (what the
# fuzzer links without a server) includes no PostgreSQL header beyond a few
# plain utilities: no executor, SPI, fmgr, catalog access or relation code.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../../src" || exit 1

# folder: the folders whose headers it may include
declare -A allowed=(
    [core]="core"
    [store]="core store"
    [train]="core store train"
    [sample]="core store sample"
    [score]="core store score"
    [eval]="core store sample eval"
    [diag]="core store train sample score eval diag"
)
# The PostgreSQL headers core/ may use: memory, strings, CRC, interrupts and
# type OIDs (numeric typmods)
core_pg_ok='^(postgres\.h|miscadmin\.h|lib/stringinfo\.h|port/pg_crc32c\.h|utils/memutils\.h|catalog/pg_type\.h|catalog/pg_type_d\.h|common/[a-z_]+\.h)$'

n=0
fails=0
result() {
    n=$((n + 1))
    if [ -z "$2" ]; then
        echo "ok $n - $1"
    else
        echo "not ok $n - $1"
        printf '#   %s\n' "$2"
        fails=$((fails + 1))
    fi
}

echo "1..$(( ${#allowed[@]} + 2 ))"
for dir in core store train sample score eval diag; do
    bad=""
    for f in "$dir"/*.[ch]; do
        [ -e "$f" ] || continue
        while IFS= read -r inc; do
            top="${inc%%/*}"
            [ -n "${allowed[$top]+x}" ] || continue      # a PostgreSQL header
            case " ${allowed[$dir]} " in
                *" $top "*) ;;
                *) bad="$bad $f:$inc" ;;
            esac
        done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
    done
    result "src/$dir/ includes only headers of: ${allowed[$dir]}" "$bad"
done

bad=""
for f in core/*.[ch]; do
    while IFS= read -r inc; do
        case "$inc" in core/*) continue ;; esac
        [[ "$inc" =~ $core_pg_ok ]] || bad="$bad $f:$inc"
    done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
done
result "src/core/ includes no executor, SPI, fmgr or catalog-access header" "$bad"

bad=""
for f in *.[ch] */*.[ch]; do
    case "$f" in aigc_pg.c | */*) ;; *) bad="$bad $f" ;; esac
done
result "every source file but the module's entry point aigc_pg.c sits in a layer folder" "$bad"

exit $((fails > 0))
