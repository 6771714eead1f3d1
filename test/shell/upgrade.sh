#!/usr/bin/env bash
# The extension's version path, as pg_stat_statements' oldextversions test
# checks it: versions 0.1.0 and 0.2.0 still install (0.2.0 as 0.1.0 plus
# its upgrade script); a model trained and stored under
# it samples and scores the same after ALTER EXTENSION aigc_pg UPDATE; models
# that the 0.1.0 library itself wrote (test/fixtures/models_0.1.0.sql) load
# and score as 0.1.0 scored them; and the updated extension has exactly the
# objects, definitions and store tables of a fresh install of the default
# version.  A model stored under 0.2.0 samples the same after the update.
source "$(dirname "${BASH_SOURCE[0]}")/lib/tap.sh"
plan 16

old=aigc_upgrade_old
new=aigc_upgrade_new
mid=aigc_upgrade_mid
default_version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$ROOT/aigc_pg.control")

for db in "$old" "$new" "$mid"; do
    pg_psql -d postgres -c "SET client_min_messages = warning" \
        -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
done
for db in "$old" "$mid"; do
    (cd "$ROOT" && pg_psql -d "$db" -f data/contributions.sql >/dev/null)
done

ok pg_psql -d "$old" -c "CREATE EXTENSION aigc_pg VERSION '0.1.0'" "version 0.1.0 installs"
(cd "$ROOT/test/fixtures" && pg_psql -d "$old" -f models_0.1.0.sql >/dev/null)
is "$(q "$old" "SELECT (aigc_train('upgrade_vae', 'contributions'::regclass, 'vae',
           '{\"epochs\": 2, \"seed\": 3, \"encoder_dims\": [32], \"decoder_dims\": [32]}')).version")" \
    "1" "a model trains and is stored under 0.1.0"

sample_sql="SELECT md5(string_agg(s::text, ',')) FROM aigc_sample(NULL::contributions, 'upgrade_vae', 300, seed => 5) s"
score_sql="SELECT md5(string_agg(aigc_score('upgrade_vae', c)::text, ',' ORDER BY id)) FROM contributions c WHERE id <= 200"
sample_before=$(q "$old" "$sample_sql")
score_before=$(q "$old" "$score_sql")
is "$(q "$old" "SELECT count(*) FROM aigc_sample(NULL::contributions, 'upgrade_vae', 300, seed => 5)")|$(q "$old" "SELECT count(*) FROM contributions c WHERE id <= 200 AND aigc_score('upgrade_vae', c) IS NOT NULL")" \
    "300|200" "and samples and scores under 0.1.0 (what the update must keep)"

ok pg_psql -d "$old" -c "ALTER EXTENSION aigc_pg UPDATE" "ALTER EXTENSION aigc_pg UPDATE"
is "$(q "$old" "SELECT extversion FROM pg_extension WHERE extname = 'aigc_pg'")" "$default_version" \
    "the update reaches the default version $default_version"
is "$(q "$old" "$sample_sql")" "$sample_before" "a model stored under 0.1.0 samples the same rows after the update"
is "$(q "$old" "$score_sql")" "$score_before" "and scores the same"
is "$(q "$old" "SELECT count(*) FROM fixture_scores_0_1_0 f JOIN contributions c USING (id)
                 WHERE abs(aigc_score(f.model, c) - f.score) <= 1e-6 * abs(f.score)")" 40 \
    "models written by the 0.1.0 library score as 0.1.0 scored them (VAE and GAN, 20 rows each)"
is "$(q "$old" "SELECT (SELECT count(*) FROM aigc_sample(NULL::contributions, 'fixture_vae', 100, seed => 1))
                     + (SELECT count(*) FROM aigc_sample(NULL::contributions, 'fixture_gan', 100, seed => 1))")" 200 \
    "and sample"

# Everything the extension owns, with its definition, in a comparable form
describe_sql="SELECT md5(string_agg(d, E'\n' ORDER BY d)) FROM (
    SELECT pg_describe_object(classid, objid, objsubid) || ' ' ||
           coalesce(obj_description(objid, classid::regclass::name), '') || ' ' ||
           coalesce(CASE classid
               WHEN 'pg_proc'::regclass THEN pg_get_functiondef(objid)
               WHEN 'pg_class'::regclass THEN
                   (SELECT coalesce(pg_get_viewdef(objid), '') || string_agg(
                       attname || ' ' || format_type(atttypid, atttypmod) || ' ' || attnotnull || ' ' ||
                       coalesce(pg_get_expr(adbin, adrelid), ''), ', ' ORDER BY attnum)
                      FROM pg_attribute LEFT JOIN pg_attrdef ON adrelid = attrelid AND adnum = attnum
                     WHERE attrelid = objid AND attnum > 0 AND NOT attisdropped) ||
                   (SELECT coalesce(string_agg(pg_get_constraintdef(oid), ', ' ORDER BY conname), '')
                      FROM pg_constraint WHERE conrelid = objid) ||
                   (SELECT coalesce(string_agg(pg_get_triggerdef(oid), ', ' ORDER BY tgname), '')
                      FROM pg_trigger WHERE tgrelid = objid AND NOT tgisinternal) ||
                   (SELECT coalesce(array_to_string(relacl, ','), '') FROM pg_class WHERE oid = objid)
               WHEN 'pg_type'::regclass THEN format_type(objid, NULL)
               ELSE '' END, '') AS d
      FROM pg_depend
     WHERE refclassid = 'pg_extension'::regclass
       AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'aigc_pg')
       AND deptype = 'e') x"
pg_psql -d "$new" -c "CREATE EXTENSION aigc_pg" >/dev/null
updated=$(q "$old" "$describe_sql")
fresh=$(q "$new" "$describe_sql")
is "$updated" "$fresh" "the updated extension's objects and definitions equal a fresh install of $default_version"
is "$(q "$old" "SELECT count(*) FROM pg_depend WHERE refobjid = (SELECT oid FROM pg_extension WHERE extname = 'aigc_pg') AND deptype = 'e'")" \
   "$(q "$new" "SELECT count(*) FROM pg_depend WHERE refobjid = (SELECT oid FROM pg_extension WHERE extname = 'aigc_pg') AND deptype = 'e'")" \
   "and as many of them"

# 0.2.0 -> default: the path a database created with the previous release takes
ok pg_psql -d "$mid" -c "CREATE EXTENSION aigc_pg VERSION '0.2.0'" "version 0.2.0 installs"
q "$mid" "SELECT (aigc_train('upgrade_vae', 'contributions'::regclass, 'vae',
           '{\"epochs\": 2, \"seed\": 3, \"encoder_dims\": [32], \"decoder_dims\": [32]}')).version" >/dev/null
mid_before=$(q "$mid" "$sample_sql")$(q "$mid" "$score_sql")
ok pg_psql -d "$mid" -c "ALTER EXTENSION aigc_pg UPDATE" "ALTER EXTENSION aigc_pg UPDATE from 0.2.0"
is "$(q "$mid" "$sample_sql")$(q "$mid" "$score_sql")" "$mid_before" "a model stored under 0.2.0 samples and scores the same after the update"
is "$(q "$mid" "$describe_sql")" "$fresh" "the extension updated from 0.2.0 equals a fresh install of $default_version"

is "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["version"])' "$ROOT/META.json")" \
    "$default_version" "META.json describes the default version"

pg_psql -d postgres -c "SET client_min_messages = warning" \
    -c "DROP DATABASE IF EXISTS $old" -c "DROP DATABASE IF EXISTS $new" \
    -c "DROP DATABASE IF EXISTS $mid" >/dev/null
done_testing
