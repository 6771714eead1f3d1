-- Scoring smoke test: shapes, types and messages only (no score values,
-- which depend on the CPU's BLAS kernels).
SET client_min_messages = warning;
CREATE TABLE ledger (
    id     integer GENERATED ALWAYS AS IDENTITY,
    amount numeric(10,2),
    kind   text,
    paid   boolean
);
INSERT INTO ledger (amount, kind, paid)
SELECT 100 + (i * 37) % 900, (ARRAY['fee', 'tax', 'rent'])[1 + i % 3], i % 4 <> 0
  FROM generate_series(1, 300) AS i;
SELECT version FROM aigc_train('ledger_vae', 'ledger'::regclass,
                               options => '{"epochs": 2, "seed": 1, "batch_size": 100, "progress_every": 0}');

SELECT proname, provolatile, proparallel, prorettype::regtype
  FROM pg_proc WHERE proname IN ('aigc_score', 'aigc_explain', 'aigc_encode', 'aigc_score_percentile',
                                 'aigc_calibrate', 'aigc_score_trigger')
 ORDER BY proname;

SELECT count(*) AS rows, count(s) AS scored, bool_and(s >= 0) AS non_negative
  FROM (SELECT aigc_score('ledger_vae', l) AS s FROM ledger l) x;
SELECT column_name, term, observed, expected IS NOT NULL AS has_expected
  FROM aigc_explain('ledger_vae', (SELECT l FROM ledger l WHERE id = 1));
SELECT array_length(aigc_encode('ledger_vae', l), 1) AS latent_dim FROM ledger l WHERE id = 1;

SELECT aigc_score_percentile('ledger_vae', l) FROM ledger l WHERE id = 1;
SELECT model, version, relation, rows, cardinality(quantiles) AS quantiles
  FROM aigc_calibrate('ledger_vae', 'ledger'::regclass);
SELECT aigc_score_percentile('ledger_vae', l) BETWEEN 0 AND 1 AS is_fraction FROM ledger l WHERE id = 1;

ALTER TABLE ledger ADD COLUMN score float8, ADD COLUMN suspicious boolean;
CREATE TRIGGER score_ledger BEFORE INSERT OR UPDATE ON ledger
    FOR EACH ROW EXECUTE FUNCTION aigc_score_trigger('ledger_vae', 'score', 'suspicious', '1e9');
INSERT INTO ledger (amount, kind, paid) VALUES (120, 'fee', true)
RETURNING score IS NOT NULL AS scored, suspicious;

-- errors
SELECT aigc_score('ledger_vae', ROW(1, 'fee'));
CREATE TABLE wrong (amount numeric, kind text, paid text, score float8);
CREATE TRIGGER s BEFORE INSERT ON wrong
    FOR EACH ROW EXECUTE FUNCTION aigc_score_trigger('ledger_vae', 'score');
INSERT INTO wrong VALUES (1, 'fee', 'yes');
SELECT aigc_encode('no_model', l) FROM ledger l WHERE id = 1;

DROP TABLE ledger;
DROP TABLE wrong;
