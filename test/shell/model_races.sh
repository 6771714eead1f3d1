#!/usr/bin/env bash
# Two sessions on one model name (docs/security.md, "Concurrent changes"):
# a second training of a name being trained gets 55P03 at once, not a
# 23505 after its own training; a deployment or a training racing a drop
# waits for it and then reports the model by name, never a 23503; under
# REPEATABLE READ, a snapshot older than the model's last change is 40001.
source "$(dirname "${BASH_SOURCE[0]}")/lib/tap.sh"
plan 10

db=aigc_races
training_database "$db"
pg_psql -d "$db" >/dev/null <<'SQL'
SET client_min_messages = warning;
SELECT aigc_train(m, 'training'::regclass,
                  options => '{"epochs": 1, "seed": 1, "progress_every": 0, "encoder_dims": [16], "decoder_dims": [16], "latent_dim": 4}')
  FROM unnest(ARRAY['dropped_under_deploy', 'dropped_under_training']) AS m;
-- SQLSTATE and message of a call, or ok
CREATE FUNCTION outcome(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
SQL
long_options='{"epochs": 25, "seed": 2, "progress_every": 0}'
short_options='{"epochs": 1, "seed": 3, "progress_every": 0, "encoder_dims": [16], "decoder_dims": [16], "latent_dim": 4}'
# should anything go wrong, the test still ends
export PGOPTIONS="-c statement_timeout=120s -c client_min_messages=warning"

# 1. the same new name, twice at once
pg_psql -d "$db" -c "SELECT aigc_train('race', 'training'::regclass, options => '$long_options')" \
    >/dev/null 2>"$AIGC_BASE/races_a.err" &
first=$!
ok test -n "$(wait_for_query '%aigc_train(_race_%' 60)" "a training of the new name race is running"
is "$(q "$db" "SELECT outcome(\$x\$SELECT aigc_train('race', 'training'::regclass, options => '$short_options')\$x\$)")" \
   '55P03: model "race" is being trained or changed by another transaction' \
   "a second training of the same name meanwhile gets 55P03 before any work"
wait "$first"
is "$?" "0" "the first training commits (no 23505)"
is "$(q "$db" "SELECT outcome(\$x\$SELECT aigc_train('race', 'training'::regclass, options => '$short_options')\$x\$)")" \
   "ok" "retried afterwards, the second training adds a version"
is "$(q "$db" "SELECT string_agg(version::text, ',' ORDER BY version) FROM aigc.model_store WHERE name = 'race'")" \
   "1,2" "two versions, one per training"

# 2. a drop holds the model while a deployment waits for it
pg_psql -d "$db" -c "BEGIN" -c "SELECT aigc_drop('dropped_under_deploy')" -c "SELECT pg_sleep(3)" -c "COMMIT" >/dev/null &
dropper=$!
wait_for_query '%pg_sleep%' 60 >/dev/null
is "$(q "$db" "SELECT outcome(\$x\$SELECT aigc_deploy('dropped_under_deploy', 1)\$x\$)")" \
   '42704: model "dropped_under_deploy" does not exist' \
   "a deployment racing a drop waits, then names the dropped model (no 23503)"
wait "$dropper"

# 3. a drop while the model is retrained waits for the training, then drops it all
pg_psql -d "$db" -c "SELECT aigc_train('dropped_under_training', 'training'::regclass, options => '$long_options')" \
    >/dev/null 2>"$AIGC_BASE/races_c.err" &
trainer=$!
wait_for_query '%aigc_train(_dropped_under_training_%' 60 >/dev/null
is "$(q "$db" "SELECT outcome(\$x\$SELECT aigc_drop('dropped_under_training')\$x\$)")" "ok" \
   "a drop during a retraining waits for it and succeeds"
wait "$trainer"
is "$?" "0" "the retraining committed (no 23503)"
is "$(q "$db" "SELECT count(*) FROM aigc.model_registry WHERE name = 'dropped_under_training'")" "0" \
   "and the drop removed the model with the new version"
# 4. REPEATABLE READ: a version committed after the snapshot, then a training on it
pg_psql -At -d "$db" -c "BEGIN ISOLATION LEVEL REPEATABLE READ" -c "SELECT count(*) FROM training" \
    -c "SELECT pg_sleep(3)" \
    -c "SELECT outcome(\$x\$SELECT aigc_train('race', 'training'::regclass, options => '$short_options')\$x\$)" \
    -c "COMMIT" >"$AIGC_BASE/races_rr.out" 2>&1 &
stale=$!
wait_for_query '%pg_sleep%' 60 >/dev/null
q "$db" "SELECT aigc_train('race', 'training'::regclass, options => '$short_options')" >/dev/null
wait "$stale"
is "$(grep -E '^(ok|[0-9A-Z]{5}: )' "$AIGC_BASE/races_rr.out")" \
   '40001: could not serialize access to model "race"' \
   "under REPEATABLE READ, training on a snapshot older than the last version is 40001 before any work"

[ "$_tap_failed" -eq 0 ] || cat "$AIGC_BASE"/races_*.err | sed 's/^/# /'

rm -f "$AIGC_BASE"/races_*.err "$AIGC_BASE"/races_rr.out
pg_psql -d postgres -c "DROP DATABASE $db" >/dev/null
done_testing
