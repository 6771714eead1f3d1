-- aigc_pg 0.1.0: generative models for tables, trained and sampled in SQL.
\echo Use "CREATE EXTENSION aigc_pg" to load this file. \quit

CREATE SCHEMA aigc;
COMMENT ON SCHEMA aigc IS 'aigc_pg model store and helper functions';

-- The model store: one row per trained model version.
CREATE TABLE aigc.model_store (
    name          text        NOT NULL CHECK (name <> ''),
    version       integer     NOT NULL CHECK (version > 0),
    kind          text        NOT NULL CHECK (kind IN ('vae', 'gan')),
    source_kind   text        NOT NULL CHECK (source_kind IN ('relation', 'query')),
    source        text        NOT NULL,
    columns       jsonb       NOT NULL,
    hyperparams   jsonb       NOT NULL,
    loss          jsonb       NOT NULL,
    train_rows    bigint      NOT NULL,
    train_seconds float8      NOT NULL,
    stats         jsonb       NOT NULL,
    weights       bytea       NOT NULL,
    created_by    name        NOT NULL DEFAULT current_user,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version)
);
COMMENT ON TABLE aigc.model_store IS
    'Trained models: column spec, hyperparameters, per-epoch loss and weights (versioned, checksummed format)';

-- What users look at: the store without the weights themselves.
CREATE VIEW aigc.models AS
SELECT name, version, kind, source_kind, source, columns, hyperparams, loss,
       train_rows, train_seconds, stats, octet_length(weights) AS weights_bytes,
       created_by, created_at
  FROM aigc.model_store;
COMMENT ON VIEW aigc.models IS 'One row per model version (weights omitted; see aigc.model_store)';

CREATE TYPE aigc.train_result AS (
    name          text,
    version       integer,
    kind          text,
    train_rows    bigint,
    epochs        integer,
    final_loss    float8,
    train_seconds float8
);

CREATE FUNCTION aigc_train(name text, relation regclass, kind text DEFAULT 'vae',
                           options jsonb DEFAULT '{}')
RETURNS aigc.train_result
AS 'MODULE_PATHNAME', 'aigc_train_relation'
LANGUAGE C VOLATILE CALLED ON NULL INPUT;
COMMENT ON FUNCTION aigc_train(text, regclass, text, jsonb) IS
    'Train a generative model over a table scan and store it as a new version of name';

CREATE FUNCTION aigc_train(name text, query text, kind text DEFAULT 'vae',
                           options jsonb DEFAULT '{}')
RETURNS aigc.train_result
AS 'MODULE_PATHNAME', 'aigc_train_query'
LANGUAGE C VOLATILE CALLED ON NULL INPUT;
COMMENT ON FUNCTION aigc_train(text, text, text, jsonb) IS
    'Train a generative model over the rows of a query and store it as a new version of name';

CREATE FUNCTION aigc_sample(rowtype anyelement, model text, n bigint,
                            seed bigint DEFAULT NULL, version integer DEFAULT NULL)
RETURNS SETOF anyelement
AS 'MODULE_PATHNAME', 'aigc_sample'
LANGUAGE C VOLATILE CALLED ON NULL INPUT;
COMMENT ON FUNCTION aigc_sample(anyelement, text, bigint, bigint, integer) IS
    'Sample n synthetic rows typed as rowtype (a composite whose columns match the model''s by name)';

CREATE FUNCTION aigc.gradient_check()
RETURNS TABLE (component text, parameter text, max_rel_error float8, checked integer)
AS 'MODULE_PATHNAME', 'aigc_gradient_check'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION aigc.gradient_check() IS
    'Self-test: every layer''s and loss''s backward pass against central finite differences';

CREATE FUNCTION aigc.sgemm_gflops(model text, batch_size integer DEFAULT 500,
                                  version integer DEFAULT NULL, seconds float8 DEFAULT 2.0)
RETURNS float8
AS 'MODULE_PATHNAME', 'aigc_sgemm_gflops'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION aigc.sgemm_gflops(text, integer, integer, float8) IS
    'OpenBLAS sgemm GFLOP/s on the exact matrix shapes one training step of the model runs';

-- Create a composite type with a model's columns, for typed samples of a
-- model trained from a query: SELECT * FROM aigc_sample(NULL::type_name, ...)
CREATE FUNCTION aigc_create_type(model text, type_name text, version integer DEFAULT NULL)
RETURNS regtype
LANGUAGE plpgsql VOLATILE
-- no SET search_path: an unqualified type_name must land in the caller's
-- current schema; everything this body names is qualified instead
AS $$
DECLARE
    spec jsonb;
    cols text;
    qualified text;
BEGIN
    IF model IS NULL OR type_name IS NULL THEN
        RAISE EXCEPTION 'model and type_name must not be NULL'
              USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT m.columns INTO spec
      FROM aigc.model_store m
     WHERE m.name = model AND (aigc_create_type.version IS NULL OR m.version = aigc_create_type.version)
     ORDER BY m.version DESC LIMIT 1;
    IF spec IS NULL THEN
        RAISE EXCEPTION 'model "%" does not exist', model
              USING ERRCODE = 'undefined_object';
    END IF;
    SELECT pg_catalog.string_agg(pg_catalog.format('%I %s', c->>'name', c->>'type'), ', ' ORDER BY ord)
      INTO cols
      FROM pg_catalog.jsonb_array_elements(spec) WITH ORDINALITY AS t(c, ord);
    -- quote each part of a possibly schema-qualified name
    SELECT pg_catalog.string_agg(pg_catalog.quote_ident(p), '.') INTO qualified
      FROM pg_catalog.unnest(pg_catalog.parse_ident(type_name)) AS p;
    EXECUTE pg_catalog.format('CREATE TYPE %s AS (%s)', qualified, cols);
    RETURN qualified::regtype;
END
$$;
COMMENT ON FUNCTION aigc_create_type(text, text, integer) IS
    'Create a composite type (name may be schema-qualified) with the columns a model produces';

-- Scoring (docs/scoring.md): anomaly scores, explanations and latent
-- embeddings of rows of any composite type whose columns cover a model's.

CREATE FUNCTION aigc_score(model text, "row" record, version integer DEFAULT NULL)
RETURNS float8
AS 'MODULE_PATHNAME', 'aigc_score'
-- a forward pass costs thousands of operators: worth parallel workers
LANGUAGE C STABLE PARALLEL SAFE CALLED ON NULL INPUT COST 1000;
COMMENT ON FUNCTION aigc_score(text, record, integer) IS
    'Anomaly score of a row (higher is more anomalous): for a VAE its negative ELBO at the posterior mean, without the model''s constant terms';

CREATE FUNCTION aigc_explain(model text, "row" record, version integer DEFAULT NULL)
RETURNS TABLE (column_name text, contribution float8, share float8,
               observed text, expected text, term text)
AS 'MODULE_PATHNAME', 'aigc_explain'
LANGUAGE C STABLE PARALLEL SAFE CALLED ON NULL INPUT COST 1000 ROWS 20;
COMMENT ON FUNCTION aigc_explain(text, record, integer) IS
    'Per-column terms of a row''s score (they add up to aigc_score), with the observed and the model''s expected value; a last row holds the latent KL term';

CREATE FUNCTION aigc_encode(model text, "row" record, version integer DEFAULT NULL)
RETURNS float4[]
AS 'MODULE_PATHNAME', 'aigc_encode'
LANGUAGE C STABLE PARALLEL SAFE CALLED ON NULL INPUT COST 1000;
COMMENT ON FUNCTION aigc_encode(text, record, integer) IS
    'Latent embedding of a row: the posterior mean of a VAE model';

CREATE FUNCTION aigc_score_trigger()
RETURNS trigger
AS 'MODULE_PATHNAME', 'aigc_score_trigger'
LANGUAGE C;
COMMENT ON FUNCTION aigc_score_trigger() IS
    'BEFORE INSERT OR UPDATE row trigger; arguments (model, score_column [, flag_column or ''reject'', threshold]): writes each row''s score, flags or rejects rows above the threshold';

-- Score distribution of a model version over a reference relation, so that a
-- score can be read as a percentile.
CREATE TABLE aigc.score_calibration (
    model         text        NOT NULL,
    version       integer     NOT NULL,
    relation      text        NOT NULL,
    rows          bigint      NOT NULL CHECK (rows > 0),
    quantiles     float8[]    NOT NULL
                  CHECK (cardinality(quantiles) >= 2 AND array_position(quantiles, NULL) IS NULL),
    calibrated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model, version),
    FOREIGN KEY (model, version) REFERENCES aigc.model_store (name, version) ON DELETE CASCADE
);
COMMENT ON TABLE aigc.score_calibration IS
    'Score quantiles (at probabilities 0, 0.001, ..., 1) of a model version over a reference relation, for aigc_score_percentile';

CREATE FUNCTION aigc_calibrate(model text, relation regclass, version integer DEFAULT NULL)
RETURNS aigc.score_calibration
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v integer;
    n bigint;
    q float8[];
    result aigc.score_calibration;
BEGIN
    IF model IS NULL OR relation IS NULL THEN
        RAISE EXCEPTION 'model and relation must not be NULL'
              USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT max(m.version) INTO v
      FROM aigc.model_store m
     WHERE m.name = model AND (aigc_calibrate.version IS NULL OR m.version = aigc_calibrate.version);
    IF v IS NULL THEN
        RAISE EXCEPTION 'model "%" does not exist', model
              USING ERRCODE = 'undefined_object';
    END IF;
    EXECUTE format('SELECT count(s), percentile_cont($3) WITHIN GROUP (ORDER BY s) '
                   '  FROM (SELECT @extschema@.aigc_score($1, t, $2) AS s FROM %s t) x', relation)
       INTO n, q
      USING model, v, ARRAY(SELECT i / 1000.0 FROM generate_series(0, 1000) AS i)::float8[];
    IF n = 0 THEN
        RAISE EXCEPTION 'cannot calibrate model "%": % has no rows', model, relation
              USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO aigc.score_calibration AS c (model, version, relation, rows, quantiles)
    VALUES (model, v, relation::text, n, q)
    ON CONFLICT ON CONSTRAINT score_calibration_pkey
    DO UPDATE SET relation = excluded.relation, rows = excluded.rows,
                  quantiles = excluded.quantiles, calibrated_at = now()
    RETURNING c.* INTO result;
    RETURN result;
END
$$;
COMMENT ON FUNCTION aigc_calibrate(text, regclass, integer) IS
    'Score every row of relation with a model version (newest by default) and store the score quantiles in aigc.score_calibration';

CREATE FUNCTION aigc_score_percentile(model text, "row" record, version integer DEFAULT NULL)
RETURNS float8
AS 'MODULE_PATHNAME', 'aigc_score_percentile'
LANGUAGE C STABLE PARALLEL SAFE CALLED ON NULL INPUT COST 1000;
COMMENT ON FUNCTION aigc_score_percentile(text, record, integer) IS
    'Fraction (0..1) of the calibration rows of the model version scoring at most this row''s score; ERROR if not calibrated';

-- Cached models in every backend are dropped when the store or the
-- calibrations change.
CREATE FUNCTION aigc.invalidate_model_cache()
RETURNS trigger
AS 'MODULE_PATHNAME', 'aigc_invalidate_model_cache'
LANGUAGE C;
COMMENT ON FUNCTION aigc.invalidate_model_cache() IS
    'Statement trigger: tells every backend to drop its cached models (relcache invalidation of aigc.model_store)';

CREATE TRIGGER invalidate_model_cache
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON aigc.model_store
    FOR EACH STATEMENT EXECUTE FUNCTION aigc.invalidate_model_cache();
CREATE TRIGGER invalidate_model_cache
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON aigc.score_calibration
    FOR EACH STATEMENT EXECUTE FUNCTION aigc.invalidate_model_cache();

CREATE FUNCTION aigc.model_cache_loads()
RETURNS bigint
AS 'MODULE_PATHNAME', 'aigc_model_cache_loads'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION aigc.model_cache_loads() IS
    'Number of models this backend has read from aigc.model_store into its cache (once per model and version until invalidated)';

CREATE FUNCTION aigc_score_batch(model text, relation regclass, version integer DEFAULT NULL)
RETURNS TABLE (row_ctid tid, score float8)
AS 'MODULE_PATHNAME', 'aigc_score_batch'
LANGUAGE C STABLE PARALLEL SAFE CALLED ON NULL INPUT COST 100000 ROWS 1000;
COMMENT ON FUNCTION aigc_score_batch(text, regclass, integer) IS
    'Score every row of a table or materialized view, many rows per forward pass (faster than aigc_score row by row); join back on ctid';
