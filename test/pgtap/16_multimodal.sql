-- Continuous columns with multi-modal distributions come back multi-modal.
BEGIN;
SELECT plan(4);

-- two well separated modes (around 100 and 1000, 40/60) and a third column tied to the mode
CREATE TEMP TABLE bimodal AS
SELECT CASE WHEN i % 5 < 2 THEN 100 + 10 * sqrt(-2 * ln(u1)) * cos(2 * pi() * u2)
            ELSE 1000 + 50 * sqrt(-2 * ln(u1)) * cos(2 * pi() * u2) END AS x,
       CASE WHEN i % 5 < 2 THEN 'low' ELSE 'high' END AS label
  FROM (SELECT i, (i * 0.6180339887) - floor(i * 0.6180339887) + 1e-9 AS u1,
               (i * 0.7548776662) - floor(i * 0.7548776662) AS u2
          FROM generate_series(1, 4000) AS i) g;

SELECT is((aigc_train('bimodal_vae', 'bimodal'::regclass,
                      options => '{"epochs": 30, "seed": 3, "progress_every": 0}')).train_rows,
          4000::bigint, 'train on a two-mode column');
SELECT ok((SELECT (c->>'modes')::int >= 2 FROM aigc.models, jsonb_array_elements(columns) c
            WHERE name = 'bimodal_vae' AND c->>'name' = 'x'),
          'the mixture found at least two modes');

CREATE TEMP TABLE bimodal_synth AS SELECT * FROM aigc_sample(NULL::bimodal, 'bimodal_vae', 4000, seed => 1);
SELECT ok((SELECT avg((x BETWEEN 250 AND 750)::int) < 0.05 FROM bimodal_synth),
          'hardly any samples fall in the empty gap between the modes');
SELECT ok((SELECT abs(avg((x < 500)::int) - 0.4) < 0.05 FROM bimodal_synth),
          'each mode keeps its share of the samples');

SELECT * FROM finish();
ROLLBACK;
