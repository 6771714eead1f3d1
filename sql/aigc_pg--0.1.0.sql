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
    'Train a generative model (kind vae: TVAE-style; gan: CTGAN-style) over a table scan and store it as a new version of name';

CREATE FUNCTION aigc_train(name text, query text, kind text DEFAULT 'vae',
                           options jsonb DEFAULT '{}')
RETURNS aigc.train_result
AS 'MODULE_PATHNAME', 'aigc_train_query'
LANGUAGE C VOLATILE CALLED ON NULL INPUT;
COMMENT ON FUNCTION aigc_train(text, text, text, jsonb) IS
    'Train a generative model (kind vae: TVAE-style; gan: CTGAN-style) over the rows of a query and store it as a new version of name';

CREATE FUNCTION aigc_sample(rowtype anyelement, model text, n bigint,
                            seed bigint DEFAULT NULL, version integer DEFAULT NULL,
                            conditions jsonb DEFAULT NULL)
RETURNS SETOF anyelement
AS 'MODULE_PATHNAME', 'aigc_sample'
LANGUAGE C VOLATILE CALLED ON NULL INPUT;
COMMENT ON FUNCTION aigc_sample(anyelement, text, bigint, bigint, integer, jsonb) IS
    'Sample n synthetic rows typed as rowtype (a composite whose columns match the model''s by name); conditions fixes categories or ranges of columns, e.g. {"region": "north", "age": {"min": 30, "max": 40}}';

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
