-- Values at the ends of their types: every model trained is loadable, its
-- samples stay inside the observed range, and a value that cannot be
-- modelled is refused before anything is stored, so the version in use and
-- the scoring trigger on it keep working.  Also: key and generated columns
-- are not modelled, and aigc_create_type is immune to a hostile search_path.
BEGIN;
SELECT plan(34);
SET LOCAL client_min_messages = warning;

-- float8 with a tenth of its values at 1e160 (their squares overflow a double)
CREATE TABLE ev_huge (a float8, b text);
INSERT INTO ev_huge SELECT CASE WHEN i % 10 = 0 THEN 1e160 ELSE i END, 'k' || (i % 3)
  FROM generate_series(1, 400) i;
SELECT is((aigc_train('ev_huge_m', 'ev_huge'::regclass,
                      options => '{"epochs": 3, "seed": 1, "progress_every": 0}')).version,
          1, '1e160: trains');
CREATE TABLE ev_huge_s AS SELECT * FROM aigc_sample(NULL::ev_huge, 'ev_huge_m', 500, seed => 1);
SELECT is((SELECT count(*) FROM ev_huge_s), 500::bigint, '1e160: the model loads and samples');
SELECT ok((SELECT min(a) >= 1 AND max(a) <= 1e160 FROM ev_huge_s),
          '1e160: samples stay within the observed range');
SELECT ok((SELECT count(*) FILTER (WHERE a > 1e150) BETWEEN 1 AND 499 FROM ev_huge_s),
          '1e160: both the huge and the ordinary values are sampled');
SELECT ok((SELECT (c->>'max')::float8 = 1e160 FROM aigc.models, jsonb_array_elements(columns) c
            WHERE name = 'ev_huge_m' AND c->>'name' = 'a'),
          '1e160: the spec records the range');

-- the scoring trigger on the version in use
CREATE TABLE ev_huge_in (a float8, b text, score float8);
CREATE TRIGGER s BEFORE INSERT ON ev_huge_in
    FOR EACH ROW EXECUTE FUNCTION aigc_score_trigger('ev_huge_m', 'score');
INSERT INTO ev_huge_in (a, b) VALUES (1e160, 'k1'), (17, 'k2');
SELECT is((SELECT count(*) FROM ev_huge_in WHERE score IS NOT NULL AND score = score
              AND score < 'Infinity'), 2::bigint, '1e160: rows are scored with finite scores');

-- the whole range of float8
CREATE TABLE ev_edge (a float8);
INSERT INTO ev_edge SELECT CASE i % 3 WHEN 0 THEN 1.7e308 WHEN 1 THEN -1.7e308 ELSE i END
  FROM generate_series(1, 300) i;
SELECT is((aigc_train('ev_edge_m', 'ev_edge'::regclass, 'gan',
                      options => '{"epochs": 2, "seed": 1, "progress_every": 0}')).version,
          1, '+-1.7e308: a GAN trains');
SELECT is((aigc_train('ev_edge_m', 'ev_edge'::regclass,
                      options => '{"epochs": 2, "seed": 1, "progress_every": 0}')).version,
          2, '+-1.7e308: a VAE trains');
CREATE TABLE ev_edge_s AS
SELECT a FROM aigc_sample(NULL::ev_edge, 'ev_edge_m', 300, seed => 2, version => 1)
UNION ALL SELECT a FROM aigc_sample(NULL::ev_edge, 'ev_edge_m', 300, seed => 2, version => 2);
SELECT is((SELECT count(*) FROM ev_edge_s WHERE a BETWEEN -1.7e308 AND 1.7e308), 600::bigint,
          '+-1.7e308: every sample of both versions is finite and within the observed range');
SELECT ok((SELECT count(*) FILTER (WHERE a > 1e300) > 0 AND count(*) FILTER (WHERE a < -1e300) > 0
             FROM ev_edge_s), '+-1.7e308: both ends are sampled');
SELECT ok((SELECT aigc_score('ev_edge_m', ROW(1.7e308)::ev_edge) < 'Infinity'::float8),
          '+-1.7e308: an extreme row scores');

-- numeric with 300 digits fits a double; with 320 it does not
CREATE TABLE ev_num (n numeric, t text);
INSERT INTO ev_num SELECT CASE WHEN i % 4 = 0 THEN repeat('9', 300)::numeric ELSE i END, 'x'
  FROM generate_series(1, 200) i;
SELECT is((aigc_train('ev_num_m', 'ev_num'::regclass,
                      options => '{"epochs": 2, "seed": 1, "progress_every": 0}')).version,
          1, '300-digit numeric: trains');
SELECT ok((SELECT min(n) >= 1 AND max(n) <= 1e300 AND count(*) = 200
             FROM aigc_sample(NULL::ev_num, 'ev_num_m', 200, seed => 1)),
          '300-digit numeric: samples stay within the observed range (as doubles)');
CREATE TABLE ev_num_in (n numeric, t text, score float8);
CREATE TRIGGER s BEFORE INSERT ON ev_num_in
    FOR EACH ROW EXECUTE FUNCTION aigc_score_trigger('ev_num_m', 'score');
INSERT INTO ev_num VALUES (repeat('9', 320)::numeric, 'x');
SELECT throws_ok($$SELECT aigc_train('ev_num_m', 'ev_num'::regclass, options => '{"epochs": 1, "progress_every": 0}')$$,
                 '22003', NULL, '320-digit numeric: refused before training');
SELECT throws_like($$SELECT aigc_train('ev_num_m', 'ev_num'::regclass, options => '{"epochs": 1, "progress_every": 0}')$$,
                   'column "n" has a value beyond the range of double precision: 9999%',
                   '320-digit numeric: the error names the column and the value');
SELECT is((SELECT array_agg(version) FROM aigc.models WHERE name = 'ev_num_m'), '{1}'::int[],
          '320-digit numeric: no version was stored');
INSERT INTO ev_num_in (n, t) VALUES (5, 'x');
SELECT is((SELECT count(*) FROM ev_num_in WHERE score IS NOT NULL), 1::bigint,
          '320-digit numeric: the scoring trigger on the version in use still works');

-- bigint beyond 2^53
CREATE TABLE ev_big (c bigint, near bigint, ends bigint);
INSERT INTO ev_big
SELECT 9007199254740993, 9000000000000000000 + i::bigint * 1000003001,
       CASE i % 3 WHEN 0 THEN 9223372036854775807 WHEN 1 THEN -9223372036854775808 ELSE i END
  FROM generate_series(1, 400) i;
SELECT is((aigc_train('ev_big_m', 'ev_big'::regclass,
                      options => '{"epochs": 3, "seed": 1, "progress_every": 0}')).version,
          1, 'bigint near 2^63: trains');
CREATE TABLE ev_big_s AS SELECT * FROM aigc_sample(NULL::ev_big, 'ev_big_m', 500, seed => 3);
SELECT is((SELECT count(*) FROM ev_big_s WHERE c = 9007199254740993), 500::bigint,
          'a constant bigint 2^53 + 1 comes back exactly');
SELECT ok((SELECT min(near) >= 9000000001000003001 AND max(near) <= 9000000400001200400 FROM ev_big_s),
          'bigint near 9e18: samples stay within the observed range');
SELECT ok((SELECT count(*) FILTER (WHERE ends = 9223372036854775807) > 0
              AND count(*) FILTER (WHERE ends = -9223372036854775808) > 0 FROM ev_big_s),
          'bigint: both ends of the type come back exactly, without overflow');
SELECT is((SELECT c->>'min' FROM aigc.models, jsonb_array_elements(columns) c
            WHERE name = 'ev_big_m' AND c->>'name' = 'c'), '9007199254740993',
          'bigint: the spec records the exact range');
SELECT is((SELECT substring(weights FROM 9 FOR 8) FROM aigc.model_store WHERE name = 'ev_big_m'),
          '\x0300000001000000'::bytea, 'a model with a bigint column is stored in format version 3');
SELECT is((SELECT substring(weights FROM 9 FOR 8) FROM aigc.model_store WHERE name = 'ev_huge_m'),
          '\x0100000001000000'::bytea, 'a VAE without one stays format version 1');

-- keys and generated columns
CREATE TABLE ev_keys (a serial, b smallserial, c bigserial,
                      d integer GENERATED ALWAYS AS IDENTITY, e integer,
                      f integer GENERATED ALWAYS AS (e * 2) STORED,
                      g integer DEFAULT nextval('ev_keys_a_seq')::integer);
INSERT INTO ev_keys (e) SELECT i % 50 FROM generate_series(1, 200) i;
SELECT is((aigc_train('ev_keys_m', 'ev_keys'::regclass,
                      options => '{"epochs": 1, "seed": 1, "progress_every": 0}')).train_rows,
          200::bigint, 'a table with every kind of key and a generated column trains');
SELECT is((SELECT array_agg(c->>'name') FROM aigc.models, jsonb_array_elements(columns) c
            WHERE name = 'ev_keys_m'), '{e}'::text[],
          'serial, smallserial, bigserial, identity, nextval() and generated columns are not modelled');
SELECT is((SELECT count(*) FROM aigc_sample(NULL::ev_keys, 'ev_keys_m', 50, seed => 1)
            WHERE num_nonnulls(a, b, c, d, f, g) = 0 AND e IS NOT NULL), 50::bigint,
          'samples have NULL in key and generated columns');
INSERT INTO ev_keys (e) SELECT e FROM aigc_sample(NULL::ev_keys, 'ev_keys_m', 5, seed => 1);
SELECT is((SELECT count(*) FROM ev_keys WHERE f = e * 2), 205::bigint,
          'inserted samples get computed generated columns');

-- aigc_create_type under a hostile search_path
CREATE SCHEMA ev_app;
CREATE TYPE ev_app.mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE ev_app.feel (m ev_app.mood, t text, d date);
INSERT INTO ev_app.feel SELECT (ARRAY['sad', 'ok', 'happy'])[1 + i % 3]::ev_app.mood, 'x' || (i % 4),
                               date '2024-01-01' + i
  FROM generate_series(1, 200) i;
SELECT is((aigc_train('ev_feel_m', 'ev_app.feel'::regclass,
                      options => '{"epochs": 1, "seed": 1, "progress_every": 0}')).train_rows,
          200::bigint, 'a table with an enum of another schema trains');
SELECT is((SELECT array_agg(c->>'type' ORDER BY ord) FROM aigc.models,
                  jsonb_array_elements(columns) WITH ORDINALITY AS x(c, ord)
            WHERE name = 'ev_feel_m'), '{ev_app.mood,pg_catalog.text,pg_catalog.date}'::text[],
          'the column spec records schema-qualified types');
CREATE ROLE ev_hostile;
CREATE SCHEMA ev_evil AUTHORIZATION ev_hostile;
CREATE TYPE ev_evil.mood AS ENUM ('evil');
CREATE TYPE ev_evil.text AS ENUM ('evil');
CREATE TYPE ev_evil.regtype AS ENUM ('evil');
CREATE FUNCTION ev_evil.evil_arrow(jsonb, text) RETURNS text LANGUAGE sql AS $$SELECT 'evil'$$;
CREATE OPERATOR ev_evil.->> (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = ev_evil.evil_arrow);
-- called bare: pgTAP's own functions would fall to the hostile "text"
SET LOCAL search_path = ev_evil, ev_app, public, pg_catalog;
\o /dev/null
SELECT aigc_create_type('ev_feel_m', 'public.ev_feel_row');
\o
RESET search_path;
SELECT is((SELECT array_agg(format_type(atttypid, atttypmod) ORDER BY attnum) FROM pg_attribute
            WHERE attrelid = 'public.ev_feel_row'::regclass),
          '{ev_app.mood,text,date}'::text[],
          'aigc_create_type under a search_path with a hostile schema first: the model''s types');
SELECT is((SELECT count(*) FROM aigc_sample(NULL::public.ev_feel_row, 'ev_feel_m', 10, seed => 1)
            WHERE m IS NOT NULL), 10::bigint, 'the created type samples');

-- a spec stored before types were qualified still makes a type
UPDATE aigc.model_store
   SET columns = (SELECT jsonb_agg(c || jsonb_build_object('type', replace(c->>'type', 'pg_catalog.', '')))
                    FROM jsonb_array_elements(columns) c)
 WHERE name = 'ev_big_m';
SELECT is(aigc_create_type('ev_big_m', 'ev_big_row')::text, 'ev_big_row',
          'aigc_create_type reads an unqualified (old) spec');
SELECT is((SELECT count(*) FROM aigc_sample(NULL::ev_big_row, 'ev_big_m', 5, seed => 1)), 5::bigint,
          'the type from an old spec samples');

SELECT * FROM finish();
ROLLBACK;
