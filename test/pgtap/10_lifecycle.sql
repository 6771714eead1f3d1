-- Model lifecycle (deploy, roll back, drop) and privileges, with three roles:
-- alice owns the model, bob is granted privileges step by step, carol gets none.
BEGIN;
SELECT plan(44);

CREATE ROLE aigc_alice;
CREATE ROLE aigc_bob;
CREATE ROLE aigc_carol;
CREATE TABLE lc_data AS SELECT age, gender, region, monthly_wage FROM contributions WHERE id <= 1500;
GRANT SELECT ON lc_data TO aigc_alice, aigc_bob, aigc_carol;

-- training: the first trainer owns the model
SET LOCAL ROLE aigc_alice;
SELECT is((aigc_train('lc', 'lc_data'::regclass, options => '{"epochs": 2, "seed": 1, "progress_every": 0}')).version,
          1, 'alice trains version 1');
SELECT is((SELECT owner::text FROM aigc.models WHERE name = 'lc' AND version = 1), 'aigc_alice', 'alice owns the model');
SELECT throws_ok($$SELECT * FROM aigc.model_store$$, '42501', NULL, 'the store tables are not readable directly');
RESET ROLE;

SET LOCAL ROLE aigc_carol;
SELECT is((SELECT count(*)::int FROM aigc.models WHERE name = 'lc'), 0, 'carol does not see the model');
SELECT throws_ok($$SELECT * FROM aigc_sample(NULL::lc_data, 'lc', 5)$$, '42501',
                 'permission denied for model "lc"', 'carol cannot sample');
SELECT throws_ok($$SELECT aigc_train('lc', 'lc_data'::regclass, options => '{"epochs": 1, "progress_every": 0}')$$,
                 '42501', 'permission denied for model "lc"', 'carol cannot add a version');
SELECT throws_ok($$SELECT aigc_grant('lc', 'aigc_carol', 'use')$$, '42501', NULL, 'carol cannot grant herself');
SELECT throws_ok($$INSERT INTO aigc.model_grants VALUES ('lc', 'aigc_carol', 'use', 'aigc_carol')$$, '42501', NULL,
                 'nor write a grant into the store');
SELECT ok(NOT aigc.has_model_privilege('lc', 'use'), 'has_model_privilege says no for carol');
RESET ROLE;
SET LOCAL ROLE aigc_alice;
SELECT ok((SELECT aigc_score('lc', t) > 0 FROM lc_data t LIMIT 1), 'alice scores: the model is cached');
RESET ROLE;
SET LOCAL ROLE aigc_carol;
SELECT throws_ok($$SELECT aigc_score('lc', t) FROM lc_data t LIMIT 1$$, '42501', NULL,
                 'a cached model is not served to carol');
RESET ROLE;

-- use
SET LOCAL ROLE aigc_alice;
SELECT lives_ok($$SELECT aigc_grant('lc', 'aigc_bob', 'use')$$, 'alice grants use to bob');
RESET ROLE;
SET LOCAL ROLE aigc_bob;
SELECT is((SELECT count(*)::int FROM aigc_sample(NULL::lc_data, 'lc', 5)), 5, 'bob samples');
SELECT is((SELECT count(*)::int FROM aigc.models WHERE name = 'lc'), 1, 'bob sees the model');
SELECT ok((SELECT aigc_score('lc', t) > 0 FROM lc_data t LIMIT 1), 'bob scores (the model is now cached in this backend)');
SELECT throws_ok($$SELECT aigc_train('lc', 'lc_data'::regclass, options => '{"epochs": 1, "progress_every": 0}')$$,
                 '42501', NULL, 'bob cannot train without privilege train');
SELECT throws_ok($$SELECT aigc_deploy('lc', 1)$$, '42501', NULL, 'bob cannot deploy without privilege deploy');
SELECT throws_ok($$SELECT aigc_drop('lc')$$, '42501', NULL, 'bob cannot drop');
RESET ROLE;

-- train
SET LOCAL ROLE aigc_alice;
SELECT lives_ok($$SELECT aigc_grant('lc', 'aigc_bob', 'train')$$, 'alice grants train to bob');
RESET ROLE;
SET LOCAL ROLE aigc_bob;
SELECT is((aigc_train('lc', 'lc_data'::regclass, options => '{"epochs": 2, "seed": 2, "progress_every": 0}')).version,
          2, 'bob trains version 2');
SELECT is((SELECT version FROM aigc.models WHERE name = 'lc' AND in_use), 2, 'the newest version is in use');
RESET ROLE;

-- deploy and roll back
SET LOCAL ROLE aigc_alice;
SELECT is(aigc_deploy('lc', 1), 1, 'alice deploys version 1');
SELECT is((SELECT version FROM aigc.models WHERE name = 'lc' AND in_use AND deployed), 1, 'version 1 is in use');
SELECT is((SELECT md5(string_agg(t::text, ',')) FROM aigc_sample(NULL::lc_data, 'lc', 20, seed => 4) t),
          (SELECT md5(string_agg(t::text, ',')) FROM aigc_sample(NULL::lc_data, 'lc', 20, seed => 4, version => 1) t),
          'sampling uses the deployed version');
SELECT is((aigc_train('lc', 'lc_data'::regclass, options => '{"epochs": 1, "seed": 3, "progress_every": 0}')).version,
          3, 'a new version does not replace a deployed one');
SELECT is((SELECT version FROM aigc.models WHERE name = 'lc' AND in_use), 1, 'version 1 stays in use');
SELECT is(aigc_rollback('lc'), 3, 'rolling back the only deployment returns to the newest version');
SELECT throws_ok($$SELECT aigc_rollback('lc')$$, '55000', 'model "lc" has no deployment to roll back',
                 'nothing left to roll back');
SELECT throws_ok($$SELECT aigc_deploy('lc', 7)$$, '42704', 'model "lc" has no version 7', 'deploy an unknown version');
SELECT lives_ok($$SELECT aigc_grant('lc', 'aigc_bob', 'deploy')$$, 'alice grants deploy to bob');
RESET ROLE;
SET LOCAL ROLE aigc_bob;
SELECT is(aigc_deploy('lc', 2), 2, 'bob deploys version 2');
SELECT is((SELECT version FROM aigc.models WHERE name = 'lc' AND in_use), 2, 'version 2 is in use');
RESET ROLE;

-- revoke, PUBLIC
SET LOCAL ROLE aigc_alice;
SELECT lives_ok($$SELECT aigc_revoke('lc', 'aigc_bob', 'all')$$, 'alice revokes everything from bob');
RESET ROLE;
SET LOCAL ROLE aigc_bob;
SELECT throws_ok($$SELECT * FROM aigc_sample(NULL::lc_data, 'lc', 5)$$, '42501', NULL, 'bob can no longer sample');
SELECT throws_ok($$SELECT aigc_score('lc', t) FROM lc_data t LIMIT 1$$, '42501', NULL, 'nor score');
RESET ROLE;
SET LOCAL ROLE aigc_alice;
SELECT lives_ok($$SELECT aigc_grant('lc', 'public', 'use')$$, 'alice grants use to PUBLIC');
RESET ROLE;
SET LOCAL ROLE aigc_carol;
SELECT is((SELECT count(*)::int FROM aigc_sample(NULL::lc_data, 'lc', 3)), 3, 'carol samples through PUBLIC');
RESET ROLE;

-- drop
SET LOCAL ROLE aigc_alice;
SELECT is(aigc_drop('lc', 2), 1::bigint, 'dropping the deployed version');
SELECT is((SELECT version FROM aigc.models WHERE name = 'lc' AND in_use), 3, 'the newest version is in use again');
SELECT is(aigc_drop('lc'), 2::bigint, 'dropping the model drops its remaining versions');
RESET ROLE;

-- training needs SELECT on every source column, and learns only the rows the caller can see
CREATE TABLE lc_secret (a integer, b integer);
INSERT INTO lc_secret SELECT i % 50, i % 7 FROM generate_series(1, 500) i;
GRANT SELECT (a) ON lc_secret TO aigc_alice;
CREATE TABLE lc_rls AS SELECT age, region FROM contributions WHERE id <= 2000;
ALTER TABLE lc_rls ENABLE ROW LEVEL SECURITY;
CREATE POLICY north_only ON lc_rls FOR SELECT TO aigc_alice USING (region = 'north');
GRANT SELECT ON lc_rls TO aigc_alice;
SET LOCAL ROLE aigc_alice;
SELECT throws_ok($$SELECT aigc_train('lc_secret', 'lc_secret'::regclass, options => '{"epochs": 1, "progress_every": 0}')$$,
                 '42501', NULL, 'no SELECT on column b: no training on the table');
SELECT is((aigc_train('lc_secret', 'SELECT a FROM lc_secret', options => '{"epochs": 1, "progress_every": 0}')).train_rows,
          500::bigint, 'the permitted column can be trained on');
SELECT is((aigc_train('lc_rls', 'lc_rls'::regclass, options => '{"epochs": 1, "progress_every": 0}')).train_rows,
          (SELECT count(*) FROM lc_rls WHERE region = 'north'), 'row-level security: only visible rows are learnt');
SELECT is((SELECT array_agg(DISTINCT region) FROM aigc_sample(NULL::lc_rls, 'lc_rls', 200)), ARRAY['north'],
          'and only their categories come back');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
