-- aigc.threads and parallel query.  Training splits each batch across
-- aigc.threads threads: a seed reproduces the weights at a given count.
-- Scoring a big relation runs in parallel workers, each loading the model
-- from the store itself, with the caller's privileges (07_scoring.sql checks
-- the owner's parallel scores; here a grantee's, and a refusal).
BEGIN;
SELECT plan(35);

SET LOCAL client_min_messages = warning;
CREATE TABLE th_t AS SELECT age, gender, region, monthly_wage FROM contributions WHERE id <= 3000;

-- the setting, once the library is loaded (by the first aigc call, or LOAD)
LOAD 'aigc_pg';
SELECT ok(current_setting('aigc.threads')::int >= 1, 'aigc.threads defaults to the cores, at least one');
SET LOCAL aigc.threads = 1;
SELECT is(current_setting('aigc.threads'), '1', 'aigc.threads is set per session (or transaction) like work_mem');

-- reproducible at a given thread count, on one thread as on two
SELECT aigc_train('th_1a', 'th_t'::regclass, options => '{"epochs": 2, "seed": 7, "calibrate": false, "progress_every": 0}') \gset
SELECT aigc_train('th_1b', 'th_t'::regclass, options => '{"epochs": 2, "seed": 7, "calibrate": false, "progress_every": 0}') \gset
SET LOCAL aigc.threads = 2;
SELECT aigc_train('th_2a', 'th_t'::regclass, options => '{"epochs": 2, "seed": 7, "calibrate": false, "progress_every": 0}') \gset
SELECT aigc_train('th_2b', 'th_t'::regclass, options => '{"epochs": 2, "seed": 7, "calibrate": false, "progress_every": 0}') \gset
SELECT aigc_train('th_2g', 'th_t'::regclass, 'gan', options => '{"epochs": 1, "seed": 7, "progress_every": 0}') \gset
SELECT aigc_train('th_2h', 'th_t'::regclass, 'gan', options => '{"epochs": 1, "seed": 7, "progress_every": 0}') \gset
-- three: uneven slices of the batch and ranges of the parameters
SET LOCAL aigc.threads = 3;
SELECT aigc_train('th_3a', 'th_t'::regclass, options => '{"epochs": 1, "seed": 7, "calibrate": false, "progress_every": 0}') \gset
SELECT aigc_train('th_3b', 'th_t'::regclass, options => '{"epochs": 1, "seed": 7, "calibrate": false, "progress_every": 0}') \gset
-- the GAN: 30 and 90 pac groups, 300 rows and 256 units over three threads
SELECT aigc_train('th_3g', 'th_t'::regclass, 'gan', options => '{"epochs": 1, "seed": 7, "batch_size": 300, "progress_every": 0}') \gset
SELECT aigc_train('th_3h', 'th_t'::regclass, 'gan', options => '{"epochs": 1, "seed": 7, "batch_size": 300, "progress_every": 0}') \gset
SET LOCAL aigc.threads = 2;
SELECT aigc_train('th_2t', 'th_t'::regclass, 'transformer', options => '{"epochs": 1, "seed": 7, "progress_every": 0}') \gset
SELECT aigc_train('th_2u', 'th_t'::regclass, 'transformer', options => '{"epochs": 1, "seed": 7, "progress_every": 0}') \gset
SET LOCAL aigc.threads = 1;
SELECT aigc_train('th_1t', 'th_t'::regclass, 'transformer', options => '{"epochs": 1, "seed": 7, "progress_every": 0}') \gset
SELECT aigc_train('th_1g', 'th_t'::regclass, 'gan', options => '{"epochs": 1, "seed": 7, "progress_every": 0}') \gset
SET LOCAL aigc.threads = 2;
SELECT is((SELECT md5(weights) FROM aigc.model_store WHERE name = 'th_2t'),
          (SELECT md5(weights) FROM aigc.model_store WHERE name = 'th_2u'),
          'transformer, batch split across two threads: a seed reproduces the weights');
SELECT isnt((SELECT md5(weights) FROM aigc.model_store WHERE name = 'th_1t'),
            (SELECT md5(weights) FROM aigc.model_store WHERE name = 'th_2t'),
            'transformer: the thread count is part of what a seed reproduces');
CREATE FUNCTION pg_temp.weights_md5(model text) RETURNS text LANGUAGE sql AS $$
    SELECT md5(weights) FROM aigc.model_store WHERE name = model
$$;
SELECT is(pg_temp.weights_md5('th_2g'), pg_temp.weights_md5('th_2h'),
          'gan, each pass split across two threads: a seed reproduces the weights');
SELECT is(pg_temp.weights_md5('th_3g'), pg_temp.weights_md5('th_3h'),
          'gan on three threads (uneven parts): a seed reproduces the weights');
SELECT isnt(pg_temp.weights_md5('th_1g'), pg_temp.weights_md5('th_2g'),
            'gan: the thread count is part of what a seed reproduces');
SELECT is((SELECT md5(weights) FROM aigc.model_store WHERE name = 'th_1a'),
          (SELECT md5(weights) FROM aigc.model_store WHERE name = 'th_1b'), 'one thread: a seed reproduces the weights');
SELECT is((SELECT md5(weights) FROM aigc.model_store WHERE name = 'th_2a'),
          (SELECT md5(weights) FROM aigc.model_store WHERE name = 'th_2b'), 'two threads: a seed reproduces the weights');
SELECT is((SELECT md5(weights) FROM aigc.model_store WHERE name = 'th_3a'),
          (SELECT md5(weights) FROM aigc.model_store WHERE name = 'th_3b'), 'three threads: a seed reproduces the weights');
SELECT isnt((SELECT md5(weights) FROM aigc.model_store WHERE name = 'th_1a'),
            (SELECT md5(weights) FROM aigc.model_store WHERE name = 'th_2a'),
            'the thread count is part of what a seed reproduces (docs/performance.md)');
SELECT ok((SELECT abs((a.loss->'loss'->>1)::float8 - (b.loss->'loss'->>1)::float8) < 0.05 * abs((a.loss->'loss'->>1)::float8)
             FROM aigc.model_store a, aigc.model_store b WHERE a.name = 'th_1a' AND b.name = 'th_2a'),
          'two threads learn like one: the second epoch''s loss within 5%');

-- sampling makes each batch in chunks whose streams are seeded in chunk
-- order, so a seed gives the same rows at any thread count: several
-- batches, a short last chunk, and for each kind conditions too (the
-- transformer meets a leading one by construction in every thread's buffers;
-- th_2t is the transformer trained above at two threads)
CREATE FUNCTION pg_temp.sample_md5(model text, threads int, conds jsonb DEFAULT NULL) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('aigc.threads', threads::text, true);
    RETURN (SELECT md5(string_agg(t::text, ',')) FROM aigc_sample(NULL::th_t, model, 2610, seed => 5, conditions => conds) t);
END
$$;
SELECT is(pg_temp.sample_md5('th_1a', 2), pg_temp.sample_md5('th_1a', 1), 'vae: a seed samples the same rows on one thread and two');
SELECT is(pg_temp.sample_md5('th_2g', 2), pg_temp.sample_md5('th_2g', 1), 'gan: a seed samples the same rows on one thread and two');
SELECT is(pg_temp.sample_md5('th_2t', 2), pg_temp.sample_md5('th_2t', 1), 'transformer: a seed samples the same rows on one thread and two');
SELECT is(pg_temp.sample_md5('th_2t', 3, '{"age": [30, 40]}'), pg_temp.sample_md5('th_2t', 1, '{"age": [30, 40]}'),
          'transformer with a range condition: the same rows on one thread and three');
SELECT is(pg_temp.sample_md5('th_2g', 2, '{"region": "north"}'), pg_temp.sample_md5('th_2g', 1, '{"region": "north"}'),
          'gan with a condition: the same rows on one thread and two');
SET LOCAL aigc.threads = 2;

-- the next batch is made while the query uses this one's rows (generate.h),
-- so whatever the query runs meanwhile that touches models or OpenBLAS's
-- thread count joins those threads first.  Rows as on one thread: two
-- samplings called in turn batch by batch, sampling scored row by row with
-- the model store changed halfway through (the cached models are freed
-- and loaded again between two batches), rows into domains (checked while
-- the next batch is made)
CREATE TEMP TABLE th_zip AS
SELECT md5(string_agg(pg_catalog.array_to_string(a, ','), ',')) AS a,
       md5(string_agg(pg_catalog.array_to_string(g, ','), ',')) AS g, count(*) AS calls
  FROM (SELECT aigc.sample_batches(NULL::th_t, 'th_1a', 2610, 5, NULL, NULL) AS a,
               aigc.sample_batches(NULL::th_t, 'th_2g', 2610, 5, NULL, NULL) AS g) s;
SELECT is((SELECT calls FROM th_zip), 3::bigint, 'two samplings in one select list take turns, batch by batch');
SELECT is((SELECT (a, g)::text FROM th_zip),
          (pg_temp.sample_md5('th_1a', 1), pg_temp.sample_md5('th_2g', 1))::text,
          'and each gives the rows it gives alone on one thread');
SET LOCAL aigc.threads = 2;
CREATE ROLE aigc_th_other;
CREATE TEMP SEQUENCE th_rows;
CREATE FUNCTION pg_temp.store_change_at(n bigint, at bigint) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    IF n = at THEN
        PERFORM aigc_grant('th_2g', 'aigc_th_other', 'use');
    END IF;
    RETURN n;
END
$$;
CREATE TEMP TABLE th_loads AS SELECT aigc.model_cache_loads() AS n;
CREATE TEMP TABLE th_scored AS
SELECT pg_temp.store_change_at(nextval('th_rows'), 1500) AS n, aigc_score('th_1a', t) AS score, t
  FROM aigc_sample(NULL::th_t, 'th_1a', 2610, seed => 5) t;
SELECT ok(aigc.model_cache_loads() > (SELECT n FROM th_loads),
          'the store changed halfway through sampling: the model was loaded again');
SELECT is((SELECT md5(string_agg(t::text, ',' ORDER BY n)) FROM th_scored), pg_temp.sample_md5('th_1a', 1),
          'sampling scored row by row, the store changed halfway: the rows of one thread');
SELECT is((SELECT count(*) FROM th_scored WHERE score IS DISTINCT FROM aigc_score('th_1a', t)), 0::bigint,
          'and the scores made between its batches are the scores of those rows');
CREATE DOMAIN th_age AS integer CHECK (VALUE % 2 = 0);
CREATE TYPE th_dom AS (age th_age, gender text, region text, monthly_wage numeric);
CREATE FUNCTION pg_temp.domain_md5(threads int) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('aigc.threads', threads::text, true);
    RETURN (SELECT md5(string_agg(t::text, ',')) FROM aigc_sample(NULL::th_dom, 'th_1a', 2610, seed => 5) t);
END
$$;
SELECT is(pg_temp.domain_md5(2), pg_temp.domain_md5(1), 'rows into a domain on two threads: the rows of one thread');
SET LOCAL aigc.threads = 2;

-- a cancelled training on two threads leaves no thread behind (the pool is
-- joined when the run's memory goes, on error too)
CREATE FUNCTION pg_temp.backend_threads() RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM pg_ls_dir(format('/proc/%s/task', pg_backend_pid()))
$$;
CREATE FUNCTION pg_temp.cancelled_train() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM aigc_train('th_cancel', 'th_t'::regclass,
                       options => '{"epochs": 1000000, "calibrate": false, "progress_every": 0}');
    RETURN 'finished';
EXCEPTION WHEN query_canceled THEN
    RETURN 'cancelled';
END
$$;
CREATE TEMP TABLE th_before AS SELECT pg_temp.backend_threads() AS n;
SET LOCAL statement_timeout = '2s';
SELECT pg_temp.cancelled_train() AS outcome \gset
SET LOCAL statement_timeout = 0;
SELECT is(:'outcome'::text, 'cancelled', 'training on two threads is cancelled');
SELECT is(pg_temp.backend_threads(), (SELECT n FROM th_before), 'and leaves no thread behind');
-- sampling's threads stop with the call, also when a LIMIT ends it early
SELECT is((SELECT pg_temp.backend_threads() FROM aigc_sample(NULL::th_t, 'th_1a', 100000, seed => 1) LIMIT 1),
          (SELECT n + 1 FROM th_before), 'sampling at aigc.threads 2 runs on a second thread');
SELECT is(pg_temp.backend_threads(), (SELECT n FROM th_before), 'sampling on two threads stopped by a LIMIT leaves no thread behind');
-- an error between two batches, while the next one is being made: the
-- threads stop with the call, and the next call samples as before
CREATE FUNCTION pg_temp.failing_sample() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM count(*) FROM aigc_sample(NULL::th_t, 'th_1a', 100000, seed => 1) t
      WHERE 1 / (nextval('th_rows') % 1500) >= 0;
    RETURN 'finished';
EXCEPTION WHEN division_by_zero THEN
    RETURN 'failed';
END
$$;
SELECT setval('th_rows', 1);
SELECT is(pg_temp.failing_sample(), 'failed', 'a query failing between two sampled batches on two threads fails');
SELECT is(pg_temp.backend_threads() || ' ' || pg_temp.sample_md5('th_1a', 2), (SELECT n FROM th_before) || ' ' || pg_temp.sample_md5('th_1a', 1),
          'it leaves no thread behind, and the next call on two threads gives the rows of one');

-- parallel scoring by a grantee: workers load the model with the caller's privileges
CREATE ROLE aigc_th_user;
CREATE ROLE aigc_th_none;
GRANT SELECT ON contributions TO aigc_th_user, aigc_th_none;
SELECT aigc_grant('th_1a', 'aigc_th_user', 'use') \gset
CREATE FUNCTION pg_temp.plan_lines(query text) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || query;
END
$$;
\ir helpers/outcome.psql
SELECT aigc_calibrate('th_1a', 'th_t'::regclass) \gset
SET LOCAL max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE th_serial AS
SELECT count(*) AS n, sum(hashfloat8(aigc_score('th_1a', c))) AS h,
       sum(hashfloat8(aigc_score_percentile('th_1a', c))) AS hp FROM contributions c WHERE c.age > 30;
GRANT SELECT ON th_serial TO aigc_th_user;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL ROLE aigc_th_user;
CREATE TEMP TABLE th_plan AS
SELECT pg_temp.plan_lines($$SELECT count(*), sum(hashfloat8(aigc_score('th_1a', c))) FROM contributions c WHERE c.age > 30$$) AS line;
SELECT ok((SELECT bool_or(line ~ 'Gather') AND bool_or(line ~ 'Partial Aggregate')
                  AND bool_or(line ~ 'Workers Launched: [1-9]') FROM th_plan),
          'a grantee''s scoring of a big table runs in parallel workers (Gather, workers launched)');
SELECT is((SELECT (count(*), sum(hashfloat8(aigc_score('th_1a', c))))::text FROM contributions c WHERE c.age > 30),
          (SELECT (n, h)::text FROM th_serial), 'the workers'' scores equal the serial ones');
SELECT is((SELECT sum(hashfloat8(aigc_score_percentile('th_1a', c))) FROM contributions c WHERE c.age > 30),
          (SELECT hp FROM th_serial), 'percentiles in workers (stored quantiles read there) equal the serial ones');
SELECT is((SELECT count(*) FROM contributions c WHERE aigc_score('th_1a', c) > 0)::int,
          (SELECT count(*) FROM contributions)::int, 'a parallel filter on the score sees every row');
RESET ROLE;
SET LOCAL ROLE aigc_th_none;
SELECT is(pg_temp.outcome($$SELECT sum(aigc_score('th_1a', c)) FROM contributions c$$), '42501',
          'in parallel workers too, a role without privilege "use" is refused');
RESET ROLE;
SELECT ok((SELECT bool_or(line ~ 'Gather') FROM pg_temp.plan_lines($$SELECT sum(aigc_score('th_1a', c)) FROM contributions c$$) line),
          'and that refused query had a parallel plan');

SELECT * FROM finish();
ROLLBACK;
