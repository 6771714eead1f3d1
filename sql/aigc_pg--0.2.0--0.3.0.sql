-- aigc_pg 0.2.0 -> 0.3.0 (ALTER EXTENSION aigc_pg UPDATE).  Stored models
-- keep working: the model store's tables and their rows are not rewritten,
-- and every blob format 0.2.0 wrote stays readable.  Version 0.2.0 itself
-- installs as 0.1.0 plus the 0.1.0 -> 0.2.0 script.
\echo Use "ALTER EXTENSION aigc_pg UPDATE TO '0.3.0'" to load this file. \quit

-- aigc_evaluate and aigc_evaluate_relations gain an optional holdout
-- (membership inference, docs/evaluate.md).  A new parameter changes the
-- signature, so the functions are dropped and created again; aigc_report
-- calls aigc_evaluate by name in its body only, which keeps working.
DROP FUNCTION aigc_evaluate(text, regclass, integer, bigint, integer, integer, text);
DROP FUNCTION aigc_evaluate_relations(regclass, regclass, bigint, integer, text);
-- Synthetic-data quality, privacy and detection report (docs/evaluate.md).
-- "real" is a keyword: name it quoted, "real" => ..., or pass it by position.
CREATE FUNCTION aigc_evaluate(model text, "real" regclass, n integer DEFAULT 10000,
                              seed bigint DEFAULT 0, max_rows integer DEFAULT 100000,
                              version integer DEFAULT NULL, target text DEFAULT NULL,
                              holdout regclass DEFAULT NULL)
RETURNS TABLE (property text, metric text, column_names text, value float8)
AS 'MODULE_PATHNAME', 'aigc_evaluate'
LANGUAGE C VOLATILE CALLED ON NULL INPUT;
COMMENT ON FUNCTION aigc_evaluate(text, regclass, integer, bigint, integer, integer, text, regclass) IS
    'Report (SDMetrics QualityReport scores, distance to closest record, exact copies, membership inference AUC against holdout, logistic detection AUC, ML efficacy of target) on n rows sampled from a model against a real relation';

CREATE FUNCTION aigc_evaluate_relations("real" regclass, synthetic regclass,
                                        seed bigint DEFAULT 0, max_rows integer DEFAULT 100000,
                                        target text DEFAULT NULL, holdout regclass DEFAULT NULL)
RETURNS TABLE (property text, metric text, column_names text, value float8)
AS 'MODULE_PATHNAME', 'aigc_evaluate_relations'
LANGUAGE C VOLATILE CALLED ON NULL INPUT;
COMMENT ON FUNCTION aigc_evaluate_relations(regclass, regclass, bigint, integer, text, regclass) IS
    'Report (SDMetrics QualityReport scores, distance to closest record, exact copies, membership inference AUC against holdout, logistic detection AUC, ML efficacy of target) comparing two relations with the same columns';
