-- randhie: RAND Health Insurance Experiment, 20190 rows x 10 columns.
-- Source: statsmodels.datasets.randhie (statsmodels 0.13.5, Debian package
-- python3-statsmodels 0.13.5+dfsg-7); data in the public domain, see data/README.md.
--
-- \copy reads data/randhie.csv relative to psql's working directory:
-- run from the repository root:  psql -f data/randhie.sql
-- (drops and recreates the table).
SET client_min_messages = warning;
DROP TABLE IF EXISTS randhie;
RESET client_min_messages;
CREATE TABLE randhie (
  mdvis integer,
  lncoins double precision,
  idp boolean,
  lpi double precision,
  fmde double precision,
  physlm double precision,
  disea double precision,
  hlthg boolean,
  hlthf boolean,
  hlthp boolean
);

COMMENT ON TABLE randhie IS
    'RAND Health Insurance Experiment (statsmodels.datasets.randhie, public domain): outpatient MD visits vs insurance plan and health';
COMMENT ON COLUMN randhie.mdvis IS 'Number of outpatient visits to an MD';
COMMENT ON COLUMN randhie.lncoins IS 'ln(coinsurance + 1), 0 <= coinsurance <= 100';
COMMENT ON COLUMN randhie.idp IS 'Individual deductible plan';
COMMENT ON COLUMN randhie.lpi IS 'ln(max(1, annual participation incentive payment))';
COMMENT ON COLUMN randhie.fmde IS '0 if idp; ln(max(1, MDE / (0.01 coinsurance))) otherwise';
COMMENT ON COLUMN randhie.physlm IS 'Physical limitation (1 if the person has one)';
COMMENT ON COLUMN randhie.disea IS 'Number of chronic diseases';
COMMENT ON COLUMN randhie.hlthg IS 'Self-rated health is good';
COMMENT ON COLUMN randhie.hlthf IS 'Self-rated health is fair';
COMMENT ON COLUMN randhie.hlthp IS 'Self-rated health is poor (excellent is the omitted category)';

\copy randhie FROM 'data/randhie.csv' WITH (FORMAT csv, HEADER true)

ANALYZE randhie;
