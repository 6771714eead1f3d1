-- contributions_anomalies: contributions plus 600 planted anomalies (2.9%).
--
-- Deterministic (no random()): every anomaly is a copy of a real row chosen
-- by its id, changed in one of three ways, 200 rows each:
--   underpaid    amount is 30% of contribution_base x rate
--   wrong_rate   amount is 1.7 times contribution_base x rate
--   impossible   a 19-year-old agricultural worker in the capital, part-time,
--                earning 12000 (base clipped to 6000, amount at the 0.12 rate)
-- The real rows keep anomaly = NULL.  Load after data/contributions.sql:
--   psql -f data/contributions_anomalies.sql   (drops and recreates the table)

SET client_min_messages = warning;

DROP TABLE IF EXISTS contributions_anomalies;
CREATE TABLE contributions_anomalies (LIKE contributions INCLUDING DEFAULTS);
ALTER TABLE contributions_anomalies ADD COLUMN anomaly text;
COMMENT ON TABLE contributions_anomalies IS
    'contributions plus 600 planted anomalies (column anomaly: underpaid, wrong_rate or impossible; NULL for real rows)';

INSERT INTO contributions_anomalies SELECT c.*, NULL FROM contributions c;

INSERT INTO contributions_anomalies
SELECT 1000000 + c.id, c.person_id, c.age, c.gender, c.region, c.employer_type, c.part_time,
       c.monthly_wage, c.contribution_base,
       round(c.contribution_base * r.rate * CASE WHEN c.id % 100 = 7 THEN 0.3 ELSE 1.7 END, 2),
       c.month, c.paid_on_time, c.days_late,
       CASE WHEN c.id % 100 = 7 THEN 'underpaid' ELSE 'wrong_rate' END
  FROM contributions c
 CROSS JOIN LATERAL (SELECT CASE c.employer_type WHEN 'self_employed' THEN 0.15
                                                 WHEN 'agricultural' THEN 0.12
                                                 ELSE 0.20 END AS rate) r
 WHERE c.id % 100 IN (7, 37);

INSERT INTO contributions_anomalies
SELECT 1000000 + c.id, c.person_id, 19, c.gender, 'capital', 'agricultural', true,
       12000, 6000, 720, c.month, c.paid_on_time, c.days_late, 'impossible'
  FROM contributions c
 WHERE c.id % 100 = 67;

RESET client_min_messages;
ANALYZE contributions_anomalies;
