#!/usr/bin/env bash
# aigc_pg against its peers, side by side in one run: SDV's TVAE and CTGAN
# (PyTorch, vendored in ../shared/peers, see its README) on the demo tables
# and every table of the shared data folder.  For each table, kind pair
# (vae/TVAE, gan/CTGAN) and thread count it prints
#   - seconds per training epoch of both sides and their ratio: each side
#     trains E1 and E2 epochs (same batch size and network sizes: both
#     sides' defaults), and (loop seconds at E2 - at E1) / (E2 - E1) is the
#     per-epoch time with set-up cancelled; PyTorch runs with
#     --flush-denormal (its best case);
#   - the GEMM efficiency of aigc_pg's loop: its GEMM-counted GFLOP/s over
#     what OpenBLAS sgemm alone reaches on the same shapes at the same
#     thread count, measured right after (aigc.sgemm_gflops);
#   - sampling speed: rows per second of SELECT count(*) FROM aigc_sample()
#     and of CREATE TABLE ... AS SELECT * FROM aigc_sample() in a warm
#     session, against SDV's sample() of the same number of rows from the
#     same kind (the model trained for E2 epochs), and both ratios;
#   - PostgreSQL's own ceiling for that CREATE TABLE AS: the same rows
#     copied by CREATE TABLE ... AS SELECT * FROM the first copy, which
#     is the insert alone (forming tuples, heap, WAL) with no generator.
#
#   bash bench/peers.sh                      # every table, 2 and 7 epochs, 1 and 2 threads
#   AIGC_PEERS_QUICK=1 bash bench/peers.sh   # one small table, 1 and 3 epochs: a few minutes
#
# Settings (environment):
#   AIGC_PEERS_QUICK     1: only AIGC_PEERS_TABLES (default health_insurance), 1 and 3
#                        epochs, 20000 sampled rows
#   AIGC_PEERS_TABLES    tables to run (default: contributions, randhie and
#                        every table of the data folder; quick: health_insurance).
#                        SDV's transformer cannot invert NULLs of a numeric
#                        column: its copy has the column's minimum instead
#   AIGC_PEERS_E1, AIGC_PEERS_E2   the two epoch counts (2, 7)
#   AIGC_PEERS_THREADS   thread counts (default "1 2")
#   AIGC_PEERS_SAMPLE    rows sampled by each side (100000)
#   AIGC_PEERS_REPEAT    sampling is timed this many times per side, the
#                        fastest kept (3)
#   AIGC_PEERS_KINDS     kinds to run (default "vae gan")
#   AIGC_PEERS_DIR       the peers folder (../shared/peers)
#   AIGC_DATA_DIR        the shared data folder (../shared/data)
# and those of scripts/common.sh (AIGC_PGBIN, AIGC_BASE, AIGC_PGPORT) for
# the throwaway cluster this script starts.
#
# Threads: PyTorch gets --threads T (torch's threads and OPENBLAS_NUM_THREADS).
# aigc_pg gets SET aigc.threads = T when the extension has that setting;
# otherwise the server is restarted with OPENBLAS_NUM_THREADS=T in its
# environment, which bounds only OpenBLAS (the element-wise work then runs
# on one core).  The header says which.  OPENBLAS_CORETYPE is left alone, so
# both sides use the same OpenBLAS kernels.
#
# Timings depend on the machine and its load (the header prints the load
# average): compare the two sides within one run, never across runs.
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"

PEERS_DIR="${AIGC_PEERS_DIR:-$ROOT/../shared/peers}"
DATA_DIR="${AIGC_DATA_DIR:-$ROOT/../shared/data}"
QUICK="${AIGC_PEERS_QUICK:-}"
if [ -n "$QUICK" ]; then
    E1="${AIGC_PEERS_E1:-1}"
    E2="${AIGC_PEERS_E2:-3}"
    NSAMPLE="${AIGC_PEERS_SAMPLE:-20000}"
    TABLES="${AIGC_PEERS_TABLES:-health_insurance}"
else
    E1="${AIGC_PEERS_E1:-2}"
    E2="${AIGC_PEERS_E2:-7}"
    NSAMPLE="${AIGC_PEERS_SAMPLE:-100000}"
    TABLES="${AIGC_PEERS_TABLES:-}"
fi
THREADS="${AIGC_PEERS_THREADS:-1 2}"
REPEAT="${AIGC_PEERS_REPEAT:-3}"
KINDS="${AIGC_PEERS_KINDS:-vae gan}"
SEED=1
DB=aigc_peers

[ "$E2" -gt "$E1" ] || die "AIGC_PEERS_E2 ($E2) must exceed AIGC_PEERS_E1 ($E1)"
[ -f "$PEERS_DIR/sdv_bench.py" ] || die "peers folder $PEERS_DIR not found (set AIGC_PEERS_DIR)"
[ -d "$DATA_DIR" ] || die "data folder $DATA_DIR not found (set AIGC_DATA_DIR)"

# the peers run on Debian's Python packages (../shared/peers/README.md)
AIGC_PACKAGES+=(python3-torch python3-sklearn python3-pandas python3-scipy python3-numpy
                python3-tqdm python3-plotly python3-joblib python3-psutil)
bench_cluster "$DB"
WORK="$(mktemp -d)"
chmod 755 "$WORK"
trap 'stop_cluster; rm -rf "$WORK"' EXIT

# The demo tables and each shared table not named like one; only those
# to run are loaded.
declare -A source_of=([contributions]=demo [randhie]=demo)
available=(contributions randhie)
shopt -s nullglob
for sql in "$DATA_DIR"/*.sql; do
    t="$(basename "$sql" .sql)"
    [ -n "${source_of[$t]:-}" ] && continue
    source_of[$t]="$sql"
    available+=("$t")
done
shopt -u nullglob
[ -n "$TABLES" ] || TABLES="${available[*]}"
for table in $TABLES; do
    case "${source_of[$table]:-}" in
        "") die "no table $table among: ${available[*]}" ;;
        demo) (cd "$ROOT" && pg_psql -d "$DB" -f "data/$table.sql" >/dev/null) ;;
        *) (cd "$DATA_DIR" && pg_psql -d "$DB" -f "$(basename "${source_of[$table]}")" >/dev/null) ;;
    esac
done

# Does this build have aigc.threads?  (A custom setting exists once the
# library is loaded.)
HAVE_THREADS_GUC="$(pg_psql -d "$DB" -At -c "LOAD 'aigc_pg'" \
    -c "SELECT count(*) FROM pg_settings WHERE name = 'aigc.threads'")"
if [ "$HAVE_THREADS_GUC" = 1 ]; then
    thread_mode="aigc.threads"
else
    thread_mode="OPENBLAS_NUM_THREADS in the server's environment (no aigc.threads in this build: only OpenBLAS is threaded)"
fi

# Restart the server with OPENBLAS_NUM_THREADS=$1 in its environment.
restart_with_blas_threads() {
    as_pg env OPENBLAS_NUM_THREADS="$1" "$PGBIN/pg_ctl" -D "$AIGC_PGDATA" -w -t 60 \
        -l "$AIGC_PGLOG" restart -m fast >/dev/null
}

# psql at thread count $1
apsql() {
    local t="$1"
    shift
    if [ "$HAVE_THREADS_GUC" = 1 ]; then
        PGOPTIONS="-c aigc.threads=$t -c client_min_messages=warning" pg_psql -d "$DB" "$@"
    else
        PGOPTIONS="-c client_min_messages=warning" pg_psql -d "$DB" "$@"
    fi
}

# the columns both sides model: every column but identity columns (which
# aigc_train leaves out of a table by default)
columns_of() {
    pg_psql -d "$DB" -At -v t="$1" <<'SQL'
SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum)
  FROM pg_attribute
 WHERE attrelid = :'t'::regclass AND attnum > 0 AND NOT attisdropped AND attidentity = ''
SQL
}

# The peer's copy of the rows: SDV's transformer cannot invert NULLs of a
# continuous column (its inverse_transform fails), so there a NULL number
# becomes the column's minimum (a spike SDV models as one more mode, where
# aigc_pg has a NULL slot); every row stays on both sides.
peer_columns() {
    pg_psql -d "$DB" -At -v t="$1" <<'SQL'
SELECT string_agg(CASE WHEN NOT attnotnull
                            AND atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype,
                                             'float4'::regtype, 'float8'::regtype, 'numeric'::regtype)
                       THEN format('coalesce(%1$I, (SELECT min(%1$I) FROM %2$s)) AS %1$I', attname, :'t'::regclass)
                       ELSE quote_ident(attname) END,
                  ', ' ORDER BY attnum)
  FROM pg_attribute
 WHERE attrelid = :'t'::regclass AND attnum > 0 AND NOT attisdropped AND attidentity = ''
SQL
}

# a field of a peer's JSON result: python expression over r
json_get() {
    /usr/bin/python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print($2)" "$1"
}

# $1 / $2 to two decimals
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
}

declare -A peer_of=([vae]=tvae [gan]=ctgan)
declare -A PEER_NAME=([vae]=TVAE [gan]=CTGAN)

printf '\naigc_pg against SDV (PyTorch %s, --flush-denormal): epochs %s and %s, per epoch = difference / %s; %s sampled rows; seed %s\n' \
    "$(/usr/bin/python3 -c 'import torch; print(torch.__version__)' 2>/dev/null || echo '?')" \
    "$E1" "$E2" "$((E2 - E1))" "$NSAMPLE" "$SEED"
printf 'threads: torch set_num_threads + OPENBLAS_NUM_THREADS for PyTorch; %s for aigc_pg\n' "$thread_mode"
printf '%s CPU(s) (%s), load average at start %s\n\n' "$(nproc)" \
    "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" "$(cut -d' ' -f1-3 /proc/loadavg)"

# Sampling is timed REPEAT times on each side, the best kept: the fastest
# of a few runs is the least disturbed by other jobs, on both sides alike.
: >"$WORK/sample.sql"
for _ in $(seq "$REPEAT"); do
    cat >>"$WORK/sample.sql" <<'SQL'
SELECT clock_timestamp() AS t0 \gset
SELECT count(*) FROM aigc_sample(NULL::public.:"rt", :'m' || '_e2', :n, seed => :seed) \gset c_
SELECT least(:'count_s'::float8, extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)) AS count_s \gset
DROP TABLE IF EXISTS peers_ctas;
SELECT clock_timestamp() AS t0 \gset
CREATE TABLE peers_ctas AS SELECT * FROM aigc_sample(NULL::public.:"rt", :'m' || '_e2', :n, seed => :seed);
SELECT least(:'ctas_s'::float8, extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)) AS ctas_s \gset
SELECT clock_timestamp() AS t0 \gset
CREATE TABLE peers_copy AS SELECT * FROM peers_ctas;
SELECT least(:'copy_s'::float8, extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)) AS copy_s \gset
DROP TABLE peers_copy;
DROP TABLE peers_ctas;
SQL
done
peer_rows="$(for _ in $(seq "$REPEAT"); do printf '%s,' "$NSAMPLE"; done)"
peer_rows="${peer_rows%,}"

train_hdr='%-17s %-4s %-5s %3s %7s | %9s %9s %6s | %8s %8s %5s\n'
samp_hdr='%-17s %-4s %-5s %3s | %10s %10s %10s | %7s %7s | %10s %8s\n'
train_out="$WORK/train.txt"
samp_out="$WORK/sample.txt"
# shellcheck disable=SC2059
printf "$train_hdr" table kind peer thr rows aigc_s/ep peer_s/ep ratio loop_GF sgemm_GF eff >"$train_out"
# shellcheck disable=SC2059
printf "$samp_hdr" table kind peer thr "count r/s" "ctas r/s" "peer r/s" count_x ctas_x "copy r/s" ctas/cnt >"$samp_out"

for t in $THREADS; do
    if [ "$HAVE_THREADS_GUC" != 1 ]; then
        restart_with_blas_threads "$t"
    fi
    for table in $TABLES; do
        cols="$(columns_of "$table")"
        [ -n "$cols" ] || die "table $table has no columns"
        query="SELECT $cols FROM $table"
        csv="$WORK/$table.csv"
        [ -f "$csv" ] ||
            pg_psql -d "$DB" -c "\\copy (SELECT $(peer_columns "$table") FROM $table) TO '$csv' WITH (FORMAT csv, HEADER true)"
        for kind in $KINDS; do
            peer="${peer_of[$kind]}"
            log "$table: $kind and ${PEER_NAME[$kind]} at $t thread(s)"

            # aigc_pg: E1 and E2 epochs, GEMM efficiency, sampling in one warm session
            read -r rows aigc_ep loop_gf sgemm_gf count_rs ctas_rs copy_rs < <(
                apsql "$t" -At -F ' ' -v kind="$kind" -v q="$query" -v tbl="$table" \
                    -v e1="$E1" -v e2="$E2" -v seed="$SEED" -v n="$NSAMPLE" -v threads="$t" \
                    -v sample_sql="$WORK/sample.sql" <<'SQL'
SELECT format('peers_%s_%s_t%s', :'tbl', :'kind', :threads) AS m \gset
SELECT (aigc_train(:'m' || '_e1', :'q', :'kind',
                   jsonb_build_object('epochs', :e1::int, 'seed', :seed::int, 'progress_every', 0))).train_rows \gset
SELECT (aigc_train(:'m' || '_e2', :'q', :'kind',
                   jsonb_build_object('epochs', :e2::int, 'seed', :seed::int, 'progress_every', 0))).train_rows \gset
SELECT ((b.stats->>'train_loop_seconds')::float8 - (a.stats->>'train_loop_seconds')::float8)
       / (:e2 - :e1) AS per_epoch,
       (b.stats->>'gemm_gflops_per_second')::float8 AS loop_gf,
       (b.hyperparams->>'batch_size')::int AS batch
  FROM aigc.models a, aigc.models b
 WHERE a.name = :'m' || '_e1' AND b.name = :'m' || '_e2' \gset
SELECT aigc.sgemm_gflops(:'m' || '_e2', :batch, seconds => 2.0) AS sgemm_gf \gset
-- the rows typed as the model's columns (the query's, without identity columns)
SELECT aigc_create_type(:'m' || '_e2', :'m' || '_row') AS rt \gset
-- warm: the model in the session's cache, the plan's functions looked up
SELECT count(*) FROM aigc_sample(NULL::public.:"rt", :'m' || '_e2', 1000, seed => :seed) \gset warm_
SELECT 'Infinity' AS count_s, 'Infinity' AS ctas_s, 'Infinity' AS copy_s \gset
\i :sample_sql
SELECT :train_rows, round(:per_epoch::numeric, 3), round(:loop_gf::numeric, 1), round(:sgemm_gf::numeric, 1),
       round(:n / :'count_s'::float8), round(:n / :'ctas_s'::float8), round(:n / :'copy_s'::float8);
SQL
            )

            # the peer: E2 epochs, per-epoch seconds of epochs E1+1..E2 (the
            # same difference), then sampling as many rows
            json="$WORK/$table-$peer-$t.json"
            /usr/bin/python3 "$PEERS_DIR/sdv_bench.py" --csv "$csv" --model "$peer" \
                --epochs "$E2" --threads "$t" --flush-denormal --seed "$SEED" \
                --no-quality --sample-rows "$peer_rows" --out "$json" >"$WORK/peer.log" 2>&1 ||
                { cat "$WORK/peer.log" >&2; die "sdv_bench.py failed on $table ($peer)"; }
            peer_ep="$(json_get "$json" "'%.3f' % (sum(r['timing']['epoch_s'][$E1:$E2]) / ($E2 - $E1))")"
            peer_rs="$(json_get "$json" "'%.0f' % max(x['rows_per_s'] for x in r['timing']['extra_samples'])")"

            # shellcheck disable=SC2059
            printf "$train_hdr" "$table" "$kind" "${PEER_NAME[$kind]}" "$t" "$rows" "$aigc_ep" "$peer_ep" \
                "$(ratio "$peer_ep" "$aigc_ep")" \
                "$loop_gf" "$sgemm_gf" \
                "$(ratio "$loop_gf" "$sgemm_gf")" | tee -a "$train_out" >&2
            # shellcheck disable=SC2059
            printf "$samp_hdr" "$table" "$kind" "${PEER_NAME[$kind]}" "$t" "$count_rs" "$ctas_rs" "$peer_rs" \
                "$(ratio "$count_rs" "$peer_rs")" \
                "$(ratio "$ctas_rs" "$peer_rs")" \
                "$copy_rs" "$(ratio "$ctas_rs" "$count_rs")" >>"$samp_out"
        done
    done
done

printf '\nTraining, seconds per epoch (ratio = peer / aigc_pg, above 1 means aigc_pg is faster;\n'
printf 'loop_GF = the loop'"'"'s GEMM-counted GFLOP/s, sgemm_GF = sgemm alone on its shapes, eff = loop_GF / sgemm_GF)\n'
cat "$train_out"
printf '\nSampling, rows per second (%s rows, best of %s; count = SELECT count(*) FROM aigc_sample(...), ctas = CREATE TABLE AS;\n' "$NSAMPLE" "$REPEAT"
printf 'peer = SDV sample() into a DataFrame; count_x, ctas_x = aigc_pg / peer;\n'
printf 'copy = CREATE TABLE AS SELECT * FROM the sampled copy: PostgreSQL'"'"'s insert alone, the ceiling of any CTAS;\n'
printf 'ctas/cnt = ctas r/s over count r/s)\n'
cat "$samp_out"
printf '\nload average at end %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
