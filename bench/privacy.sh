#!/usr/bin/env bash
# Differentially private training benchmark (docs/privacy.md): seconds per
# epoch of VAE and transformer training with and without DP-SGD side by
# side (and their ratio), and the quality of the samples (aigc_evaluate) at
# epsilon 1, 3 and 10 and without DP, on the 20000-row demo table
# contributions.
#
#   bash bench/privacy.sh        # AIGC_BENCH_EPOCHS=N: the VAE's epochs (default 10)
#                                # AIGC_BENCH_TF_EPOCHS=N: the transformer's (default 3)
#
# Wall-clock seconds suffer from other processes on a shared machine, so the
# cost of DP-SGD is measured a second way too: the CPU seconds the training
# backend spends (utime + stime of /proc/self/stat, Linux), per epoch as
# half the difference between a 3-epoch and a 1-epoch run, so that reading
# the rows and fitting the column encoder cancel out (after a warm-up run
# that brings the table into memory).
#
# Installs what is missing, builds, and runs on its own throwaway cluster,
# like scripts/demo.sh.  Every run of a kind has the same options (the
# kind's defaults, seed 1; the transformer without column id) but for
# privacy (null: none); delta is 1e-6 < 1 / 20000.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"

EPOCHS="${AIGC_BENCH_EPOCHS:-10}"
TF_EPOCHS="${AIGC_BENCH_TF_EPOCHS:-3}"

bench_cluster aigc_bench
load_demo_data aigc_bench

log "training on contributions, VAE $EPOCHS and transformer $TF_EPOCHS epochs each: without DP, then at epsilon 10, 3 and 1"
cd "$ROOT"
"$PGBIN/psql" -X -v ON_ERROR_STOP=1 -q -P pager=off -d aigc_bench -v epochs="$EPOCHS" \
    -v tf_epochs="$TF_EPOCHS" -v clk_tck="$(getconf CLK_TCK)" <<'SQL'
SET client_min_messages = warning;
CREATE FUNCTION pg_temp.cpu_ticks() RETURNS float8 LANGUAGE sql AS $f$
    SELECT split_part(s, ' ', 14)::float8 + split_part(s, ' ', 15)::float8
      FROM pg_read_file('/proc/self/stat') s
$f$;
CREATE TEMP TABLE cost (kind text, private bool, epochs int, cpu float8);
INSERT INTO cost
SELECT k, p, e, NULL FROM unnest('{vae,transformer}'::text[]) k, unnest('{false,true}'::bool[]) p,
       unnest('{1,3}'::int[]) e;
SELECT aigc_train('cost_warm_up', 'contributions'::regclass, 'vae', '{"epochs": 1, "progress_every": 0}') AS warm_up \gset
DO $d$
DECLARE
    c record;
    c0 float8;
BEGIN
    FOR c IN SELECT * FROM cost LOOP
        c0 := pg_temp.cpu_ticks();
        PERFORM aigc_train(format('cost_%s_%s_%s', c.kind, c.private, c.epochs), 'contributions'::regclass,
                           c.kind, jsonb_build_object('epochs', c.epochs, 'seed', 1, 'progress_every', 0,
                                                      'exclude', CASE c.kind WHEN 'transformer' THEN '["id"]'::jsonb ELSE '[]' END,
                                                      'privacy', CASE WHEN c.private THEN '{"epsilon": 3, "delta": 1e-6}'::jsonb END));
        UPDATE cost SET cpu = pg_temp.cpu_ticks() - c0
         WHERE kind = c.kind AND private = c.private AND epochs = c.epochs;
    END LOOP;
END
$d$;
\echo
\echo 'Cost of DP-SGD: CPU seconds of the training backend per epoch ((3-epoch run - 1-epoch run) / 2)'
SELECT kind, round(no_dp::numeric, 2) AS no_dp_cpu_seconds_per_epoch,
       round(dp::numeric, 2) AS dp_cpu_seconds_per_epoch, round((dp / no_dp)::numeric, 2) AS dp_vs_no_dp
  FROM (SELECT kind,
               (max(cpu) FILTER (WHERE NOT private AND epochs = 3) - max(cpu) FILTER (WHERE NOT private AND epochs = 1)) / 2 AS no_dp,
               (max(cpu) FILTER (WHERE private AND epochs = 3) - max(cpu) FILTER (WHERE private AND epochs = 1)) / 2 AS dp
          FROM (SELECT kind, private, epochs, cpu / :clk_tck AS cpu FROM cost) c
         GROUP BY kind) k
 ORDER BY kind DESC;
CREATE TEMP TABLE runs (kind text, model text, privacy jsonb, options jsonb);
INSERT INTO runs
SELECT k.kind, k.prefix || e.suffix, e.privacy,
       jsonb_build_object('epochs', k.epochs, 'seed', 1, 'privacy', e.privacy) || k.extra
  FROM (VALUES ('vae', 'bench_vae', :'epochs'::int, '{}'::jsonb),
               ('transformer', 'bench_tf', :'tf_epochs'::int, '{"exclude": ["id"]}'::jsonb))
       k(kind, prefix, epochs, extra),
       (VALUES (1, '_nodp', NULL::jsonb),
               (2, '_eps10', '{"epsilon": 10, "delta": 1e-6}'),
               (3, '_eps3', '{"epsilon": 3, "delta": 1e-6}'),
               (4, '_eps1', '{"epsilon": 1, "delta": 1e-6}')) e(i, suffix, privacy)
 ORDER BY k.kind DESC, e.i;
SELECT count(aigc_train(model, 'contributions'::regclass, kind, options)) FROM runs \gset
\echo
\echo 'Training with and without DP-SGD (the kinds'' defaults; expected batch under DP = batch_size)'
WITH t AS (
    SELECT r.ctid AS run, r.kind, r.model, r.privacy, m.privacy AS spent, m.stats, m.loss,
           (m.stats->>'train_loop_seconds')::float8 / (r.options->>'epochs')::int AS spe
      FROM runs r JOIN aigc.models m ON m.name = r.model)
SELECT t.kind, t.model, coalesce(t.privacy->>'epsilon', '-') AS target_epsilon,
       round((t.spent->>'epsilon')::numeric, 4) AS epsilon_spent,
       round((t.spent->>'noise_multiplier')::numeric, 4) AS noise_multiplier,
       (t.stats->>'steps')::int AS steps,
       round(t.spe::numeric, 3) AS seconds_per_epoch,
       round((t.spe / max(t.spe) FILTER (WHERE t.privacy IS NULL) OVER (PARTITION BY t.kind))::numeric, 2)
           AS vs_no_dp,
       round((coalesce(t.loss->'loss', t.loss->'nll')->>-1)::numeric, 3) AS final_loss
  FROM t
 ORDER BY t.run;
\echo
\echo 'Quality of 10000 samples against the table (aigc_evaluate, seed 0)'
SELECT r.kind, r.model,
       round(max(e.value) FILTER (WHERE e.property = 'Overall' AND e.metric = 'Quality Score')::numeric, 4) AS quality,
       round(max(e.value) FILTER (WHERE e.property = 'Overall' AND e.metric = 'Column Shapes')::numeric, 4) AS column_shapes,
       round(max(e.value) FILTER (WHERE e.property = 'Overall' AND e.metric = 'Column Pair Trends')::numeric, 4) AS pair_trends,
       round(max(e.value) FILTER (WHERE e.metric = 'Logistic regression ROC AUC')::numeric, 4) AS detection_auc
  FROM runs r CROSS JOIN LATERAL aigc_evaluate(r.model, 'contributions'::regclass, n => 10000) e
 GROUP BY r.kind, r.model
 ORDER BY min(r.ctid);
SQL
