-- Reports people look at (docs/report.md): ML efficacy in aigc_evaluate and
-- aigc_evaluate_relations, aigc_latent_map, aigc_report.
BEGIN;
SELECT plan(35);
SET LOCAL client_min_messages = warning;

-- a few epochs over the whole demo table: enough for a model that is far from perfect
SELECT is((aigc_train('rp_vae', 'contributions'::regclass,
                      options => '{"epochs": 3, "seed": 5, "exclude": ["id", "person_id"], "progress_every": 0}')).version,
          1, 'train a VAE over contributions for a few epochs');

------------------------------------------------------------------------------
-- 1. ML efficacy, classification of a boolean target
CREATE TEMP TABLE eff AS
SELECT * FROM aigc_evaluate('rp_vae', 'contributions', n => 3000, seed => 7, max_rows => 6000,
                            target => 'paid_on_time')
 WHERE property = 'ML Efficacy';
SELECT is((SELECT string_agg(metric || '/' || column_names, ',' ORDER BY metric COLLATE "C", column_names COLLATE "C") FROM eff),
          'ROC AUC/ratio,ROC AUC/real,ROC AUC/synthetic,accuracy/ratio,accuracy/real,accuracy/synthetic,macro F1/ratio,macro F1/real,macro F1/synthetic,majority share/holdout',
          'a binary target: accuracy, macro F1 and ROC AUC for synthetic, real and their ratio, and the majority share');
SELECT ok((SELECT value > 0 AND value <= 1.5 FROM eff WHERE metric = 'accuracy' AND column_names = 'ratio'),
          'TSTR / TRTR accuracy ratio in (0, 1.5]');
SELECT ok((SELECT r.value >= m.value FROM eff r, eff m
            WHERE r.metric = 'accuracy' AND r.column_names = 'real' AND m.metric = 'majority share'),
          'TRTR accuracy at least the holdout''s majority share');
SELECT ok((SELECT abs(value - (SELECT avg(paid_on_time::int) FROM contributions)) < 0.03 FROM eff WHERE metric = 'majority share'),
          'the majority share is about the table''s share of paid_on_time');
SELECT ok((SELECT value > 0.6 FROM eff WHERE metric = 'ROC AUC' AND column_names = 'real'),
          'TRTR ROC AUC well above chance');
SELECT ok((SELECT abs(s.value / r.value - q.value) < 1e-12 FROM eff s, eff r, eff q
            WHERE s.metric = 'macro F1' AND s.column_names = 'synthetic' AND r.metric = 'macro F1'
              AND r.column_names = 'real' AND q.metric = 'macro F1' AND q.column_names = 'ratio'),
          'ratio = synthetic / real');
SELECT is((SELECT array_agg(value ORDER BY metric, column_names)
             FROM aigc_evaluate('rp_vae', 'contributions', n => 3000, seed => 7, max_rows => 6000,
                                target => 'paid_on_time')
            WHERE property = 'ML Efficacy'),
          (SELECT array_agg(value ORDER BY metric, column_names) FROM eff),
          'deterministic with the seed');

------------------------------------------------------------------------------
-- 2. regression and multi-class targets, and identical relations
CREATE TEMP TABLE small AS
SELECT age, gender, region, employer_type, part_time, monthly_wage, amount, paid_on_time
  FROM contributions WHERE id <= 3000;
SELECT ok((SELECT value > 0.8 FROM aigc_evaluate_relations('small', 'small', target => 'amount')
            WHERE metric = 'R2' AND column_names = 'real'),
          'numeric target: least squares; amount follows the wage (R2 > 0.8)');
SELECT ok((SELECT value BETWEEN 0.9 AND 1.1 FROM aigc_evaluate_relations('small', 'small', target => 'amount')
            WHERE metric = 'R2' AND column_names = 'ratio'),
          'identical relations: R2 ratio about 1');
SELECT is((SELECT string_agg(DISTINCT metric, ',') FROM aigc_evaluate_relations('small', 'small', target => 'employer_type')
            WHERE property = 'ML Efficacy'),
          'accuracy,macro F1,majority share', 'five classes: accuracy and macro F1, no ROC AUC');
SELECT throws_ok($$SELECT * FROM aigc_evaluate('rp_vae', 'contributions', n => 100, max_rows => 500, target => 'id')$$,
                 '42703', 'target column "id" is not a column of model "rp_vae"',
                 'a target the model does not have: 42703 naming both');

------------------------------------------------------------------------------
-- 3. the latent map
CREATE TEMP TABLE lm AS SELECT * FROM aigc_latent_map('rp_vae', 'contributions', 'employer_type', n => 1500, seed => 3);
SELECT is((SELECT count(*) FROM lm WHERE kind = 'row'), 1500::bigint, 'n row entries');
SELECT is((SELECT array_agg(group_value ORDER BY group_value) FROM lm WHERE kind = 'centroid'),
          (SELECT array_agg(DISTINCT employer_type ORDER BY employer_type) FROM contributions),
          'one centroid per group');
SELECT ok((SELECT sum(value) = 1500 AND bool_and(value = (SELECT count(*) FROM lm r WHERE r.kind = 'row' AND r.group_value = c.group_value))
             FROM lm c WHERE kind = 'centroid'),
          'a centroid''s value is the number of rows of its group');
SELECT ok((SELECT bool_and(abs(c.x - (SELECT avg(x) FROM lm r WHERE r.kind = 'row' AND r.group_value = c.group_value)) < 1e-9)
             FROM lm c WHERE kind = 'centroid'),
          'a centroid is the mean of its group''s points');
SELECT ok((SELECT value > 0 AND value < 'Infinity'::float8 FROM lm WHERE kind = 'separation'),
          'the separation is finite and positive');
SELECT ok((SELECT x >= y AND y >= 0 AND value <= 1 + 1e-6 AND abs(value - x - y) < 1e-9 FROM lm WHERE kind = 'explained'),
          'explained variance: the first axis at least the second, both shares within [0, 1]');
SELECT is((SELECT array_agg(x ORDER BY x) FROM aigc_latent_map('rp_vae', 'contributions', 'employer_type', n => 1500, seed => 3) WHERE kind = 'row'),
          (SELECT array_agg(x ORDER BY x) FROM lm WHERE kind = 'row'),
          'deterministic with the seed');
CREATE TEMP TABLE tiny AS SELECT age, gender FROM contributions WHERE id <= 200;
SELECT is((aigc_train('rp_gan', 'tiny'::regclass, kind => 'gan', options => '{"epochs": 1, "seed": 1, "progress_every": 0}')).version,
          1, 'train a GAN for one epoch');
SELECT throws_ok($$SELECT * FROM aigc_latent_map('rp_gan', 'tiny', 'gender')$$, '0A000',
                 'aigc_latent_map needs a VAE model; "rp_gan" is a GAN', 'a GAN: 0A000 naming the kind');
SELECT throws_ok($$SELECT * FROM aigc_latent_map('rp_vae', 'contributions', 'nope')$$, '42703',
                 'column "nope" of group_by does not exist in relation "contributions"', 'unknown group_by column: 42703');

------------------------------------------------------------------------------
-- 4. the HTML report
CREATE TEMP TABLE doc AS
SELECT aigc_report('rp_vae', 'contributions', target => 'paid_on_time', n => 1000, group_by => 'employer_type') AS html;
SELECT ok((SELECT html LIKE '<!DOCTYPE html>%' AND html LIKE '%</html>' FROM doc), 'one HTML document');
SELECT is((SELECT (length(html) - length(replace(html, '<svg', ''))) / 4 FROM doc),
          (SELECT jsonb_array_length(columns) + 4 FROM aigc.models WHERE name = 'rp_vae'),
          'one chart per column, plus heatmap, loss, efficacy and latent map');
SELECT ok((SELECT html !~* '<script|https?://|src=' FROM doc), 'no script, no external URL, nothing fetched');
SELECT ok((SELECT html LIKE '%<h2>ML efficacy: predicting paid_on_time</h2>%' AND html LIKE '%<h2>Latent map by employer_type</h2>%' FROM doc),
          'efficacy and latent map sections when asked for');
SELECT is((SELECT (length(html) - length(replace(html, '<svg', ''))) / 4
             FROM (SELECT aigc_report('rp_vae', 'contributions', n => 500) AS html) d),
          (SELECT jsonb_array_length(columns) + 2 FROM aigc.models WHERE name = 'rp_vae'),
          'without target and group_by: no efficacy chart, no latent map');
SELECT throws_ok($$SELECT aigc_report('no_such_model', 'contributions')$$, '42704', 'model "no_such_model" does not exist',
                 'unknown model: 42704');

-- text from data is escaped: a column name and values that are markup, quotes
CREATE TEMP TABLE xss AS
SELECT CASE WHEN i % 3 = 0 THEN '<script>alert(1)</script>' WHEN i % 3 = 1 THEN '"quoted" & ''single''' ELSE 'plain' END
           AS "<script>alert(1)</script>",
       (i % 7)::float8 AS "x""y'z",
       i % 2 = 0 AS flag
  FROM generate_series(1, 300) i;
SELECT is((aigc_train('rp_xss', 'xss'::regclass, options => '{"epochs": 2, "seed": 1, "progress_every": 0}')).version,
          1, 'train a VAE on a table whose names and values are markup');
CREATE TEMP TABLE xdoc AS
SELECT aigc_report('rp_xss', 'xss', target => 'flag', n => 300, group_by => '<script>alert(1)</script>') AS html;
SELECT ok((SELECT html !~* '<script' FROM xdoc), 'markup in column names and values: no <script tag at all');
SELECT ok((SELECT html LIKE '%&lt;script&gt;alert(1)&lt;/script&gt;%' FROM xdoc), 'the markup is shown escaped');
SELECT ok((SELECT html LIKE '%&quot;quoted&quot; &amp; &#39;single&#39;%' AND html LIKE '%x&quot;y&#39;z%' FROM xdoc),
          'quotes and ampersands escaped in values and column names');
SELECT is((SELECT (length(html) - length(replace(html, '<svg', ''))) / 4 FROM xdoc), 3 + 4, 'every chart drawn');
SELECT is(aigc.html_escape($$<a href="x">'&'</a>$$), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;', 'aigc.html_escape');
SELECT throws_ok($$SELECT aigc_report('rp_gan', 'tiny', group_by => 'gender')$$, '0A000',
                 'aigc_latent_map needs a VAE model; "rp_gan" is a GAN', 'a latent map of a GAN: 0A000');

SELECT * FROM finish();
ROLLBACK;
