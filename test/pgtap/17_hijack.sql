-- Search-path hijacks (docs/security.md): a role with nothing but CREATE on a
-- schema (and TEMP) plants operators, functions, an aggregate, a cast, types
-- and tables that shadow what the extension's code names, in its schema and
-- in pg_temp, puts them first in its search_path and calls every public
-- function.  Code running as the store owner (here the superuser postgres)
-- must resolve none of them: the hijacker stays unprivileged and none of its
-- code runs as another role (a canary table, and a sequence that also counts
-- hits whose transaction rolled back), and each call ends as it would
-- without the hijack.
BEGIN;
SELECT plan(44);
SET LOCAL client_min_messages = warning;

CREATE ROLE aigc_hijacker;
CREATE SCHEMA hj AUTHORIZATION aigc_hijacker;
CREATE TABLE hj_data AS SELECT age, gender, region, monthly_wage FROM contributions WHERE id <= 400;
GRANT SELECT ON hj_data TO aigc_hijacker;
-- someone else's model the hijacker may use
\o /dev/null
SELECT aigc_train('hj_victim', 'hj_data'::regclass,
                  options => '{"epochs": 1, "seed": 1, "progress_every": 0, "encoder_dims": [16], "decoder_dims": [16], "latent_dim": 4}');
SELECT aigc_grant('hj_victim', 'aigc_hijacker', 'use');
SELECT aigc_calibrate('hj_victim', 'hj_data');
\o

-- each call as the hijacker, with its planted names first in the path
CREATE FUNCTION pg_temp.hijack(sql text) RETURNS text LANGUAGE plpgsql
SET search_path = pg_temp, hj, pg_catalog, public AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END
$$;

SET LOCAL ROLE aigc_hijacker;
CREATE TABLE hj.canary (who name, via text);
GRANT INSERT ON hj.canary TO PUBLIC;
CREATE SEQUENCE hj.canary_hits;
CREATE SEQUENCE hj.own_hits;
GRANT USAGE ON SEQUENCE hj.canary_hits, hj.own_hits TO PUBLIC;

-- the payload: run as anyone else, it leaves a trace and makes the hijacker
-- a superuser; run as the hijacker, it only counts (the hooks are live)
CREATE FUNCTION hj.payload(via text) RETURNS boolean LANGUAGE plpgsql
SET search_path = pg_catalog AS $$
BEGIN
    IF current_user OPERATOR(pg_catalog.<>) 'aigc_hijacker' THEN
        PERFORM nextval('hj.canary_hits');
        INSERT INTO hj.canary VALUES (current_user, via);
        BEGIN
            EXECUTE 'ALTER ROLE aigc_hijacker SUPERUSER';
        EXCEPTION WHEN OTHERS THEN
            NULL;
        END;
    ELSE
        PERFORM nextval('hj.own_hits');
    END IF;
    RETURN true;
END
$$;

-- 1. operators
CREATE FUNCTION hj.eq_text(a text, b text) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN PERFORM hj.payload('= text'); RETURN a OPERATOR(pg_catalog.=) b; END $$;
CREATE OPERATOR hj.= (LEFTARG = text, RIGHTARG = text, FUNCTION = hj.eq_text);
CREATE FUNCTION hj.eq_int(a integer, b integer) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN PERFORM hj.payload('= integer'); RETURN a OPERATOR(pg_catalog.=) b; END $$;
CREATE OPERATOR hj.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = hj.eq_int);
CREATE FUNCTION hj.eq_role(a regrole, b oid) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN PERFORM hj.payload('= regrole'); RETURN a::oid OPERATOR(pg_catalog.=) b; END $$;
CREATE OPERATOR hj.= (LEFTARG = regrole, RIGHTARG = oid, FUNCTION = hj.eq_role);
CREATE FUNCTION hj.cat(a text, b text) RETURNS text LANGUAGE plpgsql AS
$$ BEGIN PERFORM hj.payload('||'); RETURN a OPERATOR(pg_catalog.||) b; END $$;
CREATE OPERATOR hj.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = hj.cat);
CREATE FUNCTION hj.plus(a integer, b integer) RETURNS integer LANGUAGE plpgsql AS
$$ BEGIN PERFORM hj.payload('+'); RETURN a OPERATOR(pg_catalog.+) b; END $$;
CREATE OPERATOR hj.+ (LEFTARG = integer, RIGHTARG = integer, FUNCTION = hj.plus);
CREATE FUNCTION hj.field(a jsonb, b text) RETURNS text LANGUAGE plpgsql AS
$$ BEGIN PERFORM hj.payload('->>'); RETURN a OPERATOR(pg_catalog.->>) b; END $$;
CREATE OPERATOR hj.->> (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = hj.field);
CREATE OPERATOR pg_temp.= (LEFTARG = text, RIGHTARG = text, FUNCTION = hj.eq_text);

-- 2. functions and an aggregate shadowing pg_catalog's
CREATE FUNCTION hj.hashtext(t text) RETURNS integer LANGUAGE plpgsql AS
$$ BEGIN PERFORM hj.payload('hashtext'); RETURN pg_catalog.hashtext(t); END $$;
CREATE FUNCTION hj.hashtextextended(t text, s bigint) RETURNS bigint LANGUAGE plpgsql AS
$$ BEGIN PERFORM hj.payload('hashtextextended'); RETURN pg_catalog.hashtextextended(t, s); END $$;
CREATE FUNCTION hj.pg_advisory_xact_lock(k integer) RETURNS void LANGUAGE plpgsql AS
$$ BEGIN PERFORM hj.payload('pg_advisory_xact_lock'); END $$;
CREATE FUNCTION hj.now() RETURNS timestamptz LANGUAGE plpgsql AS
$$ BEGIN PERFORM hj.payload('now'); RETURN pg_catalog.now(); END $$;
CREATE FUNCTION hj.jsonb_array_length(j jsonb) RETURNS integer LANGUAGE plpgsql AS
$$ BEGIN PERFORM hj.payload('jsonb_array_length'); RETURN pg_catalog.jsonb_array_length(j); END $$;
CREATE FUNCTION hj.max_step(s integer, v integer) RETURNS integer LANGUAGE plpgsql AS
$$ BEGIN PERFORM hj.payload('max'); RETURN pg_catalog.greatest(s, v); END $$;
CREATE AGGREGATE hj.max(integer) (SFUNC = hj.max_step, STYPE = integer);
CREATE FUNCTION pg_temp.hashtext(t text) RETURNS integer LANGUAGE plpgsql AS
$$ BEGIN PERFORM hj.payload('pg_temp.hashtext'); RETURN pg_catalog.hashtext(t); END $$;

-- 3. a cast from a type of the hijacker's, in rows it scores and compares
-- (which end in the normal type mismatch, 42804)
CREATE TYPE hj.sex AS ENUM ('F', 'M');
CREATE FUNCTION hj.sex_text(s hj.sex) RETURNS text LANGUAGE plpgsql AS
$$ BEGIN PERFORM hj.payload('cast'); RETURN s::text; END $$;
CREATE CAST (hj.sex AS text) WITH FUNCTION hj.sex_text(hj.sex) AS IMPLICIT;
CREATE TABLE hj.rows AS SELECT age, gender::hj.sex AS gender, region, monthly_wage FROM public.hj_data;

-- 4. types: domains named like the types the code names, checked by the payload
CREATE DOMAIN hj.text AS pg_catalog.text CHECK (hj.payload('type text'));
CREATE DOMAIN hj.jsonb AS pg_catalog.jsonb CHECK (hj.payload('type jsonb'));
CREATE DOMAIN hj.float8 AS pg_catalog.float8 CHECK (hj.payload('type float8'));
CREATE DOMAIN hj.regtype AS pg_catalog.regtype CHECK (hj.payload('type regtype'));

-- 5. tables and views named like aigc's, in the schema and in pg_temp
CREATE VIEW hj.model_registry AS SELECT 'hj_victim'::pg_catalog.text AS name, pg_catalog.to_regrole('aigc_hijacker') AS owner
 WHERE hj.payload('table model_registry');
CREATE VIEW hj.model_grants AS SELECT 'hj_victim'::pg_catalog.text AS name, pg_catalog.to_regrole('public') AS grantee,
       'deploy'::pg_catalog.text AS privilege WHERE hj.payload('table model_grants');
CREATE TABLE hj.model_store (name pg_catalog.text, version integer);
CREATE TABLE hj.deployments (name pg_catalog.text, seq integer, version integer);
CREATE TABLE hj.score_calibration (model pg_catalog.text, version integer);
CREATE VIEW hj.models AS SELECT 'hj_victim'::pg_catalog.text AS name WHERE hj.payload('view models');
CREATE TEMP VIEW model_registry AS SELECT 'hj_victim'::pg_catalog.text AS name, pg_catalog.to_regrole('aigc_hijacker') AS owner
 WHERE hj.payload('temp model_registry');
CREATE TEMP TABLE model_store (name pg_catalog.text, version integer);
CREATE TEMP TABLE model_grants (name pg_catalog.text, grantee regrole, privilege pg_catalog.text);

-- the hijacker's own table, scored by a trigger on someone else's model
CREATE TABLE hj.ledger (age integer, gender text, region text, monthly_wage numeric(10,2), score float8);
CREATE TRIGGER score_ledger BEFORE INSERT ON hj.ledger
    FOR EACH ROW EXECUTE FUNCTION aigc_score_trigger('hj_victim', 'score');

CREATE TEMP TABLE hj_cases (id serial, sql text, expected text);
INSERT INTO hj_cases (sql, expected) VALUES
($$SELECT aigc_train('hj_own', 'hj_data'::regclass, options => '{"epochs": 1, "seed": 2, "progress_every": 0, "encoder_dims": [16], "decoder_dims": [16], "latent_dim": 4}')$$, 'ok'),
($$SELECT aigc_train('hj_own', 'SELECT age, gender, region, monthly_wage FROM hj_data WHERE gender = ''F''', options => '{"epochs": 1, "seed": 3, "progress_every": 0, "encoder_dims": [16], "decoder_dims": [16], "latent_dim": 4}')$$, 'ok'),
($$SELECT aigc_train('hj_victim', 'hj_data'::regclass, options => '{"epochs": 1, "progress_every": 0}')$$, '42501'),
($$SELECT * FROM aigc_sample(NULL::hj_data, 'hj_victim', 5, seed => 1)$$, 'ok'),
($$SELECT aigc_score('hj_victim', t) FROM hj_data t LIMIT 5$$, 'ok'),
($$SELECT aigc_score('hj_victim', t) FROM hj.rows t LIMIT 5$$, '42804'),
($$SELECT * FROM aigc_explain('hj_victim', (SELECT t FROM hj_data t LIMIT 1))$$, 'ok'),
($$SELECT aigc_encode('hj_victim', t) FROM hj_data t LIMIT 5$$, 'ok'),
($$SELECT * FROM aigc_score_batch('hj_victim', 'hj_data')$$, 'ok'),
($$SELECT aigc_score_percentile('hj_victim', t) FROM hj_data t LIMIT 5$$, 'ok'),
($$SELECT aigc_calibrate('hj_own', 'hj_data')$$, 'ok'),
($$SELECT aigc_calibrate('hj_victim', 'hj_data')$$, '42501'),
($$SELECT * FROM aigc_evaluate('hj_victim', 'hj_data', n => 200, max_rows => 200)$$, 'ok'),
($$SELECT * FROM aigc_evaluate_relations('hj_data', 'hj.rows', max_rows => 200)$$, '42804'),
($$SELECT * FROM aigc_evaluate_relations('hj_data', 'hj_data', max_rows => 200)$$, 'ok'),
($$SELECT * FROM aigc_evaluate('hj_victim', 'hj_data', n => 200, max_rows => 200, target => 'gender')$$, 'ok'),
($$SELECT * FROM aigc_latent_map('hj_victim', 'hj_data', 'region', n => 100)$$, 'ok'),
($$SELECT aigc_report('hj_victim', 'hj_data', target => 'gender', n => 200, group_by => 'region')$$, 'ok'),
($$SELECT aigc_deploy('hj_own', 1)$$, 'ok'),
($$SELECT aigc_deploy('hj_victim', 1)$$, '42501'),
($$SELECT aigc_rollback('hj_own')$$, 'ok'),
($$SELECT aigc_rollback('hj_victim')$$, '42501'),
($$SELECT aigc_grant('hj_own', 'public', 'use')$$, 'ok'),
($$SELECT aigc_revoke('hj_own', 'public', 'use')$$, 'ok'),
($$SELECT aigc_grant('hj_victim', 'aigc_hijacker', 'train')$$, '42501'),
($$SELECT * FROM aigc_describe('hj_victim')$$, 'ok'),
($$SELECT aigc_create_type('hj_own', 'hj.own_row')$$, 'ok'),
($q$DO $d$ BEGIN IF aigc.has_model_privilege('hj_victim', 'deploy') THEN RAISE EXCEPTION 'deploy granted'; END IF; END $d$$q$, 'ok'),
($q$DO $d$ BEGIN IF (aigc.model_version('hj_victim')).version IS NULL THEN RAISE EXCEPTION 'no version'; END IF; END $d$$q$, 'ok'),
($q$DO $d$ BEGIN IF (SELECT count(*) FROM aigc.models WHERE name = 'hj_victim') <> 1 THEN RAISE EXCEPTION 'models'; END IF; END $d$$q$, 'ok'),
($$INSERT INTO hj.ledger (age, gender, region, monthly_wage) SELECT * FROM hj_data LIMIT 5$$, 'ok'),
($$SELECT aigc.sgemm_gflops('hj_victim', 10, NULL, 0.05)$$, 'ok'),
($$SELECT aigc_drop('hj_victim')$$, '42501'),
($$SELECT aigc_drop('hj_own', 2)$$, 'ok'),
($$SELECT aigc.reassign_models('aigc_hijacker', 'postgres')$$, '42501'),
($$SELECT aigc.drop_models('postgres')$$, '42501'),
($$SELECT aigc.drop_models('aigc_hijacker')$$, 'ok');

SELECT is(pg_temp.hijack(sql), expected, format('hijacked %s: %s', left(sql, 60), expected))
  FROM hj_cases ORDER BY id;

RESET ROLE;
SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'aigc_hijacker'), false,
          'the hijacker is still not a superuser');
SELECT is((SELECT count(*)::int FROM hj.canary), 0, 'no hijack code ran as another role (canary table)');
SELECT is((SELECT is_called FROM hj.canary_hits), false,
          'no hijack code ran as another role, not even in a call that failed (canary sequence)');
SELECT ok((SELECT is_called FROM hj.own_hits),
          'the planted operators are live: they ran in the hijacker''s own query');
SELECT is((SELECT count(*)::int FROM hj.ledger WHERE score IS NOT NULL), 5, 'the trigger scored the rows');
SELECT is((SELECT count(*)::int FROM aigc.models WHERE name = 'hj_own'), 0, 'drop_models dropped the hijacker''s model');
SELECT is((SELECT count(*)::int FROM aigc.models WHERE name = 'hj_victim'), 1, 'the victim''s model is untouched');

SELECT * FROM finish();
ROLLBACK;
