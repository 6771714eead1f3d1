-- Smoke test of the SQL surface: shapes, types and messages only (no sampled
-- values, which depend on the CPU's BLAS kernels).
SET client_min_messages = warning;
CREATE TABLE people (
    id     integer GENERATED ALWAYS AS IDENTITY,
    age    integer,
    city   text,
    income numeric(10,2),
    member boolean,
    joined date
);
INSERT INTO people (age, city, income, member, joined)
SELECT 20 + (i * 7) % 45,
       (ARRAY['Oslo', 'Lima', 'Pune', NULL])[1 + i % 4],
       CASE WHEN i % 10 = 0 THEN NULL ELSE 1000 + (i * 37) % 900 + (i % 3) * 2000 END,
       i % 3 = 0,
       date '2020-01-01' + (i * 13) % 1000
  FROM generate_series(1, 600) AS i;

SELECT name, version, kind, train_rows, epochs
  FROM aigc_train('people_vae', 'people'::regclass,
                  options => '{"epochs": 2, "seed": 3, "batch_size": 100, "progress_every": 0}');

SELECT name, version, kind, source_kind, source, train_rows,
       jsonb_array_length(loss->'loss') AS epochs, weights_bytes > 0 AS has_weights
  FROM aigc.models;

SELECT c->>'name' AS name, c->>'type' AS type, c->>'encoding' AS encoding,
       (c->>'null_fraction')::float8 > 0 AS has_nulls
  FROM aigc.models, jsonb_array_elements(columns) AS c
 WHERE name = 'people_vae';

SELECT hyperparams - 'seed' AS hyperparams FROM aigc.models WHERE name = 'people_vae';

-- typed rows: a view over samples is an ordinary view of the table's row type
CREATE VIEW synthetic_people AS
SELECT * FROM aigc_sample(NULL::people, 'people_vae', 50, seed => 7);
\d synthetic_people
SELECT count(*), count(id) AS ids, count(*) FILTER (WHERE city NOT IN ('Oslo', 'Lima', 'Pune')) AS unseen_cities
  FROM synthetic_people;

-- a model trained from a query gets typed rows through aigc_create_type
SELECT train_rows FROM aigc_train('q', 'SELECT age, city AS "limit" FROM people',
                                  options => '{"epochs": 1, "seed": 1, "progress_every": 0}');
SELECT aigc_create_type('q', 'public.q_row');
\d q_row
SELECT count(*) FROM aigc_sample(NULL::q_row, 'q', 20);

-- errors
SELECT * FROM aigc_sample(NULL::people, 'missing', 1);
SELECT * FROM aigc_sample(NULL::people, 'people_vae', -5);
SELECT aigc_train('x', 'people'::regclass, options => '{"epochs": "many"}');
SELECT aigc_train('x', 'people'::regclass, options => '{"batch": 10}');

DROP VIEW synthetic_people;
DROP TABLE people;
DROP TYPE q_row;
