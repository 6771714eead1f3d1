-- Bad input, case by case: each call ends in a clear ERROR with the listed
-- SQLSTATE, or in the documented behaviour ('ok'), and none crashes the backend.
-- The table below is the reference list (docs: README "Bad input").
BEGIN;

\ir helpers/outcome.psql

SET LOCAL client_min_messages = warning;
CREATE TABLE bad_t AS SELECT age, gender, monthly_wage FROM contributions WHERE id <= 600;
CREATE TABLE bad_empty (a integer, b text);
CREATE TABLE bad_nan (x float8, y text);
INSERT INTO bad_nan SELECT CASE WHEN i = 7 THEN 'NaN'::float8 ELSE i END, 'a' FROM generate_series(1, 50) i;
CREATE TABLE bad_inf (x numeric, y text);
INSERT INTO bad_inf SELECT CASE WHEN i = 3 THEN 'Infinity'::numeric ELSE i END, 'a' FROM generate_series(1, 50) i;
CREATE TABLE bad_date_inf (d date);
INSERT INTO bad_date_inf VALUES ('2020-01-01'), ('infinity');
CREATE TABLE bad_allnull (a integer, b text, c float8);
INSERT INTO bad_allnull SELECT i, NULL, NULL FROM generate_series(1, 100) i;
CREATE TABLE bad_const (a integer, b text);
INSERT INTO bad_const SELECT 5, 'same' FROM generate_series(1, 100);
CREATE TABLE bad_manycats AS SELECT 'c' || i AS cat FROM generate_series(1, 100000) i;
SELECT format('CREATE TABLE bad_wide AS SELECT %s FROM generate_series(1, 40) i',
              string_agg(format('(i * %s) %% 17 AS c%s', k, k), ', '))
  FROM generate_series(1, 400) k \gexec
CREATE TABLE bad_json (a integer, j jsonb);
INSERT INTO bad_json VALUES (1, '{}');
CREATE SEQUENCE bad_seq;
CREATE INDEX bad_t_age ON bad_t (age);
CREATE TABLE bad_renamed AS SELECT age, gender FROM contributions WHERE id <= 300;
CREATE TABLE bad_dropped AS SELECT age, gender FROM contributions WHERE id <= 300;
CREATE TYPE bad_wrong_type AS (age text, gender text);
CREATE TYPE bad_missing_col AS (age integer, shoe_size integer);
\o /dev/null
SELECT aigc_train('bad_m', 'bad_t'::regclass, options => '{"epochs": 1, "seed": 1, "progress_every": 0}');
SELECT aigc_train('bad_renamed_m', 'bad_renamed'::regclass, options => '{"epochs": 1, "seed": 1, "progress_every": 0}');
ALTER TABLE bad_renamed RENAME COLUMN gender TO sex;
SELECT aigc_train('bad_dropped_m', 'bad_dropped'::regclass, options => '{"epochs": 1, "seed": 1, "progress_every": 0}');
DROP TABLE bad_dropped;
\o
RESET client_min_messages;

CREATE TEMP TABLE cases (id serial, what text, sql text, expected text);
INSERT INTO cases (what, sql, expected) VALUES
-- NULL arguments
('NULL model name',             $$SELECT aigc_train(NULL, 'bad_t'::regclass)$$, '22004'),
('NULL relation',               $$SELECT aigc_train('x', NULL::regclass)$$, '22004'),
('NULL query',                  $$SELECT aigc_train('x', NULL::text)$$, '22004'),
('NULL kind',                   $$SELECT aigc_train('x', 'bad_t'::regclass, kind => NULL)$$, '22004'),
('NULL options: defaults',      $$SELECT aigc_train('x_nullopt', 'bad_t'::regclass, options => NULL)$$, 'ok'),
('NULL model to sample',        $$SELECT * FROM aigc_sample(NULL::bad_t, NULL, 5)$$, '22004'),
('NULL n',                      $$SELECT * FROM aigc_sample(NULL::bad_t, 'bad_m', NULL)$$, '22004'),
('NULL model to deploy',        $$SELECT aigc_deploy(NULL, 1)$$, '22004'),
('NULL version to deploy',      $$SELECT aigc_deploy('bad_m', NULL)$$, '22004'),
('NULL model to drop',          $$SELECT aigc_drop(NULL)$$, '22004'),
('NULL grantee',                $$SELECT aigc_grant('bad_m', NULL, 'use')$$, '22004'),
('NULL type name',              $$SELECT aigc_create_type('bad_m', NULL)$$, '22004'),
-- wrong types
('relation given as a number',  $$SELECT aigc_train('x', 12345::regclass)$$, '42P01'),
('row type argument not a row', $$SELECT * FROM aigc_sample(42, 'bad_m', 5)$$, '42804'),
('n given as text',             $$SELECT * FROM aigc_sample(NULL::bad_t, 'bad_m', 'many')$$, '22P02'),
('options not JSON',            $$SELECT aigc_train('x', 'bad_t'::regclass, options => 'epochs=3')$$, '22P02'),
('options a JSON array',        $$SELECT aigc_train('x', 'bad_t'::regclass, options => '[1]')$$, '22023'),
('options a JSON scalar',       $$SELECT aigc_train('x', 'bad_t'::regclass, options => '5')$$, '22023'),
('epochs as a string',          $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"epochs": "10"}')$$, '22023'),
('epochs fractional',           $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"epochs": 2.5}')$$, '22023'),
('exclude not an array',        $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"exclude": "age"}')$$, '22023'),
('exclude with a number',       $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"exclude": [1]}')$$, '22023'),
('calibrate not boolean',       $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"calibrate": "yes"}')$$, '22023'),
('row type with a mistyped column', $$SELECT * FROM aigc_sample(NULL::bad_wrong_type, 'bad_m', 5)$$, '42804'),
('row type with an unknown column', $$SELECT * FROM aigc_sample(NULL::bad_missing_col, 'bad_m', 5)$$, '42703'),
-- absurd options
('epochs = 0',                  $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"epochs": 0}')$$, '22023'),
('epochs = 10^9',               $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"epochs": 1000000000}')$$, '22023'),
('epochs negative',             $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"epochs": -3}')$$, '22023'),
('batch_size = 0',              $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"batch_size": 0}')$$, '22023'),
('batch_size larger than the table: one batch', $$SELECT aigc_train('bad_bigbatch', 'bad_t'::regclass, options => '{"epochs": 1, "batch_size": 100000, "progress_every": 0}')$$, 'ok'),
('learning_rate = 0',           $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"learning_rate": 0}')$$, '22023'),
('learning_rate > 1',           $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"learning_rate": 5}')$$, '22023'),
('max_seconds < 0',             $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"max_seconds": -1}')$$, '22023'),
('max_seconds a string',        $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"max_seconds": "60"}')$$, '22023'),
('max_seconds over 1e9',        $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"max_seconds": 1e10}')$$, '22023'),
('aigc.threads = 0',            $$SET LOCAL aigc.threads = 0$$, '22023'),
('aigc.threads not a number',   $$SET LOCAL aigc.threads = 'many'$$, '22023'),
('weight_decay negative',       $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"weight_decay": -1}')$$, '22023'),
('latent_dim = 0',              $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"latent_dim": 0}')$$, '22023'),
('latent_dim huge',             $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"latent_dim": 1000000}')$$, '22023'),
('a hidden layer of 0 units',   $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"encoder_dims": [128, 0]}')$$, '22023'),
('nine hidden layers',          $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"decoder_dims": [8,8,8,8,8,8,8,8,8]}')$$, '22023'),
('max_modes = 0',               $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"max_modes": 0}')$$, '22023'),
('seed beyond 2^53',            $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"seed": 1e20}')$$, '22023'),
('misspelt option',             $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"epoch": 3}')$$, '22023'),
('unknown kind',                $$SELECT aigc_train('x', 'bad_t'::regclass, kind => 'diffusion')$$, '22023'),
('empty model name',            $$SELECT aigc_train('', 'bad_t'::regclass)$$, '22023'),
-- data the models cannot learn from
('empty table',                 $$SELECT aigc_train('x', 'bad_empty'::regclass)$$, '22023'),
('query returning no rows',     $$SELECT aigc_train('x', 'SELECT * FROM bad_t WHERE false')$$, '22023'),
('NaN in a float column',       $$SELECT aigc_train('x', 'bad_nan'::regclass, options => '{"epochs": 1}')$$, '22000'),
('Infinity in a numeric column', $$SELECT aigc_train('x', 'bad_inf'::regclass, options => '{"epochs": 1}')$$, '22000'),
('infinite date',               $$SELECT aigc_train('x', 'bad_date_inf'::regclass, options => '{"epochs": 1}')$$, '22000'),
('all-NULL columns: learnt as NULL', $$SELECT aigc_train('bad_allnull_m', 'bad_allnull'::regclass, options => '{"epochs": 1, "progress_every": 0}')$$, 'ok'),
('columns with one value: learnt as constant', $$SELECT aigc_train('bad_const_m', 'bad_const'::regclass, options => '{"epochs": 1, "progress_every": 0}')$$, 'ok'),
('10^5 distinct categories',    $$SELECT aigc_train('x', 'bad_manycats'::regclass, options => '{"epochs": 1}')$$, '54000'),
('a very wide table (400 columns)', $$SELECT aigc_train('bad_wide_m', 'bad_wide'::regclass, options => '{"epochs": 1, "max_modes": 2, "progress_every": 0}')$$, 'ok'),
('unsupported column type',     $$SELECT aigc_train('x', 'bad_json'::regclass)$$, '0A000'),
('every column excluded',       $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"exclude": ["age", "gender", "monthly_wage"]}')$$, '22023'),
('exclude an unknown column',   $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"exclude": ["nope"]}')$$, '42703'),
('train on a sequence',         $$SELECT aigc_train('x', 'bad_seq'::regclass)$$, '42809'),
('train on an index',           $$SELECT aigc_train('x', 'bad_t_age'::regclass)$$, '42809'),
('query with a syntax error',   $$SELECT aigc_train('x', 'SELEC age FROM bad_t')$$, '42601'),
('query that is not a SELECT',  $$SELECT aigc_train('x', 'DELETE FROM bad_t')$$, '22023'),
('query with duplicate column names', $$SELECT aigc_train('x', 'SELECT age, age FROM bad_t')$$, '42701'),
('query naming an unknown table', $$SELECT aigc_train('x', 'SELECT * FROM no_such_table')$$, '42P01'),
-- the store
('unknown model',               $$SELECT * FROM aigc_sample(NULL::bad_t, 'no_such_model', 5)$$, '42704'),
('unknown version',             $$SELECT * FROM aigc_sample(NULL::bad_t, 'bad_m', 5, version => 99)$$, '42704'),
('version 0',                   $$SELECT * FROM aigc_sample(NULL::bad_t, 'bad_m', 5, version => 0)$$, '22023'),
('n < 0',                       $$SELECT * FROM aigc_sample(NULL::bad_t, 'bad_m', -1)$$, '22023'),
('source table dropped: the model still samples', $$SELECT aigc_create_type('bad_dropped_m', 'bad_dropped_row'); SELECT * FROM aigc_sample(NULL::bad_dropped_row, 'bad_dropped_m', 5)$$, 'ok'),
('source column renamed since training', $$SELECT * FROM aigc_sample(NULL::bad_renamed, 'bad_renamed_m', 5)$$, '42703'),
('create_type over an existing type', $$SELECT aigc_create_type('bad_m', 'bad_wrong_type')$$, '42710'),
('deploy an unknown version',   $$SELECT aigc_deploy('bad_m', 42)$$, '42704'),
('roll back a model never deployed', $$SELECT aigc_rollback('bad_m')$$, '55000'),
('drop an unknown version',     $$SELECT aigc_drop('bad_m', 42)$$, '42704'),
('drop an unknown model',       $$SELECT aigc_drop('no_such_model')$$, '42704'),
('grant to an unknown role',    $$SELECT aigc_grant('bad_m', 'no_such_role', 'use')$$, '42704'),
('grant an unknown privilege',  $$SELECT aigc_grant('bad_m', 'public', 'fly')$$, '22023'),
('unknown privilege asked',     $$SELECT aigc.has_model_privilege('bad_m', 'fly')$$, '22023'),
('sgemm benchmark with batch 0', $$SELECT aigc.sgemm_gflops('bad_m', 0)$$, '22023'),
('sgemm benchmark for 0 seconds', $$SELECT aigc.sgemm_gflops('bad_m', 10, NULL, 0)$$, '22023'),
-- security: model owners, store writes (docs/security.md)
('reassign models to NULL',     $$SELECT aigc.reassign_models('postgres', NULL)$$, '22004'),
('reassign models to a dead role OID', $$SELECT aigc.reassign_models('postgres', '4000000001')$$, '42704'),
('reassign models of an unknown role', $$SELECT aigc.reassign_models('no_such_role', 'postgres')$$, '42704'),
('drop the models of NULL',     $$SELECT aigc.drop_models(NULL)$$, '22004'),
('save a calibration for a missing version', $$SELECT aigc.save_calibration('bad_m', 42, 'bad_t', 10, '{1,2}')$$, '42704'),
('save a calibration for an unknown model', $$SELECT aigc.save_calibration('no_such_model', 1, 'bad_t', 10, '{1,2}')$$, '42704'),
-- differential privacy: the accountant (docs/privacy.md)
('dp: negative noise_multiplier', $$SELECT aigc.dp_epsilon(-1, 0.01, 100, 1e-5)$$, '22023'),
('dp: NaN noise_multiplier',    $$SELECT aigc.dp_epsilon('NaN', 0.01, 100, 1e-5)$$, '22023'),
('dp: sample_rate NaN',         $$SELECT aigc.dp_epsilon(1, 'NaN', 100, 1e-5)$$, '22023'),
('dp: negative steps',          $$SELECT aigc.dp_epsilon(1, 0.01, -5, 1e-5)$$, '22023'),
('dp: delta 0',                 $$SELECT aigc.dp_epsilon(1, 0.01, 100, 0)$$, '22023'),
('dp: NULL delta',              $$SELECT aigc.dp_epsilon(1, 0.01, 100, NULL)$$, '22004'),
('dp: order Infinity',          $$SELECT aigc.dp_epsilon(1, 0.01, 100, 1e-5, '{2, Infinity}')$$, '22023'),
('dp: NULL among the orders',   $$SELECT aigc.dp_rdp(1, 0.01, 100, '{2, NULL}')$$, '22004'),
('dp: empty orders',            $$SELECT aigc.dp_rdp(1, 0.01, 100, '{}')$$, '22023'),
('dp: two-dimensional orders',  $$SELECT aigc.dp_rdp(1, 0.01, 100, '{{2, 3}}')$$, '2202E'),
('dp: negative RDP',            $$SELECT aigc.dp_rdp_to_epsilon('{2}', '{-1}', 1e-5)$$, '22023'),
('dp: NULL orders for a conversion', $$SELECT aigc.dp_rdp_to_epsilon(NULL, '{1}', 1e-5)$$, '22004'),
('dp: target epsilon Infinity', $$SELECT aigc.dp_noise_multiplier('Infinity', 1e-5, 0.01, 100)$$, '22023'),
('dp: delta above 1 for the noise search', $$SELECT aigc.dp_noise_multiplier(1, 2, 0.01, 100)$$, '22023'),
-- the transformer's tokenizer self-test
('tokenizer round trip with 1 offset bin', $$SELECT * FROM aigc.token_round_trip(1)$$, '22023');

-- sizes and limits: the network is sized before it is allocated, numbers are
-- range-checked before they are converted
INSERT INTO cases (what, sql, expected) VALUES
('encoder_dims 8 x 4096: over the memory limit before the scan', $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"encoder_dims": [4096, 4096, 4096, 4096, 4096, 4096, 4096, 4096]}')$$, '54000'),
('the same before a scan that would fail (division by zero)', $$SELECT aigc_train('x', 'SELECT i / (i - 5) AS a FROM generate_series(1, 10) i', options => '{"encoder_dims": [4096, 4096, 4096, 4096, 4096, 4096, 4096, 4096]}')$$, '54000'),
('that scan fails when the network fits', $$SELECT aigc_train('x', 'SELECT i / (i - 5) AS a FROM generate_series(1, 10) i')$$, '22012'),
('latent_dim 4096 in a 16 MB limit', $$SELECT set_config('aigc.train_memory_limit', '16MB', true); SELECT aigc_train('x', 'bad_t'::regclass, options => '{"latent_dim": 4096}')$$, '54000'),
('GAN batch_size 10^6 on one row', $$SELECT aigc_train('x', 'SELECT age, gender FROM bad_t LIMIT 1', 'gan', options => '{"batch_size": 1000000}')$$, '54000'),
('pac 1000 with a 4096-wide discriminator', $$SELECT aigc_train('x', 'bad_t'::regclass, 'gan', options => '{"pac": 1000, "batch_size": 1000, "discriminator_dims": [4096]}')$$, '54000'),
('one weight matrix over 1 GB, whatever the memory limit', $$SELECT set_config('aigc.train_memory_limit', '1TB', true); SELECT aigc_train('x', 'bad_wide'::regclass, 'gan', options => '{"pac": 1000, "batch_size": 1000, "discriminator_dims": [4096], "max_modes": 2}')$$, '54000'),
('model name of 64 bytes',      $$SELECT aigc_train(repeat('n', 64), 'bad_t'::regclass, options => '{"epochs": 1}')$$, '42622'),
('model name of 32 two-byte characters', $$SELECT aigc_train(repeat('é', 32), 'bad_t'::regclass, options => '{"epochs": 1}')$$, '42622'),
('model name of 63 bytes',      $$SELECT aigc_train(repeat('n', 63), 'bad_t'::regclass, options => '{"epochs": 1, "progress_every": 0}')$$, 'ok'),
('sample a model name too long to exist', $$SELECT * FROM aigc_sample(NULL::bad_t, repeat('n', 64), 5)$$, '42704'),
('score with a model name too long to exist', $$SELECT aigc_score(repeat('n', 64), t) FROM bad_t t LIMIT 1$$, '42704'),
('drop a model name too long to exist', $$SELECT aigc_drop(repeat('n', 64))$$, '42704'),
('epochs 1e400',                $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"epochs": 1e400}')$$, '22023'),
('batch_size -1e400',           $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"batch_size": -1e400}')$$, '22023'),
('learning_rate 1e400',         $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"learning_rate": 1e400}')$$, '22023'),
('learning_rate 1e-400 (counts as 0)', $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"learning_rate": 1e-400}')$$, '22023'),
('seed 1e400',                  $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"seed": 1e400}')$$, '22023'),
('GAN gradient_penalty 1e400',  $$SELECT aigc_train('x', 'bad_t'::regclass, 'gan', options => '{"gradient_penalty": 1e400}')$$, '22023'),
('condition min "NaN"',         $$SELECT * FROM aigc_sample(NULL::bad_t, 'bad_m', 5, conditions => '{"monthly_wage": {"min": "NaN"}}')$$, '22023'),
('condition max "Infinity"',    $$SELECT * FROM aigc_sample(NULL::bad_t, 'bad_m', 5, conditions => '{"monthly_wage": {"max": "Infinity"}}')$$, '22023'),
('condition value "-Infinity"', $$SELECT * FROM aigc_sample(NULL::bad_t, 'bad_m', 5, conditions => '{"monthly_wage": "-Infinity"}')$$, '22023'),
('condition range bound 1e400', $$SELECT * FROM aigc_sample(NULL::bad_t, 'bad_m', 5, conditions => '{"monthly_wage": [1e400, null]}')$$, '22023'),
('condition 1e400 on an integer column', $$SELECT * FROM aigc_sample(NULL::bad_t, 'bad_m', 5, conditions => '{"age": {"max": 1e400}}')$$, '22023'),
('calibration quantile NaN',    $$SELECT aigc.save_calibration('bad_m', 1, 'bad_t', 10, ARRAY[0, 'NaN']::float8[])$$, '22023'),
('calibration quantile Infinity', $$SELECT aigc.save_calibration('bad_m', 1, 'bad_t', 10, ARRAY[0, 'Infinity']::float8[])$$, '22023'),
('calibration quantile -Infinity', $$SELECT aigc.save_calibration('bad_m', 1, 'bad_t', 10, ARRAY['-Infinity', 0]::float8[])$$, '22023'),
('calibration quantiles decreasing', $$SELECT aigc.save_calibration('bad_m', 1, 'bad_t', 10, ARRAY[0, 2, 1]::float8[])$$, '22023'),
('calibration quantiles with ties', $$SELECT aigc.save_calibration('bad_m', 1, 'bad_t', 10, ARRAY[0, 1, 1, 2]::float8[])$$, 'ok');


-- Sampling: streaming and the target row type (aigc_sample, aigc.sample_batches)
CREATE TYPE bad_narrow_wage AS (monthly_wage numeric(3, 1));
CREATE TYPE bad_small_age AS (age smallint);
CREATE DOMAIN bad_negative AS integer CHECK (VALUE < 0);
CREATE TYPE bad_never_age AS (age bad_negative);
INSERT INTO cases (what, sql, expected) VALUES
('n = max bigint with LIMIT: streams', $$SELECT * FROM aigc_sample(NULL::bad_t, 'bad_m', 9223372036854775807) LIMIT 1$$, 'ok'),
('a volatile seed: not inlined, still samples', $$SELECT * FROM aigc_sample(NULL::bad_t, 'bad_m', 5, seed => (random() * 10)::bigint)$$, 'ok'),
('row type column narrower than the training range', $$SELECT * FROM aigc_sample(NULL::bad_narrow_wage, 'bad_m', 5)$$, '22003'),
('narrower integer column that holds the range', $$SELECT * FROM aigc_sample(NULL::bad_small_age, 'bad_m', 5)$$, 'ok'),
('domain no sample satisfies', $$SELECT * FROM aigc_sample(NULL::bad_never_age, 'bad_m', 1000)$$, '22023'),
('internal sample_batches with NULL n', $$SELECT aigc.sample_batches(NULL::bad_t, 'bad_m', NULL, NULL, NULL, NULL)$$, '22004'),
('internal sample_batches with a non-row type', $$SELECT aigc.sample_batches(1, 'bad_m', 5, NULL, NULL, NULL)$$, '42804');

-- extreme values, key and generated columns (helper "values")
SET LOCAL client_min_messages = warning;
CREATE TABLE bad_num_huge (x numeric);
INSERT INTO bad_num_huge VALUES (1), (repeat('9', 320)::numeric);
CREATE TABLE bad_float_huge (x float8);
INSERT INTO bad_float_huge SELECT CASE WHEN i % 2 = 0 THEN 1e160 ELSE -1.7e308 END FROM generate_series(1, 50) i;
CREATE TABLE bad_only_keys (a serial, b smallserial, c integer GENERATED ALWAYS AS (a + 1) STORED);
RESET client_min_messages;
INSERT INTO cases (what, sql, expected) VALUES
('numeric beyond double precision', $$SELECT aigc_train('x', 'bad_num_huge'::regclass, options => '{"epochs": 1}')$$, '22003'),
('numeric beyond double precision from a query', $$SELECT aigc_train('x', 'SELECT (10::numeric ^ 400) AS x')$$, '22003'),
('float8 values of 1e160 and -1.7e308: learnt', $$SELECT aigc_train('bad_float_huge_m', 'bad_float_huge'::regclass, options => '{"epochs": 1, "progress_every": 0}'); SELECT * FROM aigc_sample(NULL::bad_float_huge, 'bad_float_huge_m', 5)$$, 'ok'),
('only serial, smallserial and generated columns', $$SELECT aigc_train('x', 'bad_only_keys'::regclass)$$, '22023');

-- Citus (docs/citus.md): on a node without Citus
INSERT INTO cases (what, sql, expected) VALUES
('distribute the store without Citus', $$SELECT aigc.citus_distribute_store()$$, '0A000'),
('distributed sampling without Citus', $$SELECT * FROM aigc_sample_distributed(NULL::bad_t, 'bad_m', 5, seed => 1)$$, '55000'),
('distributed sampling, n < 0',        $$SELECT * FROM aigc_sample_distributed(NULL::bad_t, 'bad_m', -1)$$, '22023'),
('distributed sampling, NULL model',   $$SELECT * FROM aigc_sample_distributed(NULL::bad_t, NULL, 5)$$, '22004');

-- ML efficacy (aigc_evaluate target, docs/evaluate.md)
SET LOCAL client_min_messages = warning;
CREATE TABLE bad_eff_ids AS SELECT i, 'c' || i AS cat FROM generate_series(1, 200) i;
CREATE TABLE bad_eff_one AS SELECT age FROM bad_t;
RESET client_min_messages;
INSERT INTO cases (what, sql, expected) VALUES
('efficacy target that is no column',          $$SELECT * FROM aigc_evaluate('bad_m', 'bad_t', n => 100, target => 'nope')$$, '42703'),
('efficacy target the model does not have',    $$SELECT * FROM aigc_evaluate('bad_m', 'contributions', n => 100, max_rows => 600, target => 'region')$$, '42703'),
('efficacy target missing in relations',       $$SELECT * FROM aigc_evaluate_relations('bad_t', 'bad_t', target => 'nope')$$, '42703'),
('efficacy target of 200 categories',          $$SELECT * FROM aigc_evaluate_relations('bad_eff_ids', 'bad_eff_ids', target => 'cat')$$, '22023'),
('efficacy target that is the only column',    $$SELECT * FROM aigc_evaluate_relations('bad_eff_one', 'bad_eff_one', target => 'age')$$, '22023'),
('efficacy target NULL: no efficacy rows',     $$SELECT * FROM aigc_evaluate_relations('bad_t', 'bad_t', target => NULL)$$, 'ok');

-- membership inference against a holdout (aigc_evaluate holdout, docs/evaluate.md)
SET LOCAL client_min_messages = warning;
CREATE TABLE bad_hold_ok AS SELECT age, gender, monthly_wage FROM contributions WHERE id BETWEEN 601 AND 700;
CREATE TABLE bad_hold_nocol AS SELECT age, gender FROM contributions WHERE id BETWEEN 601 AND 700;
CREATE TABLE bad_hold_type AS SELECT age, gender = 'F' AS gender, monthly_wage FROM contributions WHERE id BETWEEN 601 AND 700;
CREATE TABLE bad_hold_few AS SELECT age, gender, monthly_wage FROM contributions WHERE id BETWEEN 601 AND 619;
CREATE TABLE bad_hold_empty AS SELECT age, gender, monthly_wage FROM contributions WHERE false;
CREATE TABLE bad_hold_real_few AS SELECT age, gender, monthly_wage FROM contributions WHERE id BETWEEN 701 AND 709;
RESET client_min_messages;
INSERT INTO cases (what, sql, expected) VALUES
('holdout without a model column',             $$SELECT * FROM aigc_evaluate('bad_m', 'bad_t', n => 100, holdout => 'bad_hold_nocol')$$, '42703'),
('holdout with a column of another type',      $$SELECT * FROM aigc_evaluate('bad_m', 'bad_t', n => 100, holdout => 'bad_hold_type')$$, '42804'),
('holdout of 19 rows',                         $$SELECT * FROM aigc_evaluate('bad_m', 'bad_t', n => 100, holdout => 'bad_hold_few')$$, '22023'),
('holdout without rows',                      $$SELECT * FROM aigc_evaluate('bad_m', 'bad_t', n => 100, holdout => 'bad_hold_empty')$$, '22023'),
('holdout given as a number',                  $$SELECT * FROM aigc_evaluate('bad_m', 'bad_t', n => 100, holdout => 12345::regclass)$$, '42P01'),
('holdout with 9 real rows',                   $$SELECT * FROM aigc_evaluate_relations('bad_hold_real_few', 'bad_t', holdout => 'bad_hold_ok')$$, '22023'),
('holdout of relations without a column',      $$SELECT * FROM aigc_evaluate_relations('bad_t', 'bad_t', holdout => 'bad_hold_nocol')$$, '42703'),
('holdout of 100 rows: the attack rows',       $$SELECT * FROM aigc_evaluate('bad_m', 'bad_t', n => 100, holdout => 'bad_hold_ok')$$, 'ok'),
('holdout NULL: no attack',                    $$SELECT * FROM aigc_evaluate('bad_m', 'bad_t', n => 100, holdout => NULL)$$, 'ok');

-- the latent map and the HTML report (docs/report.md)
INSERT INTO cases (what, sql, expected) VALUES
('latent map of an unknown model',           $$SELECT * FROM aigc_latent_map('no_such_model', 'bad_t', 'gender')$$, '42704'),
('latent map, unknown group_by column',      $$SELECT * FROM aigc_latent_map('bad_m', 'bad_t', 'nope')$$, '42703'),
('latent map, n = 1',                        $$SELECT * FROM aigc_latent_map('bad_m', 'bad_t', 'gender', n => 1)$$, '22023'),
('latent map, NULL relation',                $$SELECT * FROM aigc_latent_map('bad_m', NULL, 'gender')$$, '22004'),
('latent map of an empty relation',          $$CREATE TEMP TABLE bad_lm_empty AS SELECT * FROM bad_t WHERE false; SELECT * FROM aigc_latent_map('bad_m', 'bad_lm_empty', 'gender')$$, '22023'),
('latent map without group_by',              $$SELECT * FROM aigc_latent_map('bad_m', 'bad_t', NULL, n => 50)$$, 'ok'),
('report of an unknown model',               $$SELECT aigc_report('no_such_model', 'bad_t')$$, '42704'),
('report, NULL model',                       $$SELECT aigc_report(NULL, 'bad_t')$$, '22004'),
('report, efficacy target that is no column', $$SELECT aigc_report('bad_m', 'bad_t', target => 'nope', n => 100)$$, '42703');

-- the transformer kind (docs/transformer.md): its options
INSERT INTO cases (what, sql, expected) VALUES
('transformer: one epoch, then samples and scores', $$SELECT aigc_train('bad_tf_m', 'bad_t'::regclass, 'transformer', '{"epochs": 1, "progress_every": 0}'); SELECT * FROM aigc_sample(NULL::bad_t, 'bad_tf_m', 5); SELECT aigc_score('bad_tf_m', b) FROM bad_t b LIMIT 5$$, 'ok'),
('transformer n_layer = 0',          $$SELECT aigc_train('x', 'bad_t'::regclass, 'transformer', '{"n_layer": 0}')$$, '22023'),
('transformer n_layer = 65',         $$SELECT aigc_train('x', 'bad_t'::regclass, 'transformer', '{"n_layer": 65}')$$, '22023'),
('transformer d_model = 0',          $$SELECT aigc_train('x', 'bad_t'::regclass, 'transformer', '{"d_model": 0}')$$, '22023'),
('transformer d_model not a multiple of n_head', $$SELECT aigc_train('x', 'bad_t'::regclass, 'transformer', '{"d_model": 30, "n_head": 4}')$$, '22023'),
('transformer n_head as a string',   $$SELECT aigc_train('x', 'bad_t'::regclass, 'transformer', '{"n_head": "4"}')$$, '22023'),
('transformer offset_bins = 1',      $$SELECT aigc_train('x', 'bad_t'::regclass, 'transformer', '{"offset_bins": 1}')$$, '22023'),
('transformer offset_bins = 65537',  $$SELECT aigc_train('x', 'bad_t'::regclass, 'transformer', '{"offset_bins": 65537}')$$, '22023'),
('transformer temperature = 0',      $$SELECT aigc_train('x', 'bad_t'::regclass, 'transformer', '{"temperature": 0}')$$, '22023'),
('transformer temperature = 1.5',    $$SELECT aigc_train('x', 'bad_t'::regclass, 'transformer', '{"temperature": 1.5}')$$, '22023'),
('transformer temperature as a string', $$SELECT aigc_train('x', 'bad_t'::regclass, 'transformer', '{"temperature": "0.5"}')$$, '22023'),
('temperature for a VAE',            $$SELECT aigc_train('x', 'bad_t'::regclass, 'vae', '{"temperature": 0.5}')$$, '22023'),
('transformer network over the memory limit', $$SELECT aigc_train('x', 'bad_t'::regclass, 'transformer', '{"n_layer": 64, "d_model": 4096, "n_head": 1}')$$, '54000'),
('n_head for a VAE',                 $$SELECT aigc_train('x', 'bad_t'::regclass, 'vae', '{"n_head": 2}')$$, '22023'),
('latent_dim for a transformer',     $$SELECT aigc_train('x', 'bad_t'::regclass, 'transformer', '{"latent_dim": 8}')$$, '22023'),
('transformer privacy max_grad_norm = 0', $$SELECT aigc_train('x', 'bad_t'::regclass, 'transformer', '{"privacy": {"epsilon": 3, "delta": 1e-6, "max_grad_norm": 0}}')$$, '22023'),
('transformer privacy noise_multiplier bounding no epsilon', $$SELECT aigc_train('x', 'bad_t'::regclass, 'transformer', '{"privacy": {"noise_multiplier": 1e-200, "delta": 1e-6}}')$$, '22023'),
('transformer privacy without delta', $$SELECT aigc_train('x', 'bad_t'::regclass, 'transformer', '{"privacy": {"epsilon": 3}}')$$, '22023');

-- public metadata, options bounds and categories (docs/privacy.md); bad_t is
-- (age integer, gender text, monthly_wage numeric)
INSERT INTO cases (what, sql, expected) VALUES
('bounds of an unknown column',      $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"bounds": {"shoe_size": [1, 2]}}')$$, '42703'),
('bounds of an excluded column',     $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"exclude": ["age"], "bounds": {"age": [1, 2]}}')$$, '42703'),
('bounds of a categorical column',   $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"bounds": {"gender": [1, 2]}}')$$, '22023'),
('bounds with min above max',        $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"bounds": {"age": [70, 20]}}')$$, '22023'),
('bounds as strings, min above max', $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"bounds": {"age": ["70", "20"]}}')$$, '22023'),
('bounds not of the column type',    $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"bounds": {"age": ["abc", 5]}}')$$, '22P02'),
('bounds of an integer column not integers', $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"bounds": {"age": [1.5, 5]}}')$$, '22P02'),
('bounds infinite',                  $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"bounds": {"monthly_wage": ["-Infinity", 5]}}')$$, '22003'),
('bounds of three values',           $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"bounds": {"age": [1, 2, 3]}}')$$, '22023'),
('bounds with a boolean',            $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"bounds": {"age": [true, 2]}}')$$, '22023'),
('bounds not an object',             $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"bounds": [18, 70]}')$$, '22023'),
('categories of an unknown column',  $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"categories": {"shoe_size": ["a"]}}')$$, '42703'),
('categories of a numeric column',   $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"categories": {"age": ["1"]}}')$$, '22023'),
('categories: an empty list',        $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"categories": {"gender": []}}')$$, '22023'),
('categories: a null value',         $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"categories": {"gender": ["f", null]}}')$$, '22023'),
('categories not an array',          $$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"categories": {"gender": "f"}}')$$, '22023');

SELECT plan((SELECT count(*)::int FROM cases) + 3 + 8 + 14 + 4);
SELECT ok((SELECT count(*) FROM cases) >= 50, 'at least 50 distinct bad calls are listed');
SELECT is(pg_temp.outcome(sql), expected, format('%s: %s', what, expected)) FROM cases ORDER BY id;
SELECT throws_ok($$SELECT aigc_train('x', 'bad_t'::regclass, options => '{"epochs": 1e400}')$$, '22023',
                 'invalid value for training option "epochs"', 'an out-of-range number is named by its option, not echoed');
SELECT is((SELECT count(*)::int FROM aigc_sample(NULL::bad_t, 'bad_m', 3)), 3, 'the backend is alive and well after all of them');

-- Training options from the table of options (kinds refactor): numbers no
-- numeric type holds get the option's name and range, never a conversion
-- error echoing the digits; hints name the kind's options.
CREATE FUNCTION pg_temp.option_error(options text, kind text DEFAULT 'vae') RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    msg text;
    detail text;
    hint text;
BEGIN
    PERFORM aigc_train('x', 'bad_t'::regclass, kind, options::jsonb);
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL,
                            hint = PG_EXCEPTION_HINT;
    RETURN concat_ws(' | ', SQLSTATE, msg, nullif(detail, ''), nullif(hint, ''));
END
$$;
SELECT is(pg_temp.option_error('{"epochs": 1e400}'),
          '22023 | invalid value for training option "epochs" | Expected an integer from 1 to 1000000.',
          'epochs = 1e400: 22023 naming the option and its range');
SELECT is(pg_temp.option_error('{"epochs": -1e400}'),
          '22023 | invalid value for training option "epochs" | Expected an integer from 1 to 1000000.',
          'epochs = -1e400: 22023 naming the option and its range');
SELECT is(pg_temp.option_error('{"learning_rate": 1e-400}'),
          '22023 | invalid value for training option "learning_rate" | Expected a number in (0, 1].',
          'learning_rate = 1e-400 (zero to a double): the range, not 22003');
SELECT is(pg_temp.option_error('{"weight_decay": 1e400}'),
          '22023 | invalid value for training option "weight_decay" | Expected a number in [0, 1].',
          'weight_decay = 1e400: the range');
SELECT is(pg_temp.option_error('{"seed": -1e400}'),
          '22023 | invalid value for training option "seed" | Expected an integer of at most 2^53 in magnitude.',
          'seed = -1e400: the range');
SELECT is(pg_temp.option_error('{"generator_dims": [1e400]}', 'gan'),
          '22023 | invalid value for training option "generator_dims" | Expected an integer from 1 to 4096.',
          'a hidden layer of 1e400 units: the range of a layer');
SELECT is(pg_temp.option_error('{"calibrate": true}', 'gan'),
          '22023 | training option "calibrate" does not apply to kind "gan" | It is an option of kind "vae" models.',
          'calibrate is an option of VAEs only');
SELECT is(pg_temp.option_error('{"epoch": 3}', 'gan'),
          '22023 | unrecognized training option "epoch" | Valid options for kind "gan" are epochs, batch_size, seed, learning_rate, weight_decay, max_modes, max_categories, progress_every, max_seconds, exclude, bounds, categories, privacy, noise_dim, generator_dims, discriminator_dims, pac, discriminator_learning_rate, discriminator_weight_decay, discriminator_steps, gradient_penalty, gumbel_tau, log_frequency and generator_average.',
          'the hint of an unknown option lists the options of the kind');

-- Differentially private training, option privacy (docs/privacy.md); bad_t has 600 rows
SELECT is(pg_temp.option_error('{"privacy": {"epsilon": 0, "delta": 1e-6}}'),
          '22023 | invalid value for training option "privacy.epsilon" | Expected a number in (0, 1e+06].',
          'privacy: epsilon 0 is 22023 naming privacy.epsilon');
SELECT is(pg_temp.option_error('{"privacy": {"epsilon": 3, "delta": 1}}'),
          '22023 | invalid value for training option "privacy.delta" | Expected a number in (0, 1), below 1 / (rows trained on).',
          'privacy: delta 1 is 22023 naming privacy.delta');
SELECT is(pg_temp.option_error('{"privacy": {"epsilon": 3, "delta": 0.002}}'),
          '22023 | invalid value for training option "privacy.delta" | delta must be below 1 / rows: 0.002 is not below 1 / 600. | A delta of 1 / rows or more allows releasing a row outright; take one well below it.',
          'privacy: delta of at least 1 / rows is 22023, checked once the rows are read');
SELECT is(pg_temp.option_error('{"privacy": {"epsilon": 3, "delta": 1e-6, "max_grad_norm": -1}}'),
          '22023 | invalid value for training option "privacy.max_grad_norm" | Expected a number in (0, 1e+06].',
          'privacy: a negative max_grad_norm is 22023 naming privacy.max_grad_norm');
SELECT is(pg_temp.option_error('{"privacy": {"epsilon": 3, "noise_multiplier": 1, "delta": 1e-6}}'),
          '22023 | training option "privacy" needs exactly one of "epsilon" and "noise_multiplier" | Given epsilon, the noise multiplier is the smallest that spends at most it; given the noise multiplier, the epsilon spent is reported.',
          'privacy: both epsilon and noise_multiplier is 22023');
SELECT is(pg_temp.option_error('{"privacy": {"delta": 1e-6}}'),
          '22023 | training option "privacy" needs exactly one of "epsilon" and "noise_multiplier" | Given epsilon, the noise multiplier is the smallest that spends at most it; given the noise multiplier, the epsilon spent is reported.',
          'privacy: neither epsilon nor noise_multiplier is 22023');
SELECT is(pg_temp.option_error('{"privacy": {"epsilon": 3, "delta": 1e-6, "epsilom": 1}}'),
          '22023 | unrecognized training option "privacy.epsilom" | Option "privacy" has the keys epsilon, noise_multiplier, delta and max_grad_norm.',
          'privacy: an unknown key is 22023 naming it');
SELECT is(pg_temp.option_error('{"privacy": 3}'),
          '22023 | invalid value for training option "privacy" | Expected null or an object with "delta", exactly one of "epsilon" and "noise_multiplier", and optionally "max_grad_norm".',
          'privacy: not an object is 22023');
SELECT is(pg_temp.option_error('{"privacy": {"epsilon": 3, "delta": 1e-6}, "calibrate": true}'),
          '22023 | training option "calibrate" cannot be used with "privacy" | The calibration reads category shares from the training rows outside the privacy budget.',
          'privacy: the calibration, which reads the rows outside the budget, is refused');
SELECT is(pg_temp.option_error('{"privacy": {"epsilon": 1e-6, "delta": 1e-6}}'),
          '22023 | training option "privacy.epsilon" (1e-06) is out of reach | Even a noise multiplier of 1e+06 on each of the 5 column statistics spends more than their share, 10% of epsilon. | Raise epsilon, or give the columns'' bounds and categories as public metadata.',
          'privacy: an epsilon no noise multiplier reaches is 22023');
SELECT is(pg_temp.option_error('{"privacy": {"noise_multiplier": 1e-200, "delta": 1e-6}}'),
          '22023 | training option "privacy.noise_multiplier" (1e-200) is too small to bound epsilon | Raise the noise multiplier, or lower epochs or batch_size.',
          'privacy: a noise multiplier too small for any finite epsilon is 22023');
SELECT is(pg_temp.option_error('{"privacy": {"epsilon": 3, "delta": 0.002}}', 'transformer'),
          '22023 | invalid value for training option "privacy.delta" | delta must be below 1 / rows: 0.002 is not below 1 / 600. | A delta of 1 / rows or more allows releasing a row outright; take one well below it.',
          'privacy on a transformer: delta of at least 1 / rows is 22023 as for the VAE');
SELECT is(pg_temp.option_error('{"privacy": {"epsilon": 3, "delta": 1e-6}, "pac": 10, "batch_size": 500}', 'gan'),
          '22023 | training option "pac" must be 1 with "privacy" | DP-SGD clips the gradient of each row; a pac group of 10 rows would make one gradient of several rows. | Leave pac out: it defaults to 1 under privacy.',
          'privacy on a GAN: pac above 1 (a gradient of several rows) is 22023');
SELECT is(pg_temp.option_error('{"privacy": {"epsilon": 3, "delta": 1e-6}, "log_frequency": true}', 'gan'),
          '22023 | training option "log_frequency" cannot be used with "privacy" | Under privacy the real rows are Poisson-sampled with the categories they hold, so the fake rows'' conditions follow the categories'' (noisy) frequencies.',
          'privacy on a GAN: log_frequency true is 22023');

-- public metadata: the messages name the option, the column and what is wrong
SELECT is(pg_temp.option_error('{"bounds": {"age": [70, 20]}}'),
          '22023 | invalid value for training option "bounds" | The minimum of column "age" (70) is above its maximum (20).',
          'bounds: a minimum above the maximum is 22023 naming the column');
SELECT is(pg_temp.option_error('{"bounds": {"shoe_size": [1, 2]}}'),
          '42703 | column "shoe_size" named in training option "bounds" is not among the columns trained on',
          'bounds: an unknown column is 42703 naming it');
SELECT is(pg_temp.option_error('{"bounds": {"gender": [1, 2]}}'),
          '22023 | training option "bounds" does not apply to column "gender" of type text | Option "bounds" is for numbers, dates and timestamps; give a categorical column''s values in "categories".',
          'bounds: a categorical column is 22023 pointing to categories');
SELECT is(pg_temp.option_error('{"categories": {"gender": []}}'),
          '22023 | invalid value for training option "categories" | The list of column "gender" is empty. | Give at least one value, or leave the column out of the option.',
          'categories: an empty list is 22023 naming the column');

SELECT * FROM finish();
ROLLBACK;
