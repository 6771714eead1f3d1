-- aigc.train_memory_limit: a network that does not fit is refused; a table
-- whose rows do not fit in what the network leaves is trained on a uniform
-- sample of them (with a NOTICE), never on more memory.
BEGIN;
SELECT plan(8);

-- the setting exists once the module is loaded (any aigc function loads it)
SELECT ok(NOT aigc.has_model_privilege('no_such_model'), 'load the module');
SELECT is(current_setting('aigc.train_memory_limit'), '1GB', 'the default cap is 1GB');
SELECT throws_ok($$SET aigc.train_memory_limit = '100kB'$$, '22023', NULL, 'a cap under 1MB is refused');

-- the network counts against the cap first: the default VAE needs over 2 MB even for one-value rows
SET LOCAL aigc.train_memory_limit = '1MB';
SELECT throws_like($$SELECT aigc_train('capped', 'contributions'::regclass, options => '{"epochs": 1}')$$,
                   'the network of these options is too large: an estimated % bytes, over aigc.train_memory_limit (1048576 bytes)',
                   'under a 1MB cap the default network is refused before the scan');
SET LOCAL aigc.train_memory_limit = '12MB';
SELECT is((aigc_train('capped', 'contributions'::regclass,
                      options => '{"epochs": 1, "seed": 1, "progress_every": 0}')).train_rows < 20000,
          true, 'under a 12MB cap the 20000 rows are sampled');
SELECT is((SELECT (stats->>'rows_scanned')::bigint FROM aigc.models WHERE name = 'capped'), 20000::bigint,
          'every row was scanned for the sample');
-- rows as read: 9 bytes a column; encoded: 4 a value, 8 for the permutation and 8 per categorical column
SELECT ok((SELECT (stats->>'network_bytes')::bigint
                  + (stats->>'rows_scanned')::bigint * jsonb_array_length(columns) * 9
                  + train_rows * (4 * (stats->>'data_dim')::int + 8 * 6) <= 12 * 1024 * 1024
             FROM aigc.models WHERE name = 'capped'),
          'the network, the rows read and the encoded rows fit in the cap');
RESET aigc.train_memory_limit;
SELECT is((aigc_train('uncapped', 'contributions'::regclass,
                      options => '{"epochs": 1, "seed": 1, "progress_every": 0}')).train_rows,
          20000::bigint, 'under the default cap every row is learnt');

SELECT * FROM finish();
ROLLBACK;
