-- aigc.train_memory_limit: a table whose rows do not fit is trained on a
-- uniform sample of them (with a NOTICE), never on more memory.
BEGIN;
SELECT plan(7);

-- the setting exists once the module is loaded (any aigc function loads it)
SELECT ok(NOT aigc.has_model_privilege('no_such_model'), 'load the module');
SELECT is(current_setting('aigc.train_memory_limit'), '1GB', 'the default cap is 1GB');
SELECT throws_ok($$SET aigc.train_memory_limit = '100kB'$$, '22023', NULL, 'a cap under 1MB is refused');

SET LOCAL aigc.train_memory_limit = '1MB';
SELECT is((aigc_train('capped', 'contributions'::regclass,
                      options => '{"epochs": 1, "seed": 1, "progress_every": 0}')).train_rows < 20000,
          true, 'under a 1MB cap the 20000 rows are sampled');
SELECT is((SELECT (stats->>'rows_scanned')::bigint FROM aigc.models WHERE name = 'capped'), 20000::bigint,
          'every row was scanned for the sample');
SELECT ok((SELECT train_rows * (4 * (stats->>'data_dim')::int + 8 * 6) <= 512 * 1024
             FROM aigc.models WHERE name = 'capped'),
          'the encoded rows fit in half the cap');
RESET aigc.train_memory_limit;
SELECT is((aigc_train('uncapped', 'contributions'::regclass,
                      options => '{"epochs": 1, "seed": 1, "progress_every": 0}')).train_rows,
          20000::bigint, 'under the default cap every row is learnt');

SELECT * FROM finish();
ROLLBACK;
