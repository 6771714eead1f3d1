-- Query cancel mid-training leaves no model and no memory context behind.
BEGIN;
SELECT plan(4);

CREATE TEMP TABLE cancel_data AS SELECT age, gender, monthly_wage FROM contributions;

-- throws_ok's WHEN OTHERS does not catch a cancel, so catch it here
CREATE FUNCTION pg_temp.train_until_cancelled() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM aigc_train('cancelled', 'cancel_data'::regclass,
                       options => '{"epochs": 100000, "seed": 1, "progress_every": 0}');
    RETURN 'not cancelled';
EXCEPTION WHEN query_canceled THEN
    RETURN SQLSTATE;
END
$$;
SET LOCAL statement_timeout = '1500ms';
SELECT is(pg_temp.train_until_cancelled(), '57014', 'a training past statement_timeout is cancelled');
SET LOCAL statement_timeout = 0;
SELECT is((SELECT count(*)::int FROM aigc.models WHERE name = 'cancelled'), 0, 'the cancelled training left no model');
SELECT is((SELECT count(*)::int FROM pg_backend_memory_contexts WHERE name LIKE 'aigc%'), 0,
          'and no aigc memory context');
SELECT lives_ok($$SELECT aigc_train('after_cancel', 'cancel_data'::regclass,
                                    options => '{"epochs": 1, "seed": 1, "progress_every": 0}')$$,
                'the session trains normally afterwards');

SELECT * FROM finish();
ROLLBACK;
