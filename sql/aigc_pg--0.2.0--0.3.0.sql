-- aigc_pg 0.2.0 -> 0.3.0 (ALTER EXTENSION aigc_pg UPDATE).  Stored models
-- keep working: the model store's tables and their rows are not rewritten,
-- and every blob format 0.2.0 wrote stays readable.  Version 0.2.0 itself
-- installs as 0.1.0 plus the 0.1.0 -> 0.2.0 script.
\echo Use "ALTER EXTENSION aigc_pg UPDATE TO '0.3.0'" to load this file. \quit
