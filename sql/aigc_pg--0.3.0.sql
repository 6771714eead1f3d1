-- aigc_pg 0.3.0: generative models for tables, trained and sampled in SQL.
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
    privacy       jsonb,      -- the differential-privacy record; NULL without option privacy
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
       s.created_by, s.created_at, s.privacy
  FROM aigc.model_store s
  JOIN aigc.model_registry r USING (name)
  CROSS JOIN LATERAL (SELECT max(version) AS newest FROM aigc.model_store x WHERE x.name = s.name) l
  LEFT JOIN LATERAL (SELECT version FROM aigc.deployments x WHERE x.name = s.name
                      ORDER BY seq DESC LIMIT 1) d ON true
 WHERE aigc.has_model_privilege(s.name, 'use');
COMMENT ON VIEW aigc.models IS
    'One row per version of each model the current user may use; in_use marks the version sampling and scoring use; privacy is the differential-privacy record (docs/privacy.md), NULL for models trained without option privacy';
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

-- The HTML report (docs/report.md): one self-contained document of inline SVG
-- charts. The figures come from aigc_evaluate, aigc_latent_map and the model
-- store; these functions only draw them. Every text from data goes through
-- aigc.html_escape.
CREATE FUNCTION aigc.html_escape(s text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT replace(replace(replace(replace(replace(s, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),
                       '"', '&quot;'), '''', '&#39;')
$$;
COMMENT ON FUNCTION aigc.html_escape(text) IS
    'Internal (aigc_report): text escaped for HTML element content and quoted attribute values';

CREATE FUNCTION aigc.svg_bars(title text, labels text[], real_values float8[],
                              synthetic_values float8[], axis_low text DEFAULT NULL,
                              axis_high text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k integer := coalesce(cardinality(real_values), 0);
    w constant integer := 460;
    h constant integer := 220;
    left_m constant integer := 40;
    plot_w constant integer := 400;
    plot_h constant integer := 140;
    top_v float8 := 0;
    slot float8;
    bw float8;
    out text;
BEGIN
    FOR i IN 1 .. k LOOP
        top_v := greatest(top_v, coalesce(real_values[i], 0), coalesce(synthetic_values[i], 0));
    END LOOP;
    IF top_v <= 0 THEN
        top_v := 1;
    END IF;
    slot := plot_w::float8 / greatest(k, 1);
    bw := slot * 0.4;
    out := format('<figure><svg width="%s" height="%s" viewBox="0 0 %s %s" role="img">'
                  '<title>%s</title><text x="%s" y="14" font-size="12" font-weight="bold">%s</text>'
                  '<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#333"/>'
                  '<text x="4" y="%s" font-size="9">%s</text>',
                  w, h, w, h, aigc.html_escape(title), left_m, aigc.html_escape(title),
                  left_m, 30 + plot_h, left_m + plot_w, 30 + plot_h,
                  34, round(top_v::numeric, 3));
    FOR i IN 1 .. k LOOP
        out := out || format('<rect x="%s" y="%s" width="%s" height="%s" fill="#4c72b0"><title>real %s: %s</title></rect>'
                             '<rect x="%s" y="%s" width="%s" height="%s" fill="#dd8452"><title>synthetic %s: %s</title></rect>',
                             round((left_m + (i - 1) * slot + slot * 0.1)::numeric, 2),
                             round((30 + plot_h - plot_h * coalesce(real_values[i], 0) / top_v)::numeric, 2),
                             round(bw::numeric, 2), round((plot_h * coalesce(real_values[i], 0) / top_v)::numeric, 2),
                             aigc.html_escape(coalesce(labels[i], '')), round(coalesce(real_values[i], 0)::numeric, 4),
                             round((left_m + (i - 1) * slot + slot * 0.5)::numeric, 2),
                             round((30 + plot_h - plot_h * coalesce(synthetic_values[i], 0) / top_v)::numeric, 2),
                             round(bw::numeric, 2), round((plot_h * coalesce(synthetic_values[i], 0) / top_v)::numeric, 2),
                             aigc.html_escape(coalesce(labels[i], '')), round(coalesce(synthetic_values[i], 0)::numeric, 4));
        IF labels IS NOT NULL THEN
            out := out || format('<text x="%s" y="%s" font-size="9" transform="rotate(35 %s %s)">%s</text>',
                                 round((left_m + (i - 1) * slot + slot * 0.3)::numeric, 2), 42 + plot_h,
                                 round((left_m + (i - 1) * slot + slot * 0.3)::numeric, 2), 42 + plot_h,
                                 aigc.html_escape(left(labels[i], 14)));
        END IF;
    END LOOP;
    IF labels IS NULL THEN
        out := out || format('<text x="%s" y="%s" font-size="9">%s</text>'
                             '<text x="%s" y="%s" font-size="9" text-anchor="end">%s</text>',
                             left_m, 44 + plot_h, aigc.html_escape(axis_low),
                             left_m + plot_w, 44 + plot_h, aigc.html_escape(axis_high));
    END IF;
    RETURN out || format('<rect x="%s" y="20" width="10" height="8" fill="#4c72b0"/><text x="%s" y="28" font-size="9">real</text>'
                         '<rect x="%s" y="20" width="10" height="8" fill="#dd8452"/><text x="%s" y="28" font-size="9">synthetic</text>'
                         '</svg></figure>',
                         w - 110, w - 96, w - 60, w - 46);
END
$$;
COMMENT ON FUNCTION aigc.svg_bars(text, text[], float8[], float8[], text, text) IS
    'Internal (aigc_report): an SVG bar chart of real against synthetic values, one pair of bars per label (or an axis from axis_low to axis_high when labels is NULL)';

CREATE FUNCTION aigc.svg_lines(title text, series jsonb)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    colours constant text[] := ARRAY['#4c72b0', '#dd8452', '#55a868', '#c44e52', '#8172b3', '#937860'];
    w constant integer := 460;
    h constant integer := 220;
    left_m constant integer := 50;
    plot_w constant integer := 390;
    plot_h constant integer := 150;
    lo float8;
    hi float8;
    len integer;
    out text;
    s record;
    pts text;
    i integer := 0;
BEGIN
    SELECT min(v::float8), max(v::float8), max(n) INTO lo, hi, len
      FROM (SELECT e.value AS arr, jsonb_array_length(e.value) AS n FROM jsonb_each(series) e
             WHERE jsonb_typeof(e.value) = 'array') a
      CROSS JOIN LATERAL jsonb_array_elements_text(a.arr) v;
    IF hi IS NULL THEN
        lo := 0; hi := 1; len := 1;
    ELSIF hi = lo THEN
        hi := lo + 1;
    END IF;
    out := format('<figure><svg width="%s" height="%s" viewBox="0 0 %s %s" role="img">'
                  '<title>%s</title><text x="%s" y="14" font-size="12" font-weight="bold">%s</text>'
                  '<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#333"/><line x1="%s" y1="30" x2="%s" y2="%s" stroke="#333"/>'
                  '<text x="4" y="34" font-size="9">%s</text><text x="4" y="%s" font-size="9">%s</text>'
                  '<text x="%s" y="%s" font-size="9" text-anchor="end">epoch %s</text>',
                  w, h, w, h, aigc.html_escape(title), left_m, aigc.html_escape(title),
                  left_m, 30 + plot_h, left_m + plot_w, 30 + plot_h, left_m, left_m, 30 + plot_h,
                  round(hi::numeric, 3), 30 + plot_h, round(lo::numeric, 3),
                  left_m + plot_w, 44 + plot_h, len);
    FOR s IN SELECT e.key, e.value FROM jsonb_each(series) e WHERE jsonb_typeof(e.value) = 'array' ORDER BY e.key LOOP
        i := i + 1;
        SELECT string_agg(format('%s,%s',
                                 round((left_m + plot_w * (v.ord - 1) / greatest(len - 1, 1)::float8)::numeric, 2),
                                 round((30 + plot_h - plot_h * (v.val::float8 - lo) / (hi - lo))::numeric, 2)),
                          ' ' ORDER BY v.ord)
          INTO pts
          FROM jsonb_array_elements_text(s.value) WITH ORDINALITY AS v(val, ord);
        out := out || format('<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>'
                             '<text x="%s" y="%s" font-size="9" fill="%s">%s</text>',
                             colours[1 + (i - 1) % 6], coalesce(pts, ''),
                             w - 100, 24 + 11 * i, colours[1 + (i - 1) % 6], aigc.html_escape(s.key));
    END LOOP;
    RETURN out || '</svg></figure>';
END
$$;
COMMENT ON FUNCTION aigc.svg_lines(text, jsonb) IS
    'Internal (aigc_report): an SVG line chart of the number arrays of a jsonb object (one line per key, a shared axis)';

CREATE FUNCTION aigc.svg_heatmap(title text, labels text[], cell_values float8[])
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k integer := coalesce(cardinality(labels), 0);
    cell integer := greatest(12, least(40, 360 / greatest(k, 1)));
    left_m constant integer := 120;
    top_m constant integer := 30;
    w integer := left_m + k * cell + 20;
    h integer := top_m + k * cell + 110;
    v float8;
    out text;
BEGIN
    out := format('<figure><svg width="%s" height="%s" viewBox="0 0 %s %s" role="img">'
                  '<title>%s</title><text x="4" y="14" font-size="12" font-weight="bold">%s</text>',
                  w, h, w, h, aigc.html_escape(title), aigc.html_escape(title));
    FOR i IN 1 .. k LOOP
        out := out || format('<text x="%s" y="%s" font-size="9" text-anchor="end">%s</text>'
                             '<text x="%s" y="%s" font-size="9" transform="rotate(60 %s %s)">%s</text>',
                             left_m - 4, top_m + (i - 1) * cell + cell / 2 + 3, aigc.html_escape(left(labels[i], 20)),
                             left_m + (i - 1) * cell + cell / 2, top_m + k * cell + 8,
                             left_m + (i - 1) * cell + cell / 2, top_m + k * cell + 8,
                             aigc.html_escape(left(labels[i], 20)));
        FOR j IN 1 .. k LOOP
            v := cell_values[(i - 1) * k + j];
            -- white for no difference, red for a score 0.5 below 1 or worse; grey undefined
            out := out || format('<rect x="%s" y="%s" width="%s" height="%s" fill="%s" stroke="#fff"><title>%s, %s: %s</title></rect>',
                                 left_m + (j - 1) * cell, top_m + (i - 1) * cell, cell, cell,
                                 CASE WHEN v IS NULL THEN '#ddd'
                                      ELSE format('rgb(255,%s,%s)', round(255 * (1 - least(v / 0.5, 1))),
                                                  round(255 * (1 - least(v / 0.5, 1)))) END,
                                 aigc.html_escape(labels[i]), aigc.html_escape(labels[j]),
                                 coalesce(round(v::numeric, 3)::text, 'undefined'));
        END LOOP;
    END LOOP;
    RETURN out || '</svg></figure>';
END
$$;
COMMENT ON FUNCTION aigc.svg_heatmap(text, text[], float8[]) IS
    'Internal (aigc_report): an SVG heatmap of a k x k matrix (row-major) of differences in [0, 1], labelled on both axes';

CREATE FUNCTION aigc.svg_scatter(title text, x float8[], y float8[], groups text[])
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    colours constant text[] := ARRAY['#4c72b0', '#dd8452', '#55a868', '#c44e52', '#8172b3',
                                     '#937860', '#da8bc3', '#8c8c8c', '#ccb974', '#64b5cd'];
    w constant integer := 560;
    h constant integer := 420;
    plot constant integer := 380;
    m constant integer := 20;
    x0 float8; x1 float8; y0 float8; y1 float8;
    names text[];
    g integer;
    out text;
BEGIN
    SELECT min(a), max(a) INTO x0, x1 FROM unnest(x) a;
    SELECT min(b), max(b) INTO y0, y1 FROM unnest(y) b;
    IF x1 IS NULL OR x1 = x0 THEN x1 := coalesce(x0, 0) + 1; x0 := coalesce(x0, 0); END IF;
    IF y1 IS NULL OR y1 = y0 THEN y1 := coalesce(y0, 0) + 1; y0 := coalesce(y0, 0); END IF;
    -- legend order: the commonest groups first; beyond ten they share grey
    SELECT array_agg(gv ORDER BY cnt DESC, gv) INTO names
      FROM (SELECT coalesce(gv, '(NULL)') AS gv, count(*) AS cnt FROM unnest(groups) gv GROUP BY 1) c;
    out := format('<figure><svg width="%s" height="%s" viewBox="0 0 %s %s" role="img">'
                  '<title>%s</title><text x="4" y="14" font-size="12" font-weight="bold">%s</text>'
                  '<rect x="%s" y="%s" width="%s" height="%s" fill="none" stroke="#333"/>',
                  w, h, w, h, aigc.html_escape(title), aigc.html_escape(title), m, m + 10, plot, plot);
    FOR i IN 1 .. coalesce(cardinality(x), 0) LOOP
        g := array_position(names, coalesce(groups[i], '(NULL)'));
        out := out || format('<circle cx="%s" cy="%s" r="2" fill="%s" fill-opacity="0.6"/>',
                             round((m + 4 + (plot - 8) * (x[i] - x0) / (x1 - x0))::numeric, 1),
                             round((m + 6 + plot - (plot - 8) * (y[i] - y0) / (y1 - y0))::numeric, 1),
                             CASE WHEN g <= 10 THEN colours[g] ELSE '#bbb' END);
    END LOOP;
    FOR i IN 1 .. least(coalesce(cardinality(names), 0), 11) LOOP
        out := out || format('<rect x="%s" y="%s" width="10" height="8" fill="%s"/><text x="%s" y="%s" font-size="9">%s</text>',
                             m + plot + 12, 30 + 14 * i, CASE WHEN i <= 10 THEN colours[i] ELSE '#bbb' END,
                             m + plot + 26, 38 + 14 * i,
                             CASE WHEN i <= 10 THEN aigc.html_escape(left(names[i], 22)) ELSE 'other' END);
    END LOOP;
    RETURN out || '</svg></figure>';
END
$$;
COMMENT ON FUNCTION aigc.svg_scatter(text, float8[], float8[], text[]) IS
    'Internal (aigc_report): an SVG scatter plot of points coloured by group (ten colours, then grey)';

CREATE FUNCTION aigc_report(model text, relation regclass, target text DEFAULT NULL,
                            n integer DEFAULT 5000, seed bigint DEFAULT 0, group_by text DEFAULT NULL,
                            holdout regclass DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m record;
    ev jsonb;
    names text[];
    cells float8[];
    cell float8;
    c record;
    cat "char";
    expr text;
    labels text[];
    rv float8[];
    sv float8[];
    lo_text text;
    hi_text text;
    rnull float8;
    snull float8;
    body text := '';
    row_html text;
    lm record;
    x float8[];
    y float8[];
    g text[];
    caption text;
    sample_sql text;
BEGIN
    IF model IS NULL OR relation IS NULL THEN
        RAISE EXCEPTION 'model and relation must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT s.version, s.kind, s.columns, s.loss, s.train_rows, s.train_seconds, s.source INTO m
      FROM aigc.models s WHERE s.name = model AND s.in_use;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'model "%" does not exist', model USING ERRCODE = 'undefined_object';
    END IF;
    SELECT jsonb_agg(to_jsonb(e) ORDER BY o) INTO ev
      FROM @extschema@.aigc_evaluate(model, relation, n, seed, version => m.version, target => target,
                                     holdout => holdout)
           WITH ORDINALITY AS e(property, metric, column_names, value, o);

    -- overall scores and column shapes
    body := body || '<h2>Quality</h2><table><tr><th>score</th><th>value</th></tr>';
    SELECT body || string_agg(format('<tr><td>%s</td><td>%s</td></tr>', aigc.html_escape(e->>'metric'),
                                     coalesce(round((e->>'value')::numeric, 4)::text, 'undefined')), '' ORDER BY o)
      INTO body
      FROM jsonb_array_elements(ev) WITH ORDINALITY AS a(e, o) WHERE e->>'property' = 'Overall';
    body := body || '</table><table><tr><th>column</th><th>shape metric</th><th>score</th></tr>';
    SELECT body || string_agg(format('<tr><td>%s</td><td>%s</td><td>%s</td></tr>', aigc.html_escape(e->>'column_names'),
                                     aigc.html_escape(e->>'metric'),
                                     coalesce(round((e->>'value')::numeric, 4)::text, 'undefined')), '' ORDER BY o),
           array_agg(e->>'column_names' ORDER BY o)
      INTO body, names
      FROM jsonb_array_elements(ev) WITH ORDINALITY AS a(e, o) WHERE e->>'property' = 'Column Shapes';
    body := body || '</table>';

    -- pair trends: 1 - score off the diagonal, 1 - shape score on it
    cells := array_fill(NULL::float8, ARRAY[cardinality(names) * cardinality(names)]);
    FOR i IN 1 .. cardinality(names) LOOP
        FOR j IN 1 .. cardinality(names) LOOP
            SELECT 1 - (e->>'value')::float8 INTO cell
              FROM jsonb_array_elements(ev) e
             WHERE (i = j AND e->>'property' = 'Column Shapes' AND e->>'column_names' = names[i])
                OR (i <> j AND e->>'property' = 'Column Pair Trends'
                    AND e->>'column_names' = names[least(i, j)] || ', ' || names[greatest(i, j)]);
            cells[(i - 1) * cardinality(names) + j] := cell;
        END LOOP;
    END LOOP;
    body := body || '<h2>Column pair trends</h2>'
                 || aigc.svg_heatmap('Differences: 1 - pair trend score (diagonal: 1 - column shape score)', names, cells);

    -- distributions, column by column in the model's order
    body := body || '<h2>Distributions: real against synthetic</h2><div class="grid">';
    sample_sql := format('@extschema@.aigc_sample(NULL::%s, $1, $2, seed => $3, version => $4)', relation);
    FOR c IN SELECT col->>'name' AS name, col->>'encoding' <> 'one-hot' AS continuous
               FROM jsonb_array_elements(m.columns) WITH ORDINALITY AS a(col, o) ORDER BY o LOOP
        SELECT t.typcategory INTO cat
          FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
         WHERE a.attrelid = relation AND a.attname = c.name AND NOT a.attisdropped;
        IF c.continuous THEN
            -- 20 equal-width bins over the real range; synthetic values outside it join the end bins
            expr := CASE WHEN cat = 'D' THEN format('extract(epoch FROM t.%I)::float8', c.name)
                         ELSE format('t.%I::float8', c.name) END;
            EXECUTE format($q$
                WITH r AS (SELECT %1$s AS v, t.%2$I::text AS v_text FROM %3$s t),
                     s AS (SELECT %1$s AS v FROM %4$s t),
                     b AS (SELECT min(v) AS lo, max(v) AS hi, count(v) AS nr, count(*) AS nall FROM r),
                     bins AS (SELECT 'r' AS side, least(20, greatest(1, CASE WHEN b.hi > b.lo
                                        THEN floor(20 * (r.v - b.lo) / (b.hi - b.lo))::int + 1 ELSE 1 END)) AS k
                                FROM r, b WHERE r.v IS NOT NULL
                              UNION ALL
                              SELECT 's', least(20, greatest(1, CASE WHEN b.hi > b.lo
                                        THEN floor(20 * (s.v - b.lo) / (b.hi - b.lo))::int + 1 ELSE 1 END))
                                FROM s, b WHERE s.v IS NOT NULL),
                     ns AS (SELECT count(v) AS ns, count(*) AS sall FROM s)
                SELECT array_agg((SELECT count(*) FROM bins WHERE side = 'r' AND k = i)::float8 / greatest(b.nr, 1) ORDER BY i),
                       array_agg((SELECT count(*) FROM bins WHERE side = 's' AND k = i)::float8 / greatest(ns.ns, 1) ORDER BY i),
                       (SELECT v_text FROM r WHERE v = b.lo LIMIT 1), (SELECT v_text FROM r WHERE v = b.hi LIMIT 1),
                       1 - b.nr::float8 / greatest(b.nall, 1), 1 - ns.ns::float8 / greatest(ns.sall, 1)
                  FROM b, ns, generate_series(1, 20) i
                 GROUP BY b.lo, b.hi, b.nr, b.nall, ns.ns, ns.sall$q$, expr, c.name, relation, sample_sql)
               INTO rv, sv, lo_text, hi_text, rnull, snull
              USING model, n::bigint, seed, m.version;
            body := body || aigc.svg_bars(format('%s (NULL: real %s%%, synthetic %s%%)', c.name,
                                                 round((100 * rnull)::numeric, 1), round((100 * snull)::numeric, 1)),
                                          NULL, rv, sv, lo_text, hi_text);
        ELSE
            -- shares of the 20 commonest values (real, then synthetic counts)
            EXECUTE format($q$
                WITH r AS (SELECT coalesce(t.%1$I::text, '(NULL)') AS v FROM %2$s t),
                     s AS (SELECT coalesce(t.%1$I::text, '(NULL)') AS v FROM %3$s t),
                     j AS (SELECT v, coalesce(rc.c, 0)::float8 / greatest((SELECT count(*) FROM r), 1) AS rs,
                                  coalesce(sc.c, 0)::float8 / greatest((SELECT count(*) FROM s), 1) AS ss
                             FROM (SELECT v, count(*) AS c FROM r GROUP BY v) rc
                             FULL JOIN (SELECT v, count(*) AS c FROM s GROUP BY v) sc USING (v)
                            ORDER BY rs DESC, ss DESC, v LIMIT 20)
                SELECT array_agg(v ORDER BY rs DESC, ss DESC, v), array_agg(rs ORDER BY rs DESC, ss DESC, v),
                       array_agg(ss ORDER BY rs DESC, ss DESC, v) FROM j$q$, c.name, relation, sample_sql)
               INTO labels, rv, sv
              USING model, n::bigint, seed, m.version;
            body := body || aigc.svg_bars(c.name, labels, rv, sv);
        END IF;
    END LOOP;
    body := body || '</div>';

    body := body || '<h2>Training</h2>' || aigc.svg_lines('Training loss per epoch', m.loss);

    -- privacy and detection
    body := body || '<h2>Privacy and detection</h2><table><tr><th>metric</th><th></th><th>value</th></tr>';
    SELECT body || string_agg(format('<tr><td>%s</td><td>%s</td><td>%s</td></tr>', aigc.html_escape(e->>'metric'),
                                     aigc.html_escape(coalesce(e->>'column_names', '')),
                                     coalesce(round((e->>'value')::numeric, 4)::text, 'undefined')), '' ORDER BY o)
      INTO body
      FROM jsonb_array_elements(ev) WITH ORDINALITY AS a(e, o) WHERE e->>'property' IN ('Privacy', 'Detection');
    body := body || '</table>';

    IF target IS NOT NULL THEN
        body := body || format('<h2>ML efficacy: predicting %s</h2><table><tr><th>metric</th><th>synthetic (TSTR)</th><th>real (TRTR)</th><th>ratio</th></tr>',
                               aigc.html_escape(target));
        SELECT body || string_agg(format('<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>', aigc.html_escape(metric),
                                         coalesce(round(s::numeric, 4)::text, 'undefined'),
                                         coalesce(round(r::numeric, 4)::text, 'undefined'),
                                         coalesce(round(q::numeric, 4)::text, 'undefined')), '' ORDER BY first),
               array_agg(metric ORDER BY first), array_agg(r ORDER BY first), array_agg(s ORDER BY first)
          INTO body, labels, rv, sv
          FROM (SELECT e->>'metric' AS metric, min(o) AS first,
                       max((e->>'value')::float8) FILTER (WHERE e->>'column_names' = 'synthetic') AS s,
                       max((e->>'value')::float8) FILTER (WHERE e->>'column_names' = 'real') AS r,
                       max((e->>'value')::float8) FILTER (WHERE e->>'column_names' = 'ratio') AS q
                  FROM jsonb_array_elements(ev) WITH ORDINALITY AS a(e, o)
                 WHERE e->>'property' = 'ML Efficacy' AND e->>'metric' <> 'majority share'
                 GROUP BY e->>'metric') f;
        body := body || '</table>'
                     || coalesce((SELECT format('<p>Always predicting the commonest class of the holdout scores an accuracy of %s.</p>',
                                                round((e->>'value')::numeric, 4))
                                    FROM jsonb_array_elements(ev) e WHERE e->>'metric' = 'majority share'), '');
        body := body || aigc.svg_bars('ML efficacy: trained on real against trained on synthetic',
                                      labels, rv, sv);
    END IF;

    IF group_by IS NOT NULL THEN
        SELECT array_agg(l.x ORDER BY o) FILTER (WHERE l.kind = 'row'),
               array_agg(l.y ORDER BY o) FILTER (WHERE l.kind = 'row'),
               array_agg(l.group_value ORDER BY o) FILTER (WHERE l.kind = 'row'),
               format('The plane explains %s%% of the latent variance; separation of the groups (between / within variance): %s.',
                      round((100 * max(l.value) FILTER (WHERE l.kind = 'explained'))::numeric, 1),
                      coalesce(round(max(l.value) FILTER (WHERE l.kind = 'separation')::numeric, 2)::text, 'undefined'))
          INTO x, y, g, caption
          FROM @extschema@.aigc_latent_map(model, relation, group_by, least(n, 2000), seed)
               WITH ORDINALITY AS l(kind, group_value, x, y, value, o);
        body := body || format('<h2>Latent map by %s</h2>', aigc.html_escape(group_by))
                     || aigc.svg_scatter(format('Latent means, first two principal components, by %s', group_by), x, y, g)
                     || '<p>' || caption || '</p>';
    END IF;

    RETURN format('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>%s</title>'
                  '<style>body{font-family:sans-serif;margin:2em;max-width:75em}table{border-collapse:collapse;margin:1em 0}'
                  'td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}figure{display:inline-block;margin:.5em}'
                  '.grid{display:flex;flex-wrap:wrap}</style></head><body>'
                  '<h1>%s</h1><p>Model %s version %s (%s, %s training rows, %s s), evaluated against %s with %s synthetic rows, seed %s.</p>%s'
                  '</body></html>',
                  aigc.html_escape('Synthetic data report: ' || model),
                  aigc.html_escape('Synthetic data report: ' || model),
                  aigc.html_escape(model), m.version, aigc.html_escape(m.kind), m.train_rows,
                  round(m.train_seconds::numeric, 1), aigc.html_escape(relation::text), n, seed, body);
END
$$;
COMMENT ON FUNCTION aigc_report(text, regclass, text, integer, bigint, text, regclass) IS
    'A self-contained HTML report (inline SVG charts, no scripts) of a model against a real relation: quality scores, distributions, pair-trend heatmap, training loss, privacy (membership inference against holdout), ML efficacy of target and the latent map by group_by';

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

CREATE FUNCTION aigc_latent_map(model text, relation regclass, group_by text,
                                n integer DEFAULT 2000, seed bigint DEFAULT 0)
RETURNS TABLE (kind text, group_value text, x float8, y float8, value float8)
AS 'MODULE_PATHNAME', 'aigc_latent_map'
LANGUAGE C STABLE CALLED ON NULL INPUT;
COMMENT ON FUNCTION aigc_latent_map(text, regclass, text, integer, bigint) IS
    'A 2-D map of a VAE''s latent space: a seeded sample of n rows projected on the two principal components of their latent means (kind row), the centroid of each group_by value (centroid), the variance the plane explains (explained) and the between/within-group variance ratio (separation)';

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
