-- aigc_pg 0.1.0 -> 0.2.0 (ALTER EXTENSION aigc_pg UPDATE).  Stored models
-- keep working: the model store's tables and their rows are not rewritten,
-- and every blob format 0.1.0 wrote stays readable.
\echo Use "ALTER EXTENSION aigc_pg UPDATE TO '0.2.0'" to load this file. \quit

-- Names are resolved under a locked search_path, or schema-qualified where
-- a function must resolve in the caller's path (docs/security.md).
CREATE OR REPLACE FUNCTION aigc.model_version(model text, version integer DEFAULT NULL)
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

CREATE OR REPLACE FUNCTION aigc_create_type(model text, type_name text, version integer DEFAULT NULL)
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

CREATE OR REPLACE FUNCTION aigc_describe(model text)
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

-- aigc_sample streams: an inlinable SQL function over aigc.sample_batches
CREATE FUNCTION aigc.sample_batches(rowtype anyelement, model text, n bigint,
                                    seed bigint, version integer, conditions jsonb)
RETURNS SETOF anyarray
AS 'MODULE_PATHNAME', 'aigc_sample_batches'
LANGUAGE C VOLATILE CALLED ON NULL INPUT;
COMMENT ON FUNCTION aigc.sample_batches(anyelement, text, bigint, bigint, integer, jsonb) IS
    'Internal to aigc_sample: its rows in batches, as arrays of rowtype';

CREATE OR REPLACE FUNCTION aigc_sample(rowtype anyelement, model text, n bigint,
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

-- Models of roles (DROP ROLE, REASSIGN OWNED, DROP OWNED)
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

-- aigc_score_batch also returns the tableoid (partitions, inheritance):
-- a new result type, so the function is made anew
DROP FUNCTION aigc_score_batch(text, regclass, integer);
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

-- Internal and diagnostic functions say so (README, "Public and internal SQL")
COMMENT ON FUNCTION aigc.has_model_privilege(text, text) IS
    'Internal (the aigc.models view): Whether the current user may use (sample, score), train, deploy or (privilege ''owner'') drop and grant the model';

COMMENT ON FUNCTION aigc.gradient_check() IS
    'Diagnostic. Self-test: every layer''s and loss''s backward pass against central finite differences';

COMMENT ON FUNCTION aigc.sgemm_gflops(text, integer, integer, float8) IS
    'Diagnostic: OpenBLAS sgemm GFLOP/s on the exact matrix shapes one training step of the model runs';

COMMENT ON FUNCTION aigc.save_calibration(text, integer, text, bigint, float8[]) IS
    'Internal: aigc_calibrate''s write into aigc.score_calibration (needs privilege train on the model)';

COMMENT ON FUNCTION aigc.invalidate_model_cache() IS
    'Internal: Statement trigger: tells every backend to drop its cached models (relcache invalidation of aigc.model_store)';

COMMENT ON FUNCTION aigc.model_cache_loads() IS
    'Diagnostic: Number of models this backend has read from aigc.model_store into its cache (once per model and version until invalidated)';

-- The third model kind, kind => 'transformer' (docs/transformer.md)
ALTER TABLE aigc.model_store DROP CONSTRAINT model_store_kind_check;
ALTER TABLE aigc.model_store ADD CONSTRAINT model_store_kind_check
    CHECK (kind IN ('vae', 'gan', 'transformer'));
COMMENT ON FUNCTION aigc_train(text, regclass, text, jsonb) IS
    'Train a generative model (kind vae: TVAE-style; gan: CTGAN-style; transformer: autoregressive, exact likelihoods) over a table scan and store it as a new version of name';
COMMENT ON FUNCTION aigc_train(text, text, text, jsonb) IS
    'Train a generative model (kind vae: TVAE-style; gan: CTGAN-style; transformer: autoregressive, exact likelihoods) over the rows of a query and store it as a new version of name';
