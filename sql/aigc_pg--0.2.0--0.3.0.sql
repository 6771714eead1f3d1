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

-- aigc_report passes an optional holdout on to aigc_evaluate: a new
-- parameter, so the function is dropped and created again.
DROP FUNCTION aigc_report(text, regclass, text, integer, bigint, text);
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
