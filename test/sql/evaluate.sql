-- The layout of the evaluation report (aigc_evaluate_relations): row order,
-- metric per column type, NULL handling.  Only values that are exact
-- arithmetic on the rows (sorting, counting) are printed; privacy distances
-- and the classifier, which go through BLAS, are shown as ranges.
SET client_min_messages = warning;
CREATE TABLE ev_real AS
SELECT i AS n,
       (ARRAY['red', 'green', 'blue', NULL])[1 + i % 4] AS colour,
       i % 3 = 0 AS flag,
       date '2024-01-01' + i % 50 AS day
  FROM generate_series(1, 400) AS i;
-- n shifted by 40 (KS 0.1), colour drawn in another order (same shares),
-- flag and day as in the real rows
CREATE TABLE ev_syn AS
SELECT i + 40 AS n,
       (ARRAY['red', 'green', 'blue', NULL])[1 + (i / 4) % 4] AS colour,
       i % 3 = 0 AS flag,
       date '2024-01-01' + i % 50 AS day
  FROM generate_series(1, 400) AS i;

SELECT property, metric, column_names,
       CASE WHEN property IN ('Column Shapes', 'Column Pair Trends', 'Overall', 'Info')
                 OR metric = 'Exact copies'
            THEN round(value::numeric, 6)::text
            ELSE (value BETWEEN 0 AND 1)::text END AS value
  FROM aigc_evaluate_relations('ev_real', 'ev_syn', seed => 1);

-- a column missing on one side
CREATE TABLE ev_other AS SELECT n, colour, flag FROM ev_real;
SELECT count(*) FROM aigc_evaluate_relations('ev_real', 'ev_other');

DROP TABLE ev_real, ev_syn, ev_other;
