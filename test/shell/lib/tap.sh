# shellcheck shell=bash
# Minimal TAP for the shell tests in test/shell/*.sh (run by prove from scripts/test.sh,
# with the throwaway cluster's PGHOST/PGPORT/PGUSER and AIGC_* in the environment).
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../../scripts/common.sh"
set +e

_tap_n=0
_tap_failed=0
plan() { echo "1..$1"; }
_tap_result() {
    _tap_n=$((_tap_n + 1))
    if [ "$1" = ok ]; then
        echo "ok $_tap_n - $2"
    else
        echo "not ok $_tap_n - $2"
        _tap_failed=$((_tap_failed + 1))
    fi
}
# is HAVE WANT DESCRIPTION
is() {
    if [ "$1" = "$2" ]; then
        _tap_result ok "$3"
    else
        _tap_result fail "$3"
        echo "#   have: $1"
        echo "#   want: $2"
    fi
}
# ok COMMAND... : passes when the command succeeds; the last argument is the description
ok() {
    local desc="${*: -1}"
    if "${@:1:$#-1}"; then _tap_result ok "$desc"; else _tap_result fail "$desc"; fi
}
done_testing() { exit $((_tap_failed > 0)); }

# One value from a query in database $1
q() { pg_psql -At -d "$1" -c "SET client_min_messages = warning" -c "$2"; }

# Wait (at most $2 seconds) until a backend runs a query matching $1; print its pid
wait_for_query() {
    local pattern="$1" limit="${2:-60}" pid="" i
    for ((i = 0; i < limit * 10; i++)); do
        pid=$(q postgres "SELECT pid FROM pg_stat_activity WHERE state = 'active' AND query LIKE '$pattern' AND pid <> pg_backend_pid() LIMIT 1")
        [ -n "$pid" ] && { echo "$pid"; return 0; }
        sleep 0.1
    done
    return 1
}

# Database $1 with aigc_pg and a 3000-row table "training" (age, gender, wage)
training_database() {
    create_database "$1" aigc_pg
    pg_psql -d "$1" -c "SET client_min_messages = warning" -c "
        CREATE TABLE training AS
        SELECT 18 + (i * 7) % 48 AS age, (ARRAY['F', 'M'])[1 + i % 2] AS gender,
               1200 + (i * 37) % 3000 + (i % 2) * 400 AS wage
          FROM generate_series(1, 3000) AS i" >/dev/null
}
