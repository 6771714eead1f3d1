-- aigc_sample streams its rows as the query asks for them, gives up early
-- on conditions the model rarely meets, and respects the row type it
-- samples into: domain constraints, narrower types, all-NULL columns.
BEGIN;
SELECT plan(28);

CREATE FUNCTION pg_temp.failure(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    msg text;
    detail text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || msg || ' | ' || coalesce(detail, '');
END
$$;

CREATE FUNCTION pg_temp.plan_of(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    line text;
    plan text := '';
BEGIN
    FOR line IN EXECUTE 'EXPLAIN VERBOSE ' || sql LOOP
        plan := plan || line || E'\n';
    END LOOP;
    RETURN plan;
END
$$;

-- a: even numbers above 10; b: NULL in a third of the rows; c: up to
-- 400000 (beyond smallint); d: always NULL; e: two labels
CREATE TABLE st (a integer, b integer, c bigint, d integer, e text);
INSERT INTO st
SELECT 12 + 2 * (i % 40), CASE WHEN i % 3 = 0 THEN NULL ELSE i % 7 END, i * 1000, NULL,
       CASE WHEN i % 2 = 0 THEN 'x' ELSE 'y' END
  FROM generate_series(1, 400) i;
SET LOCAL client_min_messages = warning;
SELECT lives_ok($$SELECT aigc_train('st_vae', 'st'::regclass,
                                     options => '{"epochs": 3, "seed": 1, "progress_every": 0}')$$,
                'train a small VAE');
SELECT lives_ok($$SELECT aigc_train('st_gan', 'st'::regclass, kind => 'gan',
                                     options => '{"epochs": 1, "seed": 1, "progress_every": 0}')$$,
                'train a one-epoch GAN (it still picks the placeholder mode of the all-NULL column)');
RESET client_min_messages;

-- streaming: a Function Scan would generate all 10^12 rows before the first
SET LOCAL statement_timeout = '5s';
SELECT is((SELECT count(*)::int FROM (SELECT * FROM aigc_sample(NULL::st, 'st_vae', 1000000000000) LIMIT 1) x),
          1, 'LIMIT 1 of 10^12 rows returns at once');
SELECT is((SELECT count(*)::int FROM (SELECT * FROM aigc_sample(NULL::st, 'st_vae', 1000000000000,
                                                                conditions => '{"e": "x"}') LIMIT 5) x),
          5, 'LIMIT 5 of 10^12 rows under conditions returns at once');
SELECT is((SELECT count(*)::int FROM (SELECT * FROM aigc_sample(NULL::st, 'st_gan', 1000000000000) LIMIT 3) x),
          3, 'a GAN streams as well');
RESET statement_timeout;
SELECT unalike(pg_temp.plan_of($$SELECT * FROM aigc_sample(NULL::st, 'st_vae', 10)$$),
              '%Function Scan on public.aigc_sample%', 'aigc_sample is inlined: no Function Scan collects its rows');
SELECT is((SELECT count(*)::int
             FROM regexp_matches(pg_temp.plan_of($$SELECT * FROM aigc_sample(NULL::st, 'st_vae', 10)$$),
                                 'Output: aigc\.sample_batches\(', 'g')),
          1, 'the inner set-returning function is called once per row of the ProjectSet, not once per column');

-- cancel is honoured between batches, and the call's memory goes with it
CREATE FUNCTION pg_temp.sample_until_cancelled() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM count(*) FROM aigc_sample(NULL::st, 'st_vae', 1000000000000);
    RETURN 'not cancelled';
EXCEPTION WHEN query_canceled THEN
    RETURN SQLSTATE;
END
$$;
SET LOCAL statement_timeout = '1500ms';
SELECT is(pg_temp.sample_until_cancelled(), '57014', 'counting 10^12 samples past statement_timeout is cancelled');
RESET statement_timeout;
SELECT is((SELECT count(*)::int FROM pg_backend_memory_contexts WHERE name = 'aigc_sample batch'), 0,
          'no sampling memory context is left behind');

-- n rows, also through count(*) and CREATE TABLE AS
SELECT is((SELECT count(*)::int FROM aigc_sample(NULL::st, 'st_vae', 2500)), 2500, 'count(*) of 2500 rows');
SELECT is((SELECT count(*)::int FROM aigc_sample(NULL::st, 'st_vae', 0)), 0, 'n = 0: no rows');
SELECT is((SELECT count(*)::int FROM aigc_sample(NULL::st, 'st_vae', 1700, conditions => '{"e": "y"}')),
          1700, 'count(*) under conditions');
CREATE TEMP TABLE st_copy AS SELECT * FROM aigc_sample(NULL::st, 'st_vae', 1234, seed => 3);
SELECT is((SELECT count(*)::int FROM st_copy), 1234, 'CREATE TABLE AS stores n rows');

-- the same seed gives the same rows, inlined or not
SELECT is((SELECT md5(string_agg(s::text, ',')) FROM aigc_sample(NULL::st, 'st_vae', 1234, seed => 3) s),
          (SELECT md5(string_agg(s::text, ',')) FROM st_copy s), 'same seed, same rows');
SELECT isnt((SELECT md5(string_agg(s::text, ',')) FROM aigc_sample(NULL::st, 'st_vae', 1234, seed => 4) s),
            (SELECT md5(string_agg(s::text, ',')) FROM st_copy s), 'another seed, other rows');
SELECT is((SELECT string_agg(x::text, ',') FROM (SELECT * FROM aigc_sample(NULL::st, 'st_vae', 1234, seed => 3) LIMIT 20) x),
          (SELECT string_agg(ROW(a, b, c, d, e)::text, ',' ORDER BY o)
             FROM aigc_sample(NULL::st, 'st_vae', 1234, seed => 3) WITH ORDINALITY AS s(a, b, c, d, e, o)
            WHERE o <= 20),
          'LIMIT 20 returns the first 20 rows of the whole sample (WITH ORDINALITY is not inlined)');

-- give up early, with the acceptance rate: at 10^-4 or so, 10^9 rows would
-- need about 10^13 draws against a bound of 10^11; without the early rule
-- this would run for hours and hit the timeout (57014)
SET LOCAL statement_timeout = '60s';
SELECT matches(pg_temp.failure($$SELECT count(*) FROM aigc_sample(NULL::st, 'st_vae', 1000000000,
                                                                  conditions => '{"c": [100000, 100100]}')$$),
               '^22023: model "st_vae" did not produce 1000000000 rows satisfying conditions .* \| Only [0-9]+ of 100000 generated rows satisfied them \(acceptance rate [0-9.e-]+%\); at most 100000000000 rows are generated for 1000000000 requested\.$',
               'rare conditions for 10^9 rows: 22023 after 10^5 draws, with the rate');
RESET statement_timeout;

-- domains: rows failing a domain's CHECK or NOT NULL are rejected and redrawn
CREATE DOMAIN st_even AS integer CHECK (VALUE > 10 AND VALUE % 2 = 0);
CREATE DOMAIN st_nn AS integer NOT NULL;
CREATE DOMAIN st_never AS integer CHECK (VALUE < 0);
CREATE TYPE st_dom AS (a st_even, b st_nn, e text);
CREATE TYPE st_dom_never AS (a st_never);
CREATE TYPE st_dom_allnull AS (d st_nn);
SELECT ok((SELECT count(*) FROM aigc_sample(NULL::st, 'st_vae', 2000, seed => 1) WHERE a % 2 <> 0 OR a <= 10) > 0
          AND (SELECT count(*) FROM aigc_sample(NULL::st, 'st_vae', 2000, seed => 1) WHERE b IS NULL) > 0,
          'into plain integers the model produces odd values of a and NULL in b (so the domain tests below bite)');
CREATE TEMP TABLE st_doms AS SELECT * FROM aigc_sample(NULL::st_dom, 'st_vae', 2000, seed => 1);
SELECT is((SELECT count(*)::int FROM st_doms), 2000, 'n rows into a row type with domains');
SELECT is((SELECT count(*)::int FROM st_doms WHERE NOT ((a::int) > 10 AND (a::int) % 2 = 0)), 0,
          'every value satisfies the domain CHECK');
SELECT is((SELECT count(*)::int FROM st_doms WHERE b IS NULL), 0, 'no NULL in a NOT NULL domain');
SELECT matches(pg_temp.failure($$SELECT * FROM aigc_sample(NULL::st_dom_never, 'st_vae', 1000)$$),
               '^22023: model "st_vae" did not produce 1000 rows satisfying the domain constraints of the row type \| Only 0 of 100000 generated rows satisfied them \(acceptance rate 0%\)',
               'a domain no sample satisfies: 22023 with the rate');
SELECT throws_ok($$SELECT * FROM aigc_sample(NULL::st_dom_allnull, 'st_vae', 5)$$, '23502',
                 'column "d" of the row type does not allow NULL, but model "st_vae" only produces NULL for it',
                 'a NOT NULL domain over a column that is always NULL');

-- a narrower type than the model's values: 22003 naming the column
CREATE TYPE st_small AS (c smallint);
CREATE TYPE st_int AS (c integer, a smallint);
SELECT throws_ok($$SELECT * FROM aigc_sample(NULL::st_small, 'st_vae', 5)$$, '22003',
                 'column "c" of the row type has type smallint, too narrow for the values model "st_vae" produces',
                 'bigint model values up to 400000 into smallint');
SELECT is((SELECT count(*)::int FROM aigc_sample(NULL::st_int, 'st_vae', 5)), 5,
          'narrower types that hold the training range are fine');

-- an all-NULL column is always NULL, also under conditions
SELECT is((SELECT count(d)::int FROM aigc_sample(NULL::st, m, 3000, seed => 2)), 0,
          m || ': the all-NULL column is NULL in every sample')
  FROM unnest(ARRAY['st_vae', 'st_gan']) AS m;
SELECT is((SELECT count(d)::int FROM aigc_sample(NULL::st, 'st_gan', 3000, seed => 2, conditions => '{"e": "x"}')), 0,
          'st_gan: the all-NULL column is NULL under conditions too');

SELECT * FROM finish();
ROLLBACK;
