#!/usr/bin/env bash
# Models, deployments and grants survive pg_dump / pg_restore into a fresh
# database, the restored model samples exactly what the original did, and a
# private model keeps its privacy record (epsilon, charges, ...) unchanged.
source "$(dirname "${BASH_SOURCE[0]}")/lib/tap.sh"
plan 6

src=aigc_dump_src
dst=aigc_dump_dst
dump="$AIGC_BASE/aigc_dump.custom"
create_database "$src" aigc_pg
pg_psql -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $dst" >/dev/null
pg_psql -d "$src" >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE TABLE people AS
SELECT 20 + (i * 7) % 45 AS age, (ARRAY['Oslo', 'Lima', 'Pune'])[1 + i % 3] AS city,
       1000 + (i * 37) % 900 + (i % 3) * 2000 AS income
  FROM generate_series(1, 800) AS i;
SELECT aigc_train('people_vae', 'people'::regclass, options => '{"epochs": 3, "seed": 11}');
SELECT aigc_train('people_vae', 'people'::regclass, options => '{"epochs": 2, "seed": 12}');
SELECT aigc_deploy('people_vae', 1);
DO $$ BEGIN CREATE ROLE aigc_dump_reader; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
SELECT aigc_grant('people_vae', 'aigc_dump_reader', 'use');
SELECT aigc_train('people_dp', 'people'::regclass,
                  options => '{"epochs": 2, "seed": 13, "privacy": {"epsilon": 2, "delta": 1e-5}}');
SQL
sample_sql="SELECT md5(string_agg(t::text, ',')) FROM aigc_sample(NULL::people, 'people_vae', 500, seed => 5) t"
before=$(q "$src" "$sample_sql")
privacy_sql="SELECT privacy::text FROM aigc.models WHERE name = 'people_dp'"
privacy_before=$(q "$src" "$privacy_sql")

ok "$PGBIN/pg_dump" -Fc -f "$dump" "$src" "pg_dump of a database with models"
pg_psql -d postgres -c "CREATE DATABASE $dst" >/dev/null
ok "$PGBIN/pg_restore" --exit-on-error -d "$dst" "$dump" "pg_restore into a fresh database"

is "$(q "$dst" "SELECT string_agg(version || ':' || in_use, ',' ORDER BY version) FROM aigc.models WHERE name = 'people_vae'")" \
   "1:true,2:false" "both versions restored, the deployed one still in use"
is "$(q "$dst" "SELECT count(*) FROM aigc.model_grants WHERE grantee = 'aigc_dump_reader'::regrole")" "1" \
   "grants restored"
is "$(q "$dst" "$sample_sql")" "$before" "the restored model samples the same rows for the same seed"
if [ -n "$privacy_before" ] && [ "$(q "$dst" "$privacy_sql")" = "$privacy_before" ]; then
    ok true "the private model's privacy record (epsilon, delta, charges) is restored unchanged"
else
    ok false "the private model's privacy record (epsilon, delta, charges) is restored unchanged"
fi

pg_psql -d postgres -c "DROP DATABASE $src" -c "DROP DATABASE $dst" -c "DROP ROLE aigc_dump_reader" >/dev/null
rm -f "$dump"
done_testing
