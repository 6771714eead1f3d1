#!/usr/bin/env bash
# Re-training and deploying a model while several sessions insert rows that
# its trigger scores (pgbench): no row lost, no error, every row scored.
source "$(dirname "${BASH_SOURCE[0]}")/lib/tap.sh"
plan 7

db=aigc_concurrency
training_database "$db"
pg_psql -d "$db" >/dev/null <<'SQL'
SET client_min_messages = warning;
SELECT aigc_train('live', 'training'::regclass,
                  options => '{"epochs": 2, "seed": 1, "encoder_dims": [32], "decoder_dims": [32], "latent_dim": 8}');
CREATE TABLE ledger (id bigserial PRIMARY KEY, age integer, gender text, wage integer, score float8);
CREATE TRIGGER score_ledger BEFORE INSERT ON ledger
    FOR EACH ROW EXECUTE FUNCTION aigc_score_trigger('live', 'score');
SQL

script="$AIGC_BASE/concurrency.pgbench"
cat >"$script" <<'SQL'
\set age random(18, 65)
\set wage random(800, 6000)
INSERT INTO ledger (age, gender, wage) VALUES (:age, CASE WHEN :age % 2 = 0 THEN 'F' ELSE 'M' END, :wage);
SQL
out="$AIGC_BASE/concurrency.out"
"$PGBIN/pgbench" -n -c 4 -j 2 -T 12 -f "$script" "$db" >"$out" 2>&1 &
bench=$!

# meanwhile: three re-trainings, each deployed as soon as it commits
retrain_ok=1
for seed in 2 3 4; do
    sleep 2
    v=$(q "$db" "SELECT version FROM aigc_train('live', 'training'::regclass,
                 options => '{\"epochs\": 1, \"seed\": $seed, \"encoder_dims\": [32], \"decoder_dims\": [32], \"latent_dim\": 8}')") || retrain_ok=0
    q "$db" "SELECT aigc_deploy('live', $v)" >/dev/null || retrain_ok=0
done
wait "$bench"
bench_status=$?

is "$bench_status" "0" "pgbench ran to the end"
is "$retrain_ok" "1" "three re-trainings were deployed while rows came in"
processed=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")
failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")
is "${failed:-0}" "0" "no insert failed"
is "$(q "$db" "SELECT count(*) FROM ledger")" "$processed" "no row lost: every committed insert is there"
is "$(q "$db" "SELECT count(*) FROM ledger WHERE score IS NULL OR score = 'NaN'")" "0" "every row was scored"
[ "$_tap_failed" -eq 0 ] || tail -n 20 "$out" | sed 's/^/# /'

# An insert whose statement began before a retrain and deploy committed: its
# trigger loads the version in use then, whose weights its own snapshot
# does not see (it used to fail with "model has no version N").
late="$AIGC_BASE/concurrency.late"
started=$(q "$db" "SELECT extract(epoch FROM clock_timestamp())")
(q "$db" "INSERT INTO ledger (age, gender, wage) SELECT 30, 'F', 1000 FROM pg_sleep(8)
          RETURNING score IS NOT NULL" >"$late" 2>&1; echo "exit $?" >>"$late") &
sleep 0.5
v=$(q "$db" "SELECT version FROM aigc_train('live', 'training'::regclass,
             options => '{\"epochs\": 1, \"seed\": 5, \"encoder_dims\": [32], \"decoder_dims\": [32], \"latent_dim\": 8}')")
q "$db" "SELECT aigc_deploy('live', $v)" >/dev/null
deployed=$(q "$db" "SELECT extract(epoch FROM clock_timestamp()) - $started < 8")
wait
is "$deployed" "t" "a retrain and deploy committed while an insert statement slept"
is "$(tr '\n' ' ' <"$late")" "t exit 0 " "that insert's trigger loaded the new version and scored its row"

pg_psql -d postgres -c "DROP DATABASE $db" >/dev/null
rm -f "$script" "$out" "$late"
done_testing
