#!/usr/bin/env bash
# A training killed half-way leaves nothing behind: pg_terminate_backend, and
# a crash (immediate shutdown) followed by recovery.
source "$(dirname "${BASH_SOURCE[0]}")/lib/tap.sh"
plan 8

db=aigc_failure
create_database "$db" aigc_pg
pg_psql -d "$db" >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE TABLE big AS
SELECT (i * 7) % 60 AS a, (ARRAY['x', 'y', 'z'])[1 + i % 3] AS b, (i * 13) % 1000 / 7.0 AS c
  FROM generate_series(1, 20000) AS i;
SELECT aigc_train('kept', 'big'::regclass, options => '{"epochs": 1, "seed": 1}');
SQL
long_train="SELECT aigc_train('doomed', 'big'::regclass, options => '{\"epochs\": 100000, \"seed\": 1, \"progress_every\": 0}')"

# pg_terminate_backend mid-training
# statement_timeout: should anything go wrong, the test still ends
pg_psql -d "$db" -c "SET statement_timeout = '120s'" -c "$long_train" >/dev/null 2>&1 &
client=$!
pid=$(wait_for_query '%aigc_train(_doomed_%' 60)
ok test -n "$pid" "the training is running"
sleep 2
is "$(q "$db" "SELECT pg_terminate_backend($pid)")" "t" "pg_terminate_backend stops it"
wait "$client"
is "$(q "$db" "SELECT count(*) FROM aigc.model_store WHERE name = 'doomed'") $(q "$db" "SELECT count(*) FROM aigc.model_registry WHERE name = 'doomed'")" \
   "0 0" "a terminated training leaves no model"

# immediate shutdown mid-training, then recovery
pg_psql -d "$db" -c "SET statement_timeout = '120s'" -c "$long_train" >/dev/null 2>&1 &
client=$!
pid=$(wait_for_query '%aigc_train(_doomed_%' 60)
ok test -n "$pid" "a second training is running"
sleep 2
as_pg "$PGBIN/pg_ctl" -D "$AIGC_PGDATA" stop -m immediate -w >/dev/null 2>&1
wait "$client"
as_pg "$PGBIN/pg_ctl" -D "$AIGC_PGDATA" -w -t 60 -l "$AIGC_PGLOG" start \
    -o "-p $AIGC_PGPORT -k $AIGC_SOCKDIR -c listen_addresses=''" >/dev/null 2>&1
is "$(q "$db" "SELECT count(*) FROM aigc.model_store WHERE name = 'doomed'")" "0" \
   "after crash recovery the interrupted training left no model"
is "$(q "$db" "SELECT count(*) FROM aigc.model_registry r WHERE NOT EXISTS (SELECT 1 FROM aigc.model_store s WHERE s.name = r.name)")" \
   "0" "no registry row without a version"
is "$(q "$db" "SELECT string_agg(name || ':' || version, ',') FROM aigc.models")" "kept:1" \
   "the committed model is intact"
is "$(q "$db" "SELECT count(*) FROM aigc_sample(NULL::big, 'kept', 10)")" "10" "and samples after recovery"

pg_psql -d postgres -c "DROP DATABASE $db" >/dev/null
done_testing
