-- Model store: versions, determinism of training, transactional safety, training from a query.
BEGIN;
SELECT plan(16);

CREATE TEMP TABLE small AS SELECT * FROM contributions WHERE id <= 2000;

SELECT is((aigc_train('small_vae', 'small'::regclass, options => '{"epochs": 3, "seed": 5, "progress_every": 0}')).version,
          1, 'first training stores version 1');
SELECT is((aigc_train('small_vae', 'small'::regclass, options => '{"epochs": 3, "seed": 5, "progress_every": 0}')).version,
          2, 're-training a name adds a version');
SELECT is((SELECT count(DISTINCT md5(weights))::int FROM aigc.model_store WHERE name = 'small_vae'), 1,
          'training is deterministic for a seed: identical weights');
SELECT is((SELECT hyperparams->>'seed' FROM aigc.models WHERE name = 'small_vae' AND version = 1), '5',
          'the seed is recorded');

SAVEPOINT before_rollback;
SELECT aigc_train('small_vae', 'small'::regclass, options => '{"epochs": 1, "seed": 6, "progress_every": 0}');
ROLLBACK TO SAVEPOINT before_rollback;
SELECT is((SELECT max(version) FROM aigc.models WHERE name = 'small_vae'), 2,
          'a training rolled back leaves no model');

SELECT is((aigc_train('small_vae', 'small'::regclass, options => '{"epochs": 3, "seed": 99, "progress_every": 0}')).version,
          3, 'a third version with another seed');
SELECT isnt((SELECT md5(string_agg(t::text, ',')) FROM aigc_sample(NULL::small, 'small_vae', 50, seed => 1) t),
            (SELECT md5(string_agg(t::text, ',')) FROM aigc_sample(NULL::small, 'small_vae', 50, seed => 1, version => 1) t),
            'sampling uses the newest version unless one is named');
SELECT is((SELECT md5(string_agg(t::text, ',')) FROM aigc_sample(NULL::small, 'small_vae', 50, seed => 1, version => 1) t),
          (SELECT md5(string_agg(t::text, ',')) FROM aigc_sample(NULL::small, 'small_vae', 50, seed => 1, version => 2) t),
          'versions trained with one seed sample alike');

-- training from a query, typed rows through a created composite type
SELECT is((aigc_train('q_vae', $q$SELECT age, gender, monthly_wage AS wage, "limit" FROM (SELECT *, paid_on_time AS "limit" FROM small) s$q$,
                      options => '{"epochs": 3, "seed": 1, "progress_every": 0}')).train_rows,
          2000::bigint, 'train from a query text (quoted identifiers too)');
SELECT is((SELECT source_kind FROM aigc.models WHERE name = 'q_vae'), 'query', 'source kind recorded');
SELECT is(aigc_create_type('q_vae', 'q_row')::text, 'q_row', 'create a row type for a query model');
SELECT is((SELECT count(*)::int FROM aigc_sample(NULL::q_row, 'q_vae', 25) WHERE wage IS NOT NULL), 25,
          'typed samples from the query model');
SELECT is((SELECT pg_typeof(t."limit")::text FROM aigc_sample(NULL::q_row, 'q_vae', 1) t), 'boolean',
          'columns keep the query''s types');

-- a subset row type samples the named columns only
CREATE TYPE age_gender AS (gender text, age integer);
SELECT is((SELECT count(*)::int FROM aigc_sample(NULL::age_gender, 'small_vae', 30) WHERE age IS NOT NULL AND gender IS NOT NULL),
          30, 'a row type with a subset of the columns, in another order');

-- exclude option: excluded columns are NULL in samples
SELECT lives_ok($$SELECT aigc_train('ex_vae', 'small'::regclass, options => '{"epochs": 1, "seed": 1, "exclude": ["person_id"], "progress_every": 0}')$$,
                'exclude a column');
SELECT is((SELECT count(*)::int FROM aigc_sample(NULL::small, 'ex_vae', 10) WHERE person_id IS NULL AND age IS NOT NULL), 10,
          'excluded columns are NULL in samples');

SELECT * FROM finish();
ROLLBACK;
