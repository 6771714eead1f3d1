-- Scoring: aigc_score, aigc_explain, aigc_encode, the trigger, calibration
-- and parallel workers (the model cache: 08_model_cache.sql).
BEGIN;
SELECT plan(67);

CREATE TEMP TABLE small AS SELECT * FROM contributions WHERE id <= 2000;
SELECT is((aigc_train('sc_vae', 'small'::regclass,
                      options => '{"epochs": 10, "seed": 3, "exclude": ["id"], "progress_every": 0}')).version,
          1, 'train a small VAE to score with');

-- scores
CREATE TEMP TABLE s1 AS SELECT id, aigc_score('sc_vae', s) AS score FROM small s;
SELECT is((SELECT count(score)::int FROM s1), 2000, 'every row gets a score');
SELECT is((SELECT pg_typeof(score)::text FROM s1 LIMIT 1), 'double precision', 'scores are float8');
SELECT ok((SELECT bool_and(score >= 0 AND score < 'infinity') FROM s1), 'scores are finite and non-negative');
SELECT ok((SELECT count(DISTINCT score) > 1900 FROM s1), 'scores differ between rows');
SELECT ok((SELECT bool_and(s1.score = aigc_score('sc_vae', s)) FROM s1 JOIN small s USING (id)),
          'scoring is deterministic');
SELECT ok((SELECT bool_and(s1.score = aigc_score('sc_vae', s, 1)) FROM s1 JOIN small s USING (id)),
          'a named version scores like the newest one it is');
SELECT is(aigc_score('sc_vae', NULL::small), NULL, 'a NULL row scores NULL');

-- a row type with the model's columns in another order, plus an extra one, scores alike
CREATE TYPE shuffled AS (days_late integer, extra text, amount numeric, month date, gender text,
                         region text, age integer, employer_type text, part_time boolean,
                         monthly_wage numeric, contribution_base numeric, paid_on_time boolean,
                         person_id integer);
SELECT ok((SELECT bool_and(aigc_score('sc_vae', ROW(s.days_late, 'x', s.amount, s.month, s.gender,
                                                     s.region, s.age, s.employer_type, s.part_time,
                                                     s.monthly_wage, s.contribution_base,
                                                     s.paid_on_time, s.person_id)::shuffled) = s1.score)
             FROM small s JOIN s1 USING (id)),
          'columns are matched by name; other columns are ignored');
SELECT is((SELECT aigc_score('sc_vae', r) FROM (SELECT person_id, age, gender, region, employer_type,
                                                       part_time, monthly_wage, contribution_base,
                                                       amount, month, paid_on_time, days_late
                                                  FROM small WHERE id = 7) r),
          (SELECT score FROM s1 WHERE id = 7), 'an anonymous record scores like the table row');

-- values the model never saw
CREATE TEMP TABLE odd AS SELECT * FROM small WHERE id = 7;
UPDATE odd SET gender = 'X';
SELECT ok((SELECT aigc_score('sc_vae', o) FROM odd o) > (SELECT score FROM s1 WHERE id = 7),
          'a category never seen in training raises the score');
UPDATE odd SET gender = (SELECT gender FROM small WHERE id = 7), age = NULL;
SELECT ok((SELECT aigc_score('sc_vae', o) < 'infinity' FROM odd o)
          AND (SELECT observed IS NULL FROM aigc_explain('sc_vae', (SELECT o FROM odd o)) WHERE column_name = 'age'),
          'a NULL in a column trained without NULLs is scored');

-- batch scoring: many rows per forward pass, the same scores up to float32 rounding
SELECT is((SELECT count(*)::int FROM aigc_score_batch('sc_vae', 'small'::regclass)), 2000,
          'aigc_score_batch scores every row of a table');
SELECT ok((SELECT bool_and(abs(b.score - s1.score) <= 1e-5 * s1.score)
             FROM aigc_score_batch('sc_vae', 'small'::regclass) b
             JOIN small s ON s.ctid = b.row_ctid JOIN s1 USING (id)),
          'batch scores, joined back on ctid, equal aigc_score''s');
-- a partitioned parent: a ctid is unique only within a partition, so the key is (tableoid, ctid)
CREATE TEMP TABLE small_part (LIKE small) PARTITION BY RANGE (id);
CREATE TEMP TABLE small_part1 PARTITION OF small_part FOR VALUES FROM (MINVALUE) TO (1001);
CREATE TEMP TABLE small_part2 PARTITION OF small_part FOR VALUES FROM (1001) TO (MAXVALUE);
INSERT INTO small_part SELECT * FROM small;
SELECT ok((SELECT count(*) > 2000 FROM aigc_score_batch('sc_vae', 'small_part'::regclass) b
             JOIN small_part p ON p.ctid = b.row_ctid),
          'over two partitions a ctid alone matches rows of both');
SELECT is((SELECT format('%s rows, %s ids, scores equal: %s', count(*), count(DISTINCT p.id),
                         bool_and(abs(b.score - s1.score) <= 1e-5 * s1.score))
             FROM aigc_score_batch('sc_vae', 'small_part'::regclass) b
             JOIN small_part p ON p.tableoid = b.row_tableoid AND p.ctid = b.row_ctid
             JOIN s1 USING (id)),
          '2000 rows, 2000 ids, scores equal: t',
          'the documented join on (tableoid, ctid) returns each row of a partitioned table once');
CREATE TEMP TABLE small_parent (LIKE small);
CREATE TEMP TABLE small_child () INHERITS (small_parent);
INSERT INTO small_parent SELECT * FROM small WHERE id <= 1000;
INSERT INTO small_child SELECT * FROM small WHERE id > 1000;
SELECT is((SELECT format('%s rows, %s ids', count(*), count(DISTINCT p.id))
             FROM aigc_score_batch('sc_vae', 'small_parent'::regclass) b
             JOIN small_parent p ON p.tableoid = b.row_tableoid AND p.ctid = b.row_ctid),
          '2000 rows, 2000 ids', 'so does it over an inheritance parent and its child');
CREATE TEMP VIEW small_view AS SELECT * FROM small;
SELECT throws_ok($$SELECT * FROM aigc_score_batch('sc_vae', 'small_view'::regclass)$$, '42809',
                 'aigc_score_batch scores tables and materialized views', 'views cannot be batch-scored');

-- explain: the terms add up to the score exactly
CREATE TEMP TABLE ex AS
SELECT s.id, e.* FROM small s, aigc_explain('sc_vae', s) e WHERE s.id <= 200;
SELECT is((SELECT count(*)::int FROM ex), 200 * 13, 'one row per model column plus the KL row');
SELECT is((SELECT count(*)::int FROM ex WHERE term = 'kl' AND column_name IS NULL), 200, 'one KL row per scored row');
SELECT is((SELECT array_agg(column_name ORDER BY ordinality)
             FROM (SELECT column_name, row_number() OVER () AS ordinality FROM ex WHERE id = 1 AND term = 'reconstruction') x),
          (SELECT array_agg(c->>'name' ORDER BY ord) FROM aigc.models, jsonb_array_elements(columns) WITH ORDINALITY AS t(c, ord)
            WHERE name = 'sc_vae'),
          'reconstruction rows name the model''s columns in order');
SELECT ok((SELECT bool_and(t.total = s1.score)
             FROM (SELECT id, sum(contribution) AS total FROM ex GROUP BY id) t JOIN s1 USING (id)),
          'contributions add up to the score exactly');
SELECT ok((SELECT bool_and(contribution >= 0) FROM ex), 'every contribution is non-negative');
SELECT ok((SELECT bool_and(abs(t.total - 1) < 1e-12) FROM (SELECT id, sum(share) AS total FROM ex GROUP BY id) t),
          'shares add up to 1');
SELECT ok((SELECT bool_and(e.observed IS NOT DISTINCT FROM
                           CASE e.column_name WHEN 'age' THEN s.age::text WHEN 'gender' THEN s.gender
                                              WHEN 'amount' THEN s.amount::text WHEN 'part_time' THEN left(s.part_time::text, 1)
                                              WHEN 'month' THEN s.month::text WHEN 'days_late' THEN s.days_late::text END)
             FROM ex e JOIN small s USING (id)
            WHERE e.column_name IN ('age', 'gender', 'amount', 'part_time', 'month', 'days_late')),
          'observed values are the row''s, as text');
SELECT ok((SELECT bool_and(e.expected IN (SELECT DISTINCT region FROM small)) FROM ex e WHERE column_name = 'region'),
          'expected categories are categories of the training data');
SELECT ok((SELECT bool_and(e.expected::numeric BETWEEN (SELECT min(amount) FROM small) AND (SELECT max(amount) FROM small))
             FROM ex e WHERE column_name = 'amount'),
          'expected numbers lie in the training range');
SELECT ok((SELECT bool_and(e.expected::date IS NOT NULL) FROM ex e WHERE column_name = 'month'),
          'expected values are text of the column''s type');
SELECT ok((SELECT count(*) FILTER (WHERE observed = expected) > 150 FROM ex WHERE column_name = 'paid_on_time'),
          'the reconstruction mostly agrees with the row');
SELECT is((SELECT count(*)::int FROM aigc_explain('sc_vae', NULL::small)), 0, 'explaining a NULL row gives no rows');

-- encode: the latent mean
SELECT is((SELECT array_length(aigc_encode('sc_vae', s), 1) FROM small s WHERE id = 1),
          (SELECT (hyperparams->>'latent_dim')::int FROM aigc.models WHERE name = 'sc_vae'),
          'the embedding has latent_dim values');
SELECT is((SELECT pg_typeof(aigc_encode('sc_vae', s))::text FROM small s WHERE id = 1), 'real[]', 'embeddings are float4[]');
SELECT ok((SELECT bool_and(aigc_encode('sc_vae', s) = aigc_encode('sc_vae', s)) FROM small s WHERE id <= 100),
          'encoding is deterministic');
SELECT ok((SELECT count(DISTINCT aigc_encode('sc_vae', s)) = 100 FROM small s WHERE id <= 100),
          'rows get distinct embeddings');

-- bad input
SELECT throws_ok($$SELECT aigc_score('no_such_model', s) FROM small s LIMIT 1$$, '42704',
                 'model "no_such_model" does not exist', 'unknown model');
SELECT throws_ok($$SELECT aigc_score('sc_vae', s, 5) FROM small s LIMIT 1$$, '42704',
                 'model "sc_vae" has no version 5', 'unknown version');
SELECT throws_ok($$SELECT aigc_score('sc_vae', s, 0) FROM small s LIMIT 1$$, '22023',
                 'model version must be positive', 'version 0');
CREATE TYPE no_amount AS (person_id integer, age integer, gender text);
SELECT throws_ok($$SELECT aigc_score('sc_vae', ROW(1, 30, 'F')::no_amount)$$, '42703',
                 'model "sc_vae" needs column "region", which the row does not have', 'a model column missing from the row');
CREATE TEMP TABLE mistyped AS SELECT * FROM small WHERE id = 1;
ALTER TABLE mistyped ALTER COLUMN gender TYPE boolean USING false;
SELECT throws_ok($$SELECT aigc_score('sc_vae', m) FROM mistyped m$$, '42804',
                 'column "gender" of the row has type boolean, but model "sc_vae" learnt it as text', 'a mistyped column');
SELECT throws_ok($$SELECT aigc_encode('sc_vae', m) FROM mistyped m$$, '42804', NULL, 'aigc_encode checks types too');

-- the trigger
CREATE TEMP TABLE incoming (LIKE small, anomaly_score float8, flagged boolean, score_num numeric(8,3));
CREATE TRIGGER score_it BEFORE INSERT OR UPDATE ON incoming
    FOR EACH ROW EXECUTE FUNCTION aigc_score_trigger('sc_vae', 'anomaly_score', 'flagged', '30');
INSERT INTO incoming SELECT s.*, NULL, NULL, NULL FROM small s;
SELECT ok((SELECT bool_and(i.anomaly_score = s1.score) FROM incoming i JOIN s1 USING (id)),
          'the trigger writes each row''s score');
SELECT ok((SELECT bool_and(flagged = (anomaly_score > 30)) FROM incoming), 'the flag is score > threshold');
SELECT ok((SELECT count(*) FILTER (WHERE flagged) BETWEEN 1 AND 1999 FROM incoming), 'some rows are flagged, not all');
UPDATE incoming SET gender = 'X', anomaly_score = NULL WHERE id = 7;
SELECT ok((SELECT anomaly_score > (SELECT score FROM s1 WHERE id = 7) FROM incoming WHERE id = 7),
          'an UPDATE rescores the row');
CREATE TRIGGER score_num BEFORE INSERT ON incoming
    FOR EACH ROW EXECUTE FUNCTION aigc_score_trigger('sc_vae', 'score_num');
INSERT INTO incoming SELECT s.*, NULL, NULL, NULL FROM small s WHERE id = 8;
SELECT is((SELECT score_num FROM incoming WHERE id = 8 AND score_num IS NOT NULL),
          (SELECT round(score::numeric, 3) FROM s1 WHERE id = 8), 'a numeric score column gets its typmod');

CREATE TEMP TABLE guarded (LIKE small, anomaly_score real);
CREATE TRIGGER guard BEFORE INSERT ON guarded
    FOR EACH ROW EXECUTE FUNCTION aigc_score_trigger('sc_vae', 'anomaly_score', 'reject', '40');
SELECT lives_ok($$INSERT INTO guarded SELECT s.*, NULL FROM small s JOIN s1 USING (id) WHERE score < 39$$,
                'reject mode lets rows under the threshold in');
SELECT ok((SELECT bool_and(abs(g.anomaly_score - s1.score) < 1e-4 * s1.score) FROM guarded g JOIN s1 USING (id)),
          'reject mode still writes the score (here as real)');
SELECT throws_like($$INSERT INTO guarded SELECT s.*, NULL FROM small s JOIN s1 USING (id) WHERE score > 41$$,
                   'row rejected by model "sc_vae": anomaly score % exceeds 40', 'reject mode rejects rows over the threshold');
SELECT throws_ok($$INSERT INTO guarded SELECT s.*, NULL FROM small s JOIN s1 USING (id) WHERE score > 41$$,
                 '23514', NULL, 'the rejection is a check violation');

CREATE TEMP TABLE lacking AS SELECT person_id, age, gender, 0.0::float8 AS score FROM small WHERE false;
CREATE TRIGGER t BEFORE INSERT ON lacking FOR EACH ROW EXECUTE FUNCTION aigc_score_trigger('sc_vae', 'score');
SELECT throws_ok($$INSERT INTO lacking VALUES (1, 30, 'F', NULL)$$, '42703',
                 'model "sc_vae" needs column "region", which table "lacking" does not have',
                 'a table without a model column: ERROR naming it');
CREATE TEMP TABLE mistyped_t (LIKE mistyped, score float8);
CREATE TRIGGER t BEFORE INSERT ON mistyped_t FOR EACH ROW EXECUTE FUNCTION aigc_score_trigger('sc_vae', 'score');
SELECT throws_ok($$INSERT INTO mistyped_t SELECT *, NULL FROM mistyped$$, '42804',
                 'column "gender" of table "mistyped_t" has type boolean, but model "sc_vae" learnt it as text',
                 'a table with a mistyped column: ERROR naming it');
CREATE TEMP TABLE bad_args (LIKE small, score text, flag integer, score8 float8);
-- (re)create trigger t on bad_args with the given arguments and timing
CREATE FUNCTION pg_temp.arm(args text, timing text DEFAULT 'BEFORE') RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DROP TRIGGER IF EXISTS t ON bad_args;
    EXECUTE format('CREATE TRIGGER t %s INSERT ON bad_args FOR EACH ROW EXECUTE FUNCTION aigc_score_trigger(%s)',
                   timing, args);
END
$$;
CREATE TEMP VIEW insert_one AS SELECT 'INSERT INTO bad_args SELECT *, NULL, NULL, NULL FROM small WHERE id = 1' AS sql;
SELECT pg_temp.arm($$'sc_vae', 'nope'$$);
SELECT throws_ok((SELECT sql FROM insert_one), '42703',
                 'column "nope" named by trigger "t" does not exist in table "bad_args"', 'unknown score column');
SELECT pg_temp.arm($$'sc_vae', 'score'$$);
SELECT throws_ok((SELECT sql FROM insert_one), '42804',
                 'score column "score" of table "bad_args" has type text', 'score column of the wrong type');
SELECT pg_temp.arm($$'sc_vae', 'score8', 'flag', '1'$$);
SELECT throws_ok((SELECT sql FROM insert_one), '42804',
                 'flag column "flag" of table "bad_args" has type integer', 'flag column that is not boolean');
SELECT pg_temp.arm($$'sc_vae', 'score8', 'reject', 'high'$$);
SELECT throws_ok((SELECT sql FROM insert_one), '22023',
                 'threshold "high" of trigger "t" is not a finite number', 'threshold that is not a number');
SELECT pg_temp.arm($$'sc_vae', 'score8', 'reject'$$);
SELECT throws_ok((SELECT sql FROM insert_one), '22023',
                 'trigger "t" must pass aigc_score_trigger 2 or 4 arguments', 'a wrong number of arguments');
SELECT pg_temp.arm($$'sc_vae', 'score8'$$, 'AFTER');
SELECT throws_ok((SELECT sql FROM insert_one), '39P01',
                 'aigc_score_trigger() must be fired BEFORE INSERT OR UPDATE, FOR EACH ROW', 'an AFTER trigger');

-- calibration
SELECT throws_ok($$SELECT aigc_score_percentile('sc_vae', s) FROM small s LIMIT 1$$, '55000',
                 'model "sc_vae" version 1 has no score calibration', 'percentiles need a calibration');
SELECT is((SELECT (rows, cardinality(quantiles), version) FROM aigc_calibrate('sc_vae', 'small'::regclass)),
          (2000::bigint, 1001, 1), 'calibrate over the training rows: 1001 quantiles');
SELECT ok((SELECT bool_and(q[i] <= q[i + 1]) FROM aigc.score_calibration, generate_series(1, 1000) AS i,
                  LATERAL (SELECT quantiles) AS x(q) WHERE model = 'sc_vae'),
          'quantiles ascend');
SELECT is((SELECT quantiles[1] FROM aigc.score_calibration WHERE model = 'sc_vae'), (SELECT min(score) FROM s1),
          'the first quantile is the lowest score');
CREATE TEMP TABLE pct AS SELECT id, aigc_score_percentile('sc_vae', s) AS p FROM small s;
SELECT ok((SELECT bool_and(p BETWEEN 0 AND 1) FROM pct), 'percentiles are fractions');
SELECT ok((SELECT max(abs(pct.p - r.frac)) < 0.002
             FROM pct JOIN (SELECT id, cume_dist() OVER (ORDER BY score) AS frac FROM s1) r USING (id)),
          'a percentile is the fraction of calibration rows scoring at most as much');
SELECT is((aigc_calibrate('sc_vae', 'small'::regclass)).rows, 2000::bigint, 'calibrating again replaces the quantiles');
SELECT is((SELECT count(*)::int FROM aigc.score_calibration WHERE model = 'sc_vae'), 1, 'one calibration per version');

-- parallel workers score like the leader
CREATE FUNCTION pg_temp.plan_lines(query text) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || query;
END
$$;
SET LOCAL max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE serial_sum AS SELECT sum(hashfloat8(aigc_score('sc_vae', c))) AS h FROM contributions c;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
CREATE TEMP TABLE par_plan AS
SELECT pg_temp.plan_lines($$SELECT sum(hashfloat8(aigc_score('sc_vae', c))) FROM contributions c$$) AS line;
SELECT ok((SELECT bool_or(line ~ 'Gather') AND bool_or(line ~ 'Parallel Seq Scan on contributions')
                  AND bool_or(line ~ 'Workers Launched: [1-9]') FROM par_plan),
          'scoring a big table runs in parallel workers (Gather, workers launched)');
CREATE TEMP TABLE par_sum AS SELECT sum(hashfloat8(aigc_score('sc_vae', c))) AS h FROM contributions c;
SELECT is((SELECT h FROM par_sum), (SELECT h FROM serial_sum), 'parallel scores equal the serial ones');

SELECT * FROM finish();
ROLLBACK;
