-- aigc_pg 0.1.0 -> 0.2.0 (ALTER EXTENSION aigc_pg UPDATE).  Stored models
-- keep working: the model store's tables and their rows are not rewritten.
\echo Use "ALTER EXTENSION aigc_pg UPDATE TO '0.2.0'" to load this file. \quit
