-- Bad input ends in a clear ERROR with the right SQLSTATE.
BEGIN;
SELECT plan(23);

CREATE TEMP TABLE empty_t (a integer, b text);
CREATE TEMP TABLE json_t (a integer, j jsonb);
INSERT INTO json_t VALUES (1, '{}');
CREATE TEMP TABLE tiny AS SELECT age, gender FROM contributions WHERE id <= 300;
SELECT aigc_train('tiny_vae', 'tiny'::regclass, options => '{"epochs": 1, "seed": 1, "progress_every": 0}');

SELECT throws_ok($$SELECT * FROM aigc_sample(NULL::tiny, 'no_such_model', 10)$$, '42704',
                 'model "no_such_model" does not exist', 'unknown model');
SELECT throws_ok($$SELECT * FROM aigc_sample(NULL::tiny, 'tiny_vae', 10, version => 9)$$, '42704',
                 'model "tiny_vae" has no version 9', 'unknown version');
SELECT throws_ok($$SELECT aigc_train('e', 'empty_t'::regclass)$$, '22023', NULL, 'empty table');
SELECT throws_ok($$SELECT aigc_train('j', 'json_t'::regclass)$$, '0A000',
                 'column "j" has unsupported type jsonb', 'unsupported column type');
SELECT lives_ok($$SELECT aigc_train('j', 'json_t'::regclass, options => '{"epochs": 1, "exclude": ["j"], "progress_every": 0}')$$,
                'an unsupported column can be excluded');
SELECT throws_ok($$SELECT aigc_train('t', 'tiny'::regclass, options => '{"epoch": 5}')$$, '22023',
                 'unrecognized training option "epoch"', 'misspelt option');
SELECT throws_ok($$SELECT aigc_train('t', 'tiny'::regclass, options => '{"epochs": 0}')$$, '22023',
                 'invalid value for training option "epochs"', 'epochs = 0');
SELECT throws_ok($$SELECT aigc_train('t', 'tiny'::regclass, options => '{"epochs": 1000000000}')$$, '22023',
                 'invalid value for training option "epochs"', 'absurd epochs');
SELECT throws_ok($$SELECT aigc_train('t', 'tiny'::regclass, options => '{"learning_rate": "fast"}')$$, '22023',
                 'invalid value for training option "learning_rate"', 'option of the wrong JSON type');
SELECT throws_ok($$SELECT aigc_train('t', 'tiny'::regclass, options => '[1, 2]')$$, '22023',
                 'training options must be a JSON object', 'options not an object');
SELECT throws_ok($$SELECT aigc_train('t', 'tiny'::regclass, options => '{"exclude": ["nope"]}')$$, '42703',
                 'column "nope" named in option "exclude" does not exist', 'exclude names an unknown column');
SELECT throws_ok($$SELECT aigc_train('t', 'tiny'::regclass, kind => 'diffusion')$$, '22023',
                 'unknown model kind "diffusion"', 'unknown kind');
SELECT throws_ok($$SELECT aigc_train(NULL, 'tiny'::regclass)$$, '22004', NULL, 'NULL model name');
SELECT throws_ok($$SELECT aigc_train('t', 'DELETE FROM tiny')$$, '22023',
                 'training query must be a single SELECT that returns rows', 'query that is not a SELECT');
SELECT throws_ok($$SELECT * FROM aigc_sample(NULL::tiny, 'tiny_vae', -1)$$, '22023',
                 'number of rows to sample must not be negative', 'n < 0');
SELECT throws_ok($$SELECT * FROM aigc_sample(NULL::tiny, NULL, 5)$$, '22004', NULL, 'NULL model');
SELECT throws_ok($$SELECT * FROM aigc_sample(NULL::integer, 'tiny_vae', 5)$$, '42804',
                 'first argument of aigc_sample must be a row type', 'not a row type');
CREATE TYPE wrong_col AS (age integer, colour text);
SELECT throws_ok($$SELECT * FROM aigc_sample(NULL::wrong_col, 'tiny_vae', 5)$$, '42703',
                 'column "colour" of the row type is not produced by model "tiny_vae"', 'row type names a missing column');
CREATE TYPE wrong_type AS (age boolean, gender text);
SELECT throws_ok($$SELECT * FROM aigc_sample(NULL::wrong_type, 'tiny_vae', 5)$$, '42804',
                 'column "age" of the row type has type boolean, but model "tiny_vae" learnt it as integer',
                 'row type with a mistyped column');

-- training reads with the caller's privileges
CREATE ROLE aigc_test_nopriv;
SET LOCAL ROLE aigc_test_nopriv;
SELECT throws_ok($$SELECT aigc_train('p', 'contributions'::regclass, options => '{"epochs": 1}')$$, '42501',
                 NULL, 'no SELECT on the table, no training');
RESET ROLE;

-- never trust a stored blob
UPDATE aigc.model_store SET weights = overlay(weights PLACING '\xff'::bytea FROM 200 FOR 1) WHERE name = 'tiny_vae';
SELECT throws_ok($$SELECT * FROM aigc_sample(NULL::tiny, 'tiny_vae', 5)$$, 'XX001',
                 'stored model is corrupted', 'a flipped byte is caught by the checksum');
UPDATE aigc.model_store SET weights = substr(weights, 1, 100) WHERE name = 'tiny_vae';
SELECT throws_ok($$SELECT * FROM aigc_sample(NULL::tiny, 'tiny_vae', 5)$$, 'XX001',
                 'stored model is corrupted', 'a truncated blob is rejected');
UPDATE aigc.model_store SET weights = overlay(weights PLACING '\x09000000'::bytea FROM 9 FOR 4) WHERE name = 'tiny_vae';
SELECT throws_ok($$SELECT * FROM aigc_sample(NULL::tiny, 'tiny_vae', 5)$$, '0A000', NULL,
                 'a blob from a newer format version is rejected');

SELECT * FROM finish();
ROLLBACK;
