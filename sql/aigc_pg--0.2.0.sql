-- aigc_pg 0.2.0: generative models for tables, trained and sampled in SQL.
\echo Use "CREATE EXTENSION aigc_pg" to load this file. \quit

CREATE SCHEMA aigc;
COMMENT ON SCHEMA aigc IS 'aigc_pg model store and helper functions';

-- The model store.  Its tables are reached only through the extension's
-- functions, which check the caller's privileges on the model and then read
-- or write the tables as their owner: nobody needs (or gets) privileges on
-- the tables themselves, and a weights blob cannot be read or forged with SQL.
--
-- Name resolution (docs/security.md): every SQL or plpgsql function below
-- that is not meant to resolve names in the caller's search_path says SET
-- search_path = pg_catalog, pg_temp; the one that must (aigc_create_type: the
-- new type's name) names every operator, function and type with its schema
-- instead.  The C functions' queries as the store owner run under the same
-- locked path (src/model_store.c); their scans of the caller's relation or
-- query run as the caller, in the caller's path.

-- One row per model: who owns it.
CREATE TABLE aigc.model_registry (
    name          text        PRIMARY KEY CHECK (name <> ''),
    owner         regrole     NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE aigc.model_registry IS 'One row per model name: its owner';

-- One row per trained model version.
CREATE TABLE aigc.model_store (
    name          text        NOT NULL REFERENCES aigc.model_registry ON DELETE CASCADE,
    version       integer     NOT NULL CHECK (version > 0),
    kind          text        NOT NULL CHECK (kind IN ('vae', 'gan', 'transformer')),
    source_kind   text        NOT NULL CHECK (source_kind IN ('relation', 'query')),
    source        text        NOT NULL,
    columns       jsonb       NOT NULL,
    hyperparams   jsonb       NOT NULL,
    loss          jsonb       NOT NULL,
    train_rows    bigint      NOT NULL,
    train_seconds float8      NOT NULL,
    stats         jsonb       NOT NULL,
    weights       bytea       NOT NULL,
    created_by    name        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version)
);
COMMENT ON TABLE aigc.model_store IS
    'Trained models: column spec, hyperparameters, per-epoch loss and weights (versioned, checksummed format)';

-- Deployments, newest last: the version in use is the last one still here,
-- or the newest version when there is none.  aigc_rollback removes the last.
CREATE TABLE aigc.deployments (
    name          text        NOT NULL,
    seq           integer     NOT NULL CHECK (seq > 0),
    version       integer     NOT NULL,
    deployed_by   name        NOT NULL,
    deployed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, seq),
    FOREIGN KEY (name, version) REFERENCES aigc.model_store ON DELETE CASCADE
);
COMMENT ON TABLE aigc.deployments IS 'Deployment history per model; the last row is the version in use';

-- Who else may use a model.  grantee 0 ('-') stands for PUBLIC.
CREATE TABLE aigc.model_grants (
    name          text        NOT NULL REFERENCES aigc.model_registry ON DELETE CASCADE,
    grantee       regrole     NOT NULL,
    privilege     text        NOT NULL CHECK (privilege IN ('use', 'train', 'deploy')),
    granted_by    name        NOT NULL,
    PRIMARY KEY (name, grantee, privilege)
);
COMMENT ON TABLE aigc.model_grants IS 'Privileges on models granted by their owners (grantee 0 is PUBLIC)';

REVOKE ALL ON aigc.model_registry, aigc.model_store, aigc.deployments, aigc.model_grants FROM PUBLIC;

-- Models and their grants are user data: pg_dump keeps them.
SELECT pg_catalog.pg_extension_config_dump('aigc.model_registry', '');
SELECT pg_catalog.pg_extension_config_dump('aigc.model_store', '');
SELECT pg_catalog.pg_extension_config_dump('aigc.deployments', '');
SELECT pg_catalog.pg_extension_config_dump('aigc.model_grants', '');

CREATE FUNCTION aigc.has_model_privilege(model text, privilege text DEFAULT 'use')
RETURNS boolean
AS 'MODULE_PATHNAME', 'aigc_has_model_privilege'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION aigc.has_model_privilege(text, text) IS
    'Internal (the aigc.models view): Whether the current user may use (sample, score), train, deploy or (privilege ''owner'') drop and grant the model';

-- What users look at: the versions of the models they may use, without the weights.
CREATE VIEW aigc.models WITH (security_barrier) AS
SELECT s.name, s.version, s.kind,
       s.version = coalesce(d.version, l.newest) AS in_use,
       d.version IS NOT NULL AND s.version = d.version AS deployed,
       r.owner, s.source_kind, s.source, s.columns, s.hyperparams, s.loss,
       s.train_rows, s.train_seconds, s.stats, octet_length(s.weights) AS weights_bytes,
       s.created_by, s.created_at
  FROM aigc.model_store s
  JOIN aigc.model_registry r USING (name)
  CROSS JOIN LATERAL (SELECT max(version) AS newest FROM aigc.model_store x WHERE x.name = s.name) l
  LEFT JOIN LATERAL (SELECT version FROM aigc.deployments x WHERE x.name = s.name
                      ORDER BY seq DESC LIMIT 1) d ON true
 WHERE aigc.has_model_privilege(s.name, 'use');
COMMENT ON VIEW aigc.models IS
    'One row per version of each model the current user may use; in_use marks the version sampling and scoring use';
GRANT USAGE ON SCHEMA aigc TO PUBLIC;
GRANT SELECT ON aigc.models TO PUBLIC;

-- One version of a model the current user may use: the given one, or the one in use
CREATE FUNCTION aigc.model_version(model text, version integer DEFAULT NULL)
RETURNS aigc.models
LANGUAGE sql STABLE
-- its = must not be rebound by the caller's search_path
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT m.*
      FROM aigc.models m
     WHERE m.name = model_version.model
       AND (m.version = model_version.version OR (model_version.version IS NULL AND m.in_use))
$$;
COMMENT ON FUNCTION aigc.model_version(text, integer) IS
    'Internal: The aigc.models row of a model version (NULL: the version in use), or NULL if none you may use';

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
    'Train a generative model (kind vae: TVAE-style; gan: CTGAN-style; transformer: autoregressive, exact likelihoods) over a table scan and store it as a new version of name';

CREATE FUNCTION aigc_train(name text, query text, kind text DEFAULT 'vae',
                           options jsonb DEFAULT '{}')
RETURNS aigc.train_result
AS 'MODULE_PATHNAME', 'aigc_train_query'
LANGUAGE C VOLATILE CALLED ON NULL INPUT;
COMMENT ON FUNCTION aigc_train(text, text, text, jsonb) IS
    'Train a generative model (kind vae: TVAE-style; gan: CTGAN-style; transformer: autoregressive, exact likelihoods) over the rows of a query and store it as a new version of name';

-- Internal: the rows of aigc_sample() as arrays of at most 1000 rows, one per
-- call, generated only when asked for.  Call aigc_sample() instead.
CREATE FUNCTION aigc.sample_batches(rowtype anyelement, model text, n bigint,
                                    seed bigint, version integer, conditions jsonb)
RETURNS SETOF anyarray
AS 'MODULE_PATHNAME', 'aigc_sample_batches'
LANGUAGE C VOLATILE CALLED ON NULL INPUT;
COMMENT ON FUNCTION aigc.sample_batches(anyelement, text, bigint, bigint, integer, jsonb) IS
    'Internal to aigc_sample: its rows in batches, as arrays of rowtype';

-- A function in FROM runs under a Function Scan, which collects the whole
-- result before the first row; a set-returning function in a select list
-- streams.  The planner inlines this body into the calling query, so
-- SELECT * FROM aigc_sample(...) LIMIT 1 makes one batch.  Inlining needs a
-- LANGUAGE sql function that is not STRICT, not VOLATILE (the rows are
-- still drawn by the volatile aigc.sample_batches) and has no SET clause:
-- hence no SET search_path, and every name in the body is schema-qualified
-- instead.  Unnesting the batches in FROM expands the row type's columns
-- once per row (a select-list (f()).* would call f once per column, and
-- would fail to parse for a non-row type instead of raising 42804 there);
-- OFFSET 0 keeps the set-returning call in its own subquery.
CREATE FUNCTION aigc_sample(rowtype anyelement, model text, n bigint,
                            seed bigint DEFAULT NULL, version integer DEFAULT NULL,
                            conditions jsonb DEFAULT NULL)
RETURNS SETOF anyelement
LANGUAGE sql STABLE CALLED ON NULL INPUT
AS $$
SELECT r.*
  FROM (SELECT aigc.sample_batches(rowtype, model, n, seed, version, conditions) AS b
         OFFSET 0) AS s
 CROSS JOIN LATERAL pg_catalog.unnest(s.b) AS r
$$;
COMMENT ON FUNCTION aigc_sample(anyelement, text, bigint, bigint, integer, jsonb) IS
    'Sample n synthetic rows typed as rowtype (a composite whose columns match the model''s by name); conditions fixes categories or ranges of columns, e.g. {"region": "north", "age": {"min": 30, "max": 40}}';

CREATE FUNCTION aigc.gradient_check()
RETURNS TABLE (component text, parameter text, max_rel_error float8, checked integer)
AS 'MODULE_PATHNAME', 'aigc_gradient_check'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION aigc.gradient_check() IS
    'Diagnostic. Self-test: every layer''s and loss''s backward pass against central finite differences';

CREATE FUNCTION aigc.sgemm_gflops(model text, batch_size integer DEFAULT 500,
                                  version integer DEFAULT NULL, seconds float8 DEFAULT 2.0)
RETURNS float8
AS 'MODULE_PATHNAME', 'aigc_sgemm_gflops'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION aigc.sgemm_gflops(text, integer, integer, float8) IS
    'Diagnostic: OpenBLAS sgemm GFLOP/s on the exact matrix shapes one training step of the model runs';

-- Create a composite type with a model's columns, for typed samples of a
-- model trained from a query: SELECT * FROM aigc_sample(NULL::type_name, ...)
CREATE FUNCTION aigc_create_type(model text, type_name text, version integer DEFAULT NULL)
RETURNS regtype
LANGUAGE plpgsql VOLATILE
-- no SET search_path: an unqualified type_name must land in the caller's
-- current schema; everything this body names is qualified instead, the
-- variables' types and operators too, so that a schema put before
-- pg_catalog in the caller's search_path cannot rebind them.  The column
-- types come qualified from the model's spec (unqualified in models trained
-- before aigc_pg 0.2, which resolve them in the caller's search_path).
AS $$
DECLARE
    spec pg_catalog.jsonb;
    cols pg_catalog.text;
    qualified pg_catalog.text;
BEGIN
    IF model IS NULL OR type_name IS NULL THEN
        RAISE EXCEPTION 'model and type_name must not be NULL'
              USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT (aigc.model_version(model, aigc_create_type.version)).columns INTO spec;
    IF spec IS NULL THEN
        RAISE EXCEPTION 'model "%" does not exist', model
              USING ERRCODE = 'undefined_object';
    END IF;
    SELECT pg_catalog.string_agg(pg_catalog.format('%I %s', c OPERATOR(pg_catalog.->>) 'name',
                                                   c OPERATOR(pg_catalog.->>) 'type'),
                                 ', ' ORDER BY ord)
      INTO cols
      FROM pg_catalog.jsonb_array_elements(spec) WITH ORDINALITY AS t(c, ord);
    -- quote each part of a possibly schema-qualified name
    SELECT pg_catalog.string_agg(pg_catalog.quote_ident(p), '.') INTO qualified
      FROM pg_catalog.unnest(pg_catalog.parse_ident(type_name)) AS p;
    EXECUTE pg_catalog.format('CREATE TYPE %s AS (%s)', qualified, cols);
    RETURN qualified::pg_catalog.regtype;
END
$$;
COMMENT ON FUNCTION aigc_create_type(text, text, integer) IS
    'Create a composite type (name may be schema-qualified) with the columns a model produces';

-- Model lifecycle and privileges (src/model_lifecycle.c, src/model_privileges.c)
CREATE FUNCTION aigc_deploy(model text, version integer)
RETURNS integer
AS 'MODULE_PATHNAME', 'aigc_deploy'
LANGUAGE C VOLATILE CALLED ON NULL INPUT;
COMMENT ON FUNCTION aigc_deploy(text, integer) IS
    'Pin the version that sampling and scoring use (needs privilege deploy); returns it';

CREATE FUNCTION aigc_rollback(model text)
RETURNS integer
AS 'MODULE_PATHNAME', 'aigc_rollback'
LANGUAGE C VOLATILE CALLED ON NULL INPUT;
COMMENT ON FUNCTION aigc_rollback(text) IS
    'Undo the last aigc_deploy of the model (needs privilege deploy); returns the version now in use';

CREATE FUNCTION aigc_drop(model text, version integer DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'aigc_drop'
LANGUAGE C VOLATILE CALLED ON NULL INPUT;
COMMENT ON FUNCTION aigc_drop(text, integer) IS
    'Drop one version of a model, or the whole model when version is NULL (owner only); returns the versions dropped';

CREATE FUNCTION aigc_grant(model text, grantee text, privilege text DEFAULT 'use')
RETURNS void
AS 'MODULE_PATHNAME', 'aigc_grant'
LANGUAGE C VOLATILE CALLED ON NULL INPUT;
COMMENT ON FUNCTION aigc_grant(text, text, text) IS
    'Grant use, train, deploy or all on a model to a role or PUBLIC (owner only)';

CREATE FUNCTION aigc_revoke(model text, grantee text, privilege text DEFAULT 'use')
RETURNS void
AS 'MODULE_PATHNAME', 'aigc_revoke'
LANGUAGE C VOLATILE CALLED ON NULL INPUT;
COMMENT ON FUNCTION aigc_revoke(text, text, text) IS
    'Revoke use, train, deploy or all on a model from a role or PUBLIC (owner only)';

-- Models of a role about to be dropped (REASSIGN OWNED and DROP OWNED call
-- these too when the library is loaded; docs/security.md)
CREATE FUNCTION aigc.reassign_models(old_role regrole, new_role regrole)
RETURNS bigint
AS 'MODULE_PATHNAME', 'aigc_reassign_models'
LANGUAGE C VOLATILE CALLED ON NULL INPUT;
COMMENT ON FUNCTION aigc.reassign_models(regrole, regrole) IS
    'Give every model of old_role (a dropped role: its OID) to new_role, in this database; needs the privileges of both roles; returns the models moved';

CREATE FUNCTION aigc.drop_models(role regrole)
RETURNS bigint
AS 'MODULE_PATHNAME', 'aigc_drop_models'
LANGUAGE C VOLATILE CALLED ON NULL INPUT;
COMMENT ON FUNCTION aigc.drop_models(regrole) IS
    'Drop every model of role (a dropped role: its OID) and revoke its model privileges, in this database; needs the privileges of the role; returns the models dropped';

CREATE FUNCTION aigc_describe(model text)
RETURNS TABLE (version integer, kind text, in_use boolean, deployed boolean, owner regrole,
               source text, train_rows bigint, epochs integer, final_loss float8,
               train_seconds float8, columns integer, weights_bytes integer,
               created_by name, created_at timestamptz)
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT m.version, m.kind, m.in_use, m.deployed, m.owner, m.source, m.train_rows,
           pg_catalog.jsonb_array_length(m.loss->'loss'),
           (m.loss->'loss'->>(pg_catalog.jsonb_array_length(m.loss->'loss') - 1))::float8,
           m.train_seconds, pg_catalog.jsonb_array_length(m.columns), m.weights_bytes,
           m.created_by, m.created_at
      FROM aigc.models m
     WHERE m.name = model
     ORDER BY m.version
$$;
COMMENT ON FUNCTION aigc_describe(text) IS
    'The versions of a model you may use: which is in use, deployed, and how each was trained';

-- Synthetic-data quality, privacy and detection report (docs/evaluate.md).
-- "real" is a keyword: name it quoted, "real" => ..., or pass it by position.
CREATE FUNCTION aigc_evaluate(model text, "real" regclass, n integer DEFAULT 10000,
                              seed bigint DEFAULT 0, max_rows integer DEFAULT 100000,
                              version integer DEFAULT NULL)
RETURNS TABLE (property text, metric text, column_names text, value float8)
AS 'MODULE_PATHNAME', 'aigc_evaluate'
LANGUAGE C VOLATILE CALLED ON NULL INPUT;
COMMENT ON FUNCTION aigc_evaluate(text, regclass, integer, bigint, integer, integer) IS
    'Report (SDMetrics QualityReport scores, distance to closest record, exact copies, logistic detection AUC) on n rows sampled from a model against a real relation';

CREATE FUNCTION aigc_evaluate_relations("real" regclass, synthetic regclass,
                                        seed bigint DEFAULT 0, max_rows integer DEFAULT 100000)
RETURNS TABLE (property text, metric text, column_names text, value float8)
AS 'MODULE_PATHNAME', 'aigc_evaluate_relations'
LANGUAGE C VOLATILE CALLED ON NULL INPUT;
COMMENT ON FUNCTION aigc_evaluate_relations(regclass, regclass, bigint, integer) IS
    'Report (SDMetrics QualityReport scores, distance to closest record, exact copies, logistic detection AUC) comparing two relations with the same columns';

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

CREATE FUNCTION aigc.save_calibration(model text, version integer, relation text,
                                      "rows" bigint, quantiles float8[])
RETURNS void
AS 'MODULE_PATHNAME', 'aigc_save_calibration'
LANGUAGE C VOLATILE CALLED ON NULL INPUT;
COMMENT ON FUNCTION aigc.save_calibration(text, integer, text, bigint, float8[]) IS
    'Internal: aigc_calibrate''s write into aigc.score_calibration (needs privilege train on the model)';

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
    SELECT (aigc.model_version(model, aigc_calibrate.version)).version INTO v;
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
    PERFORM aigc.save_calibration(model, v, relation::text, n, q);
    result := ROW(model, v, relation::text, n, q, now());
    RETURN result;
END
$$;
COMMENT ON FUNCTION aigc_calibrate(text, regclass, integer) IS
    'Score every row of relation with a model version (the version in use by default) and store the score quantiles in aigc.score_calibration';

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
    'Internal: Statement trigger: tells every backend to drop its cached models (relcache invalidation of aigc.model_store)';

CREATE TRIGGER invalidate_model_cache
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON aigc.model_store
    FOR EACH STATEMENT EXECUTE FUNCTION aigc.invalidate_model_cache();
CREATE TRIGGER invalidate_model_cache
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON aigc.score_calibration
    FOR EACH STATEMENT EXECUTE FUNCTION aigc.invalidate_model_cache();
-- the version in use and who may use it change with these
CREATE TRIGGER invalidate_model_cache
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON aigc.model_registry
    FOR EACH STATEMENT EXECUTE FUNCTION aigc.invalidate_model_cache();
CREATE TRIGGER invalidate_model_cache
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON aigc.deployments
    FOR EACH STATEMENT EXECUTE FUNCTION aigc.invalidate_model_cache();
CREATE TRIGGER invalidate_model_cache
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON aigc.model_grants
    FOR EACH STATEMENT EXECUTE FUNCTION aigc.invalidate_model_cache();
REVOKE ALL ON aigc.score_calibration FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('aigc.score_calibration', '');

CREATE FUNCTION aigc.model_cache_loads()
RETURNS bigint
AS 'MODULE_PATHNAME', 'aigc_model_cache_loads'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION aigc.model_cache_loads() IS
    'Diagnostic: Number of models this backend has read from aigc.model_store into its cache (once per model and version until invalidated)';

CREATE FUNCTION aigc_score_batch(model text, relation regclass, version integer DEFAULT NULL)
RETURNS TABLE (row_ctid tid, score float8, row_tableoid oid)
AS 'MODULE_PATHNAME', 'aigc_score_batch'
LANGUAGE C STABLE PARALLEL SAFE CALLED ON NULL INPUT COST 100000 ROWS 1000;
COMMENT ON FUNCTION aigc_score_batch(text, regclass, integer) IS
    'Score every row of a table or materialized view, many rows per forward pass (faster than aigc_score row by row); join back on tableoid and ctid (a ctid is unique only within one partition or child table)';

-- Differential privacy: the Rényi-DP accountant of DP-SGD (docs/privacy.md)
CREATE FUNCTION aigc.dp_privacy_spent(noise_multiplier float8, sample_rate float8,
                                      steps integer, delta float8,
                                      orders float8[] DEFAULT NULL,
                                      OUT epsilon float8, OUT best_order float8)
RETURNS record
AS 'MODULE_PATHNAME', 'aigc_dp_privacy_spent'
LANGUAGE C IMMUTABLE PARALLEL SAFE CALLED ON NULL INPUT;
COMMENT ON FUNCTION aigc.dp_privacy_spent(float8, float8, integer, float8, float8[]) IS
    'epsilon of steps steps of the Poisson-subsampled Gaussian mechanism at delta, from Rényi DP minimised over orders (NULL: the default grid), and the order attaining it';

CREATE FUNCTION aigc.dp_epsilon(noise_multiplier float8, sample_rate float8,
                                steps integer, delta float8,
                                orders float8[] DEFAULT NULL)
RETURNS float8
AS 'MODULE_PATHNAME', 'aigc_dp_epsilon'
LANGUAGE C IMMUTABLE PARALLEL SAFE CALLED ON NULL INPUT;
COMMENT ON FUNCTION aigc.dp_epsilon(float8, float8, integer, float8, float8[]) IS
    'epsilon of aigc.dp_privacy_spent alone';

CREATE FUNCTION aigc.dp_rdp(noise_multiplier float8, sample_rate float8,
                            steps integer, orders float8[] DEFAULT NULL)
RETURNS float8[]
AS 'MODULE_PATHNAME', 'aigc_dp_rdp'
LANGUAGE C IMMUTABLE PARALLEL SAFE CALLED ON NULL INPUT;
COMMENT ON FUNCTION aigc.dp_rdp(float8, float8, integer, float8[]) IS
    'Rényi DP of steps steps of the Poisson-subsampled Gaussian mechanism at each order (NULL: the default grid); Infinity where unbounded';

CREATE FUNCTION aigc.dp_rdp_to_epsilon(orders float8[], rdp float8[], delta float8,
                                       OUT epsilon float8, OUT best_order float8)
RETURNS record
AS 'MODULE_PATHNAME', 'aigc_dp_rdp_to_epsilon'
LANGUAGE C IMMUTABLE PARALLEL SAFE CALLED ON NULL INPUT;
COMMENT ON FUNCTION aigc.dp_rdp_to_epsilon(float8[], float8[], float8) IS
    'Smallest epsilon at delta implied by Rényi DP rdp[k] at orders[k], and the order attaining it';

CREATE FUNCTION aigc.dp_noise_multiplier(epsilon float8, delta float8,
                                         sample_rate float8, steps integer,
                                         orders float8[] DEFAULT NULL)
RETURNS float8
AS 'MODULE_PATHNAME', 'aigc_dp_noise_multiplier'
LANGUAGE C IMMUTABLE PARALLEL SAFE CALLED ON NULL INPUT;
COMMENT ON FUNCTION aigc.dp_noise_multiplier(float8, float8, float8, integer, float8[]) IS
    'Smallest noise multiplier (to 1e-6 relative) whose epsilon after steps steps at sample_rate and delta is at most epsilon';

CREATE FUNCTION aigc.dp_sgd_check()
RETURNS TABLE (component text, statistic text, value float8, checked integer)
AS 'MODULE_PATHNAME', 'aigc_dp_sgd_check'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION aigc.dp_sgd_check() IS
    'Diagnostic. Self-test of the DP-SGD building blocks: per-example gradient norms and the clipped sum against materialised per-example gradients, noise and Poisson-sampling statistics';

-- The table transformer's tokenizer self-test (docs/transformer.md)
CREATE FUNCTION aigc.token_round_trip(nbins integer DEFAULT 32)
RETURNS TABLE (column_name text, kind text, rows integer, nulls integer,
               max_error_ratio float8, clipped integer)
AS 'MODULE_PATHNAME', 'aigc_token_round_trip'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION aigc.token_round_trip(integer) IS
    'Diagnostic. Self-test: the transformer tokenizer encodes and decodes a fixed synthetic table; max_error_ratio <= 1 means every value came back within one offset bin';


-- Citus (docs/citus.md).  On a Citus coordinator, aigc.citus_distribute_store()
-- makes the model store tables reference tables, so every write there (train,
-- deploy, rollback, drop, grant, revoke, calibrate) reaches every node in the
-- same two-phase-commit transaction and every node reads its own replica; and
-- it distributes aigc.sample_parts, one row per worker, over which
-- aigc_sample_distributed fans out.  Without Citus these stay plain tables.
CREATE TABLE aigc.sample_parts (
    key           integer     PRIMARY KEY,
    part          integer     NOT NULL CHECK (part >= 0),
    parts         integer     NOT NULL CHECK (part < parts)
);
COMMENT ON TABLE aigc.sample_parts IS
    'Citus: one row in each shard (one shard per worker): the parts aigc_sample_distributed samples in parallel';
REVOKE ALL ON aigc.sample_parts FROM PUBLIC;
GRANT SELECT ON aigc.sample_parts TO PUBLIC;

CREATE FUNCTION aigc.citus_distribute_store()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t text;
    workers integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN
        RAISE EXCEPTION 'the citus extension is not installed in this database'
              USING ERRCODE = 'feature_not_supported';
    END IF;
    -- the store tables carry the cache invalidation triggers, which Citus
    -- then creates on every replica too
    PERFORM pg_catalog.set_config('citus.enable_unsafe_triggers', 'on', true);
    -- Referenced tables first.  While the rest are still local, Citus would
    -- otherwise turn them into "Citus local tables", which means recreating
    -- the extension's view aigc.models.
    PERFORM pg_catalog.set_config('citus.enable_local_reference_table_foreign_keys', 'off', true);
    FOREACH t IN ARRAY ARRAY['model_registry', 'model_store', 'deployments', 'model_grants',
                             'score_calibration']
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition
                        WHERE logicalrelid = pg_catalog.format('aigc.%I', t)::regclass) THEN
            PERFORM pg_catalog.create_reference_table(pg_catalog.format('aigc.%I', t)::regclass);
        END IF;
    END LOOP;

    -- one shard per worker (Citus places shards round-robin), one row in each
    SELECT pg_catalog.count(*) INTO workers
      FROM pg_catalog.pg_dist_node
     WHERE noderole = 'primary' AND isactive AND shouldhaveshards;
    IF workers = 0 THEN
        RAISE EXCEPTION 'the Citus cluster has no node for shards'
              USING ERRCODE = 'object_not_in_prerequisite_state',
                    HINT = 'Add workers with citus_add_node() first.';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition
                WHERE logicalrelid = 'aigc.sample_parts'::regclass) THEN
        PERFORM pg_catalog.undistribute_table('aigc.sample_parts');
    END IF;
    DELETE FROM aigc.sample_parts;
    PERFORM pg_catalog.create_distributed_table('aigc.sample_parts', 'key',
                                                shard_count => workers, colocate_with => 'none');
    INSERT INTO aigc.sample_parts (key, part, parts)
    SELECT min(k), (pg_catalog.row_number() OVER (ORDER BY shardid))::integer - 1, workers
      FROM pg_catalog.generate_series(1, 100000) AS k,
           LATERAL pg_catalog.get_shard_id_for_distribution_column('aigc.sample_parts', k) AS shardid
     GROUP BY shardid;
    RETURN workers;
END
$$;
COMMENT ON FUNCTION aigc.citus_distribute_store() IS
    'On a Citus coordinator: make the model store tables reference tables (replicated to every node in the same transaction) and spread aigc.sample_parts over the workers; returns the number of parts';
REVOKE ALL ON FUNCTION aigc.citus_distribute_store() FROM PUBLIC;

-- The seed of part `part` of a distributed sample: part 0 uses the seed
-- itself, part i the seed plus i times the 64-bit golden ratio (mod 2^64),
-- splitmix64's own stride, so parts never share a seed.
CREATE FUNCTION aigc.sample_part_seed(seed bigint, part integer)
RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT (CASE WHEN x >= 9223372036854775808 THEN x - 18446744073709551616 ELSE x END)::bigint
      FROM (SELECT pg_catalog.mod(seed::numeric + part::numeric * 11400714819323198485
                                  + 18446744073709551616, 18446744073709551616) AS x) m
$$;
COMMENT ON FUNCTION aigc.sample_part_seed(bigint, integer) IS
    'Internal (aigc_sample_distributed): the seed of sampling part part, distinct for every part';

-- Rows of part `part` of `parts` for n rows in all: the first n % parts parts take one more.
CREATE FUNCTION aigc.sample_part_rows(n bigint, part integer, parts integer)
RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT n / parts + CASE WHEN part < n % parts THEN 1 ELSE 0 END
$$;
COMMENT ON FUNCTION aigc.sample_part_rows(bigint, integer, integer) IS
    'Internal (aigc_sample_distributed): the rows of part part of parts for n rows in all';

CREATE FUNCTION aigc_sample_distributed(rowtype anyelement, model text, n bigint,
                                        seed bigint DEFAULT NULL, version integer DEFAULT NULL,
                                        conditions jsonb DEFAULT NULL)
RETURNS SETOF anyelement
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v integer;
    s bigint := seed;
BEGIN
    IF model IS NULL OR n IS NULL THEN
        RAISE EXCEPTION 'model and n must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF n < 0 THEN
        RAISE EXCEPTION 'n must not be negative' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- two statements: pg_dist_partition exists only with Citus
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN
        RAISE EXCEPTION 'aigc_sample_distributed needs a Citus coordinator'
              USING ERRCODE = 'object_not_in_prerequisite_state',
                    HINT = 'On one node use aigc_sample().';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition
                    WHERE logicalrelid = 'aigc.sample_parts'::regclass) THEN
        RAISE EXCEPTION 'aigc_sample_distributed needs a Citus coordinator where aigc.citus_distribute_store() ran'
              USING ERRCODE = 'object_not_in_prerequisite_state',
                    HINT = 'Run SELECT aigc.citus_distribute_store() there once.';
    END IF;
    -- every worker samples the version resolved here: one that lacks it
    -- (it missed the training) errors instead of sampling another
    v := (aigc.model_version(model, version)).version;
    IF v IS NULL THEN
        RAISE EXCEPTION 'model "%" does not exist', model USING ERRCODE = 'undefined_object';
    END IF;
    IF s IS NULL THEN
        s := (pg_catalog.random() * 9007199254740991)::bigint;
    END IF;
    RETURN QUERY
        SELECT r.*
          FROM aigc.sample_parts p,
               LATERAL @extschema@.aigc_sample(rowtype, model,
                                               aigc.sample_part_rows(n, p.part, p.parts),
                                               aigc.sample_part_seed(s, p.part), v, conditions) AS r;
END
$$;
COMMENT ON FUNCTION aigc_sample_distributed(anyelement, text, bigint, bigint, integer, jsonb) IS
    'Citus: n synthetic rows sampled on every worker in parallel, one part per worker with its own seed (aigc.sample_part_seed): the same rows for the same seed and number of workers';
