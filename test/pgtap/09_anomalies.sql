-- Quality: a VAE trained on the clean contributions ranks 600 planted
-- anomalies (data/contributions_anomalies.sql) above the real rows, scored by
-- the insert trigger.
BEGIN;
SELECT plan(10);

\i data/contributions_anomalies.sql

SELECT is((SELECT count(*)::int FROM contributions_anomalies WHERE anomaly IS NOT NULL), 600,
          '600 planted anomalies (2.9%)');
-- a compact network: cheap to train here and to run in a trigger
SELECT is((aigc_train('anomaly_vae', 'contributions'::regclass,
                      options => '{"epochs": 30, "seed": 42, "latent_dim": 16, "encoder_dims": [64, 64],
                                   "decoder_dims": [64, 64], "progress_every": 0}')).train_rows,
          20000::bigint, 'train a VAE on the clean table');

CREATE TEMP TABLE incoming (LIKE contributions_anomalies, anomaly_score float8);
CREATE TRIGGER score_contrib BEFORE INSERT ON incoming
    FOR EACH ROW EXECUTE FUNCTION aigc_score_trigger('anomaly_vae', 'anomaly_score');
INSERT INTO incoming SELECT *, NULL FROM contributions_anomalies;
SELECT is((SELECT count(anomaly_score)::int FROM incoming), 20600, 'the trigger scored every inserted row');

-- ROC AUC by Mann-Whitney: the chance that an anomaly outscores a real row (ties count half)
CREATE FUNCTION pg_temp.auc(kind text) RETURNS numeric LANGUAGE sql AS $$
    WITH ranked AS (SELECT anomaly IS NOT NULL AS pos,
                           rank() OVER (ORDER BY anomaly_score)
                           + (count(*) OVER (PARTITION BY anomaly_score) - 1) / 2.0 AS rk
                      FROM incoming WHERE anomaly IS NULL OR kind IS NULL OR anomaly = kind)
    SELECT (sum(rk) FILTER (WHERE pos) - count(*) FILTER (WHERE pos) * (count(*) FILTER (WHERE pos) + 1) / 2.0)
           / (count(*) FILTER (WHERE pos) * count(*) FILTER (WHERE NOT pos))
      FROM ranked
$$;
SELECT ok(pg_temp.auc(NULL) >= 0.85, format('ROC AUC of the score over all anomalies: %s (>= 0.85)', round(pg_temp.auc(NULL), 4)));
SELECT ok(pg_temp.auc('underpaid') >= 0.85, format('ROC AUC for under-paid contributions: %s', round(pg_temp.auc('underpaid'), 4)));
SELECT ok(pg_temp.auc('wrong_rate') >= 0.8, format('ROC AUC for amounts inconsistent with base x rate: %s', round(pg_temp.auc('wrong_rate'), 4)));
SELECT ok(pg_temp.auc('impossible') >= 0.85, format('ROC AUC for impossible age/employer/wage combinations: %s', round(pg_temp.auc('impossible'), 4)));

-- explanations point at the planted column
SELECT ok((SELECT avg((top = 'amount')::int) > 0.5
             FROM (SELECT DISTINCT ON (i.id) e.column_name AS top
                     FROM incoming i, aigc_explain('anomaly_vae', i) e
                    WHERE i.anomaly = 'underpaid' AND e.term = 'reconstruction'
                    ORDER BY i.id, e.contribution DESC) t),
          'for most under-paid rows amount is the largest column term');

-- calibrated on the training rows, about 1% of them score above the 99th percentile
SELECT is((aigc_calibrate('anomaly_vae', 'contributions'::regclass)).rows, 20000::bigint, 'calibrate on the training table');
SELECT ok((SELECT avg((aigc_score_percentile('anomaly_vae', i) > 0.99)::int) BETWEEN 0.005 AND 0.015
             FROM incoming i WHERE anomaly IS NULL),
          'about 1% of the real rows are above the 99th percentile');

SELECT * FROM finish();
ROLLBACK;
