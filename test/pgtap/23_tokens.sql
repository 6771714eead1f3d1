-- The transformer's tokenizer: rows of a fixed synthetic table (bimodal, log-normal, integer and
-- categorical columns, with NULLs) encoded to tokens and decoded back.
BEGIN;
SELECT plan(12);

CREATE TEMP TABLE rt AS
SELECT b AS nbins, t.* FROM unnest(ARRAY[32, 3]) AS b, aigc.token_round_trip(b) AS t;

SELECT is((SELECT count(*)::int FROM rt WHERE nbins = 32), 4, 'one row per column');

SELECT ok(max_error_ratio <= 1,
          format('%s bins, %s: every decoded value within one offset bin of the original (worst %s of a bin)',
                 nbins, column_name, round(max_error_ratio::numeric, 4)))
  FROM rt ORDER BY nbins DESC, column_name;

SELECT is((SELECT max(max_error_ratio) FROM rt WHERE kind = 'categorical'), 0::float8,
          'categories come back exactly');
SELECT ok((SELECT bool_and(nulls > 0) FROM rt WHERE column_name IN ('bimodal', 'label')),
          'NULLs of a continuous and a categorical column went through, and came back as NULLs');
SELECT ok((SELECT bool_and(clipped <= rows / 100) FROM rt),
          'offsets clipped at 4 standard deviations of their mode stay rare (at most 1%)');

SELECT * FROM finish();
ROLLBACK;
