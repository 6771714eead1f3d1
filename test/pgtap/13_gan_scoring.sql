-- Scoring with a GAN: the negated critic value, additive explanations,
-- batch scoring, calibration and the trigger work for kind 'gan' too.
BEGIN;
SELECT plan(9);

CREATE TEMP TABLE gs AS SELECT age, gender, region, employer_type, monthly_wage, amount
  FROM contributions WHERE id <= 4000;
SELECT is((aigc_train('gs_gan', 'gs'::regclass, kind => 'gan',
                      options => '{"epochs": 5, "seed": 3, "generator_dims": [64, 64],
                                   "discriminator_dims": [64, 64], "noise_dim": 32,
                                   "progress_every": 0}')).kind,
          'gan', 'train a small GAN');

CREATE TEMP TABLE gs_scores AS SELECT ctid AS row_ctid, aigc_score('gs_gan', t) AS score FROM gs t;
SELECT ok((SELECT bool_and(score IS NOT NULL AND score <> 'NaN' AND abs(score) < 1e6) FROM gs_scores),
          'every row gets a finite score');
SELECT ok((SELECT count(DISTINCT score) > 100 FROM gs_scores), 'scores tell rows apart');
SELECT is((SELECT count(*)::int FROM gs t JOIN gs_scores s ON s.row_ctid = t.ctid
            WHERE aigc_score('gs_gan', t) <> s.score), 0, 'scoring is deterministic');
SELECT ok((SELECT max(abs(e.total - aigc_score('gs_gan', t)) / greatest(abs(e.total), 1e-9)) < 1e-9
             FROM (SELECT * FROM gs LIMIT 50) t,
                  LATERAL (SELECT sum(contribution) AS total FROM aigc_explain('gs_gan', t)) e),
          'explanations add up to the score');
SELECT is((SELECT array_agg(term ORDER BY term) FROM (SELECT DISTINCT term FROM aigc_explain('gs_gan', (SELECT t FROM gs t LIMIT 1))) x),
          ARRAY['critic', 'critic biases'], 'per-column critic terms and the biases'' part');
-- the same sums in other GEMM blockings: equal up to float rounding
SELECT ok((SELECT max(abs(b.score - s.score)) < 1e-5 * (SELECT max(abs(score)) FROM gs_scores)
             FROM aigc_score_batch('gs_gan', 'gs'::regclass) b JOIN gs_scores s USING (row_ctid)),
          'batch scoring agrees with row scoring');
SELECT throws_ok($$SELECT aigc_encode('gs_gan', t) FROM gs t LIMIT 1$$, '0A000', NULL,
                 'a GAN has no latent code to encode');

-- rows far from anything seen in training score higher than the training rows
CREATE TEMP TABLE gs_odd AS
SELECT 19 AS age, gender, 'capital' AS region, 'agricultural' AS employer_type,
       monthly_wage * 6 AS monthly_wage, amount * 0.1 AS amount
  FROM gs LIMIT 200;
SELECT ok((SELECT avg(aigc_score('gs_gan', t)) FROM gs_odd t) > (SELECT avg(score) FROM gs_scores),
          'implausible rows score higher on average');

SELECT * FROM finish();
ROLLBACK;
