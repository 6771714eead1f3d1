#!/usr/bin/env bash
# aigc_pg on a Citus cluster (docs/citus.md): a coordinator and two workers
# started by scripts/cluster.sh.  Models reach every worker with the same
# version and privileges, scoring and the insert trigger run on the workers
# (the EXPLAIN (VERBOSE) of the scoring query is printed), distributed
# sampling is reproducible, and a worker that is down during a deploy ends
# consistent.
#
# Run by scripts/test.sh (prove test/shell/*.sh), or on its own from the
# repository root: bash test/shell/citus.sh.  Either way it builds and
# installs Citus when it is missing (a few minutes, once); when Citus cannot
# be built here (no source tarball in ../shared/citus, or the build fails)
# the whole file is skipped with the reason.  AIGC_CITUS=skip skips it too.
source "$(dirname "${BASH_SOURCE[0]}")/lib/tap.sh"
# shellcheck source=scripts/cluster.sh
source "$ROOT/scripts/cluster.sh"
set +e
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"

if [ "${AIGC_CITUS:-}" = skip ]; then
    echo "1..0 # SKIP AIGC_CITUS=skip"
    exit 0
fi
set -e
ensure_packages
build_install
set +e
# in a subshell: a failing apt-get exits
if ! (citus_build_install); then
    echo "1..0 # SKIP Citus cannot be built here: $(tr '\n' ' ' <"$CITUS_BUILD_REASON" 2>/dev/null)"
    exit 0
fi
if ! (set -e; citus_start); then
    echo "1..1"
    echo "not ok 1 - the Citus cluster starts (logs in $CITUS_BASE)"
    citus_stop
    exit 1
fi
trap citus_stop EXIT

plan 36

# One value from a query on node $1
cq() {
    local node="$1"
    shift
    citus_psql "$node" -At -c "SET client_min_messages = warning" -c "$*"
}
# psql on node $1 printing the error (or nothing) of a statement, for SQLSTATE checks
cq_state() {
    local node="$1"
    shift
    citus_psql "$node" -At -v VERBOSITY=verbose -c "SET client_min_messages = warning" -c "$*" 2>&1 >/dev/null |
        sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\):.*/\1/p' | head -n 1
}
version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$ROOT/aigc_pg.control")
in_use() { cq "$1" "SELECT string_agg(version || ':' || in_use, ',' ORDER BY version) FROM aigc.models WHERE name = 'contrib_vae'"; }

is "$(cq coordinator "SELECT count(*) FROM pg_dist_node WHERE noderole = 'primary' AND isactive")" "3" \
   "coordinator and two workers are registered"
is "$(cq worker1 "SELECT extversion FROM pg_extension WHERE extname = 'aigc_pg'")|$(cq worker2 "SELECT extversion FROM pg_extension WHERE extname = 'aigc_pg'")" \
   "$version|$version" "aigc_pg $version is installed on both workers"
is "$(cq coordinator "SELECT count(*) FROM pg_dist_partition p JOIN pg_dist_shard s USING (logicalrelid)
                      JOIN pg_dist_placement pl USING (shardid)
                      WHERE p.logicalrelid::text LIKE 'aigc.%' AND p.partmethod = 'n'")" "15" \
   "the five store tables are reference tables with a replica on all three nodes"

# the demo ledger, distributed by person, plus a local copy on the coordinator
# for single-node reference scores
(cd "$ROOT" && citus_psql coordinator -f data/contributions.sql >/dev/null)
citus_psql coordinator >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE TABLE contrib_local AS SELECT * FROM contributions;
ALTER TABLE contributions DROP CONSTRAINT contributions_pkey;
SELECT create_distributed_table('contributions', 'person_id');
SELECT truncate_local_data_after_distributing_table('contributions');
SQL
opts='{"epochs": 2, "encoder_dims": [32], "decoder_dims": [32], "latent_dim": 8, "progress_every": 0'
is "$(cq coordinator "SELECT train_rows FROM aigc_train('contrib_vae', 'contributions'::regclass, options => '$opts, \"seed\": 1}')")" \
   "20000" "aigc_train reads every shard of the distributed table through Citus"
cq coordinator "SELECT version FROM aigc_train('contrib_vae', 'contributions'::regclass, options => '$opts, \"seed\": 2}')" >/dev/null
is "$(in_use worker1)|$(in_use worker2)" "1:false,2:true|1:false,2:true" "both versions reach both workers"
# over aigc.train_memory_limit the workers draw the sample: fewer rows travel
# (a network small enough to leave the rows most of the 1 MB)
small_opts='{"epochs": 1, "encoder_dims": [16], "decoder_dims": [16], "latent_dim": 4, "batch_size": 64, "progress_every": 0'
small=$(citus_psql coordinator -At -c "SET client_min_messages = warning" -c "SET aigc.train_memory_limit = '1MB'" \
    -c "SELECT version FROM aigc_train('contrib_small', 'contributions'::regclass, options => '$small_opts, \"seed\": 3}')")
is "$(cq coordinator "SELECT (stats->>'rows_scanned')::bigint BETWEEN 3000 AND 8000 FROM aigc.models WHERE name = 'contrib_small' AND version = $small")" \
   "t" "a training over aigc.train_memory_limit reads a sample drawn on the workers (about 1.2 times the rows that fit, not 20000)"

# scoring is pushed down to the shards
score_query="SELECT person_id, aigc_score('contrib_vae', c.*) FROM contributions c ORDER BY 2 DESC LIMIT 20"
plan_text=$(cq coordinator "EXPLAIN (VERBOSE, COSTS OFF) $score_query")
echo "# EXPLAIN (VERBOSE, COSTS OFF) $score_query"
echo "$plan_text" | sed 's/^/#   /'
ok grep -q "Task Count: 32" <<<"$plan_text" "the scoring query runs as one task per shard"
ok grep -qE "Query: SELECT .*aigc_score\('contrib_vae'::text, c\.\*.*FROM public\.contributions_[0-9]+ c" <<<"$plan_text" \
   "aigc_score is shipped to the workers inside the shard queries"
ok grep -qE "Seq Scan on public\.contributions_[0-9]+ c" <<<"$plan_text" \
   "and evaluated there over the shard, next to its rows"

# scores through the cluster against the same rows scored on the coordinator alone
compare="WITH d AS (SELECT id, aigc_score('contrib_vae', c.*) AS s FROM contributions c),
               l AS (SELECT id, aigc_score('contrib_vae', c.*) AS s FROM contrib_local c)
          SELECT count(*) || ' ' || (max(abs(d.s - l.s)) < 1e-6) FROM d JOIN l USING (id)"
is "$(cq coordinator "$compare")" "20000 true" \
   "scores computed on the workers equal single-node scores to 1e-6 (version 2 in use)"

# with parallel plans on the workers (and on the coordinator for the local copy),
# the parallel workers load the model from their node's replica too
parallel=$(citus_psql coordinator -At <<SQL
SET client_min_messages = warning;
BEGIN;
SET LOCAL citus.propagate_set_commands = 'local';
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
EXPLAIN (COSTS OFF) SELECT aigc_score('contrib_vae', c.*) FROM contributions c;
$compare;
COMMIT;
SQL
)
ok grep -q "Parallel Seq Scan on contributions_" <<<"$parallel" "with parallel plans forced, the shards are scanned by parallel workers"
is "$(tail -n 1 <<<"$parallel")" "20000 true" "and their scores still equal single-node scores"

# deploy, then the same workers' backends (Citus keeps their connections) score with it
cq coordinator "SELECT aigc_deploy('contrib_vae', 1)" >/dev/null
is "$(in_use worker1)|$(in_use worker2)" "1:true,2:false|1:true,2:false" "a deploy reaches both workers"
is "$(cq coordinator "$compare")" "20000 true" \
   "cached models on the workers are invalidated: scores follow the deploy"
cq coordinator "SELECT aigc_rollback('contrib_vae')" >/dev/null
is "$(in_use worker1)|$(in_use worker2)" "1:false,2:true|1:false,2:true" "a rollback reaches both workers"

cq coordinator "SELECT aigc_calibrate('contrib_vae', 'contributions'::regclass)" >/dev/null
is "$(cq coordinator "SELECT count(*) || ' ' || bool_and(p BETWEEN 0 AND 1)
                      FROM (SELECT aigc_score_percentile('contrib_vae', c.*) AS p FROM contributions c) x")" "20000 true" \
   "a calibration reaches the workers, which compute percentiles from it"
cq coordinator "SELECT aigc_drop('contrib_small')" >/dev/null
is "$(cq worker1 "SELECT count(*) FROM aigc.model_store WHERE name = 'contrib_small'")$(cq worker2 "SELECT count(*) FROM aigc.model_store WHERE name = 'contrib_small'")" \
   "00" "a dropped model is gone from both workers"

# a worker down during a deploy: refused, nothing changes anywhere
citus_node_stop worker2 immediate
state=$(cq_state coordinator "SELECT aigc_deploy('contrib_vae', 1)")
citus_node_start worker2
is "$state" "08006" "a deploy while a worker is down fails (connection failure), it is not half-applied"
is "$(in_use coordinator)|$(in_use worker1)|$(in_use worker2)" \
   "1:false,2:true|1:false,2:true|1:false,2:true" "after the restart every node still serves version 2"
# a worker crashing inside the deploy's transaction, before its commit
crash="$PGBIN/pg_ctl -D $CITUS_BASE/worker2 stop -m immediate -w"
[ "$(id -u)" -eq 0 ] && crash="runuser -u postgres -- $crash"
citus_psql coordinator >/dev/null 2>&1 <<SQL
BEGIN;
SELECT aigc_deploy('contrib_vae', 1);
\\! $crash >/dev/null 2>&1
COMMIT;
SQL
citus_node_start worker2
is "$(in_use coordinator)|$(in_use worker1)|$(in_use worker2)" \
   "1:false,2:true|1:false,2:true|1:false,2:true" "a worker crashing before the commit aborts the deploy on every node"
cq coordinator "SELECT aigc_deploy('contrib_vae', 1)" >/dev/null
is "$(in_use worker1)|$(in_use worker2)" "1:true,2:false|1:true,2:false" "deployed again after the restart: both workers agree"
# A worker that prepared its part of a deploy but never got COMMIT PREPARED
# (it crashed in between) holds the change in a prepared transaction until
# Citus recovers it; meanwhile it refuses to score rather than use the
# previous version.  The prepared transaction is made by hand here: a
# deployment row, in the worker's replica, prepared and not committed.
shard=$(cq coordinator "SELECT shard_name('aigc.deployments', shardid) FROM pg_dist_shard
                        WHERE logicalrelid = 'aigc.deployments'::regclass")
citus_psql worker2 >/dev/null <<SQL
BEGIN;
INSERT INTO $shard (name, seq, version, deployed_by)
SELECT name, max(seq) + 1, 2, 'test' FROM $shard WHERE name = 'contrib_vae' GROUP BY name;
PREPARE TRANSACTION 'aigc_test_in_doubt';
SQL
err=$(citus_psql coordinator -At -v VERBOSITY=verbose -c "SELECT count(aigc_score('contrib_vae', c.*)) FROM contributions c" 2>&1 >/dev/null)
ok grep -q "ERROR:  55000: the model store of this node has a prepared transaction that is not committed yet" <<<"$err" \
   "a worker whose replica holds an uncommitted prepared change refuses to score (after waiting 10 s)"
citus_psql worker2 -c "COMMIT PREPARED 'aigc_test_in_doubt'" >/dev/null
is "$(in_use worker2)" "1:false,2:true" "once the prepared change commits, the worker serves it"
citus_psql worker2 -c "DELETE FROM $shard WHERE deployed_by = 'test'" >/dev/null
is "$(in_use worker2)" "1:true,2:false" "(test cleanup: worker 2 is back to the coordinator's state)"

# distributed sampling: one part per worker, reproducible
sample="SELECT count(*) || ' ' || md5(string_agg(t::text, ',' ORDER BY t::text))
          FROM aigc_sample_distributed(NULL::contributions, 'contrib_vae', 2001, seed => 7) t"
first=$(cq coordinator "$sample")
parts="SELECT count(*) || ' ' || md5(string_agg(t::text, ',' ORDER BY t::text)) FROM (
         SELECT * FROM aigc_sample(NULL::contributions, 'contrib_vae', 1001, seed => aigc.sample_part_seed(7, 0))
         UNION ALL
         SELECT * FROM aigc_sample(NULL::contributions, 'contrib_vae', 1000, seed => aigc.sample_part_seed(7, 1))) t"
ok grep -qE '^2001 [0-9a-f]{32}$' <<<"$first" "aigc_sample_distributed returns n rows"
is "$(cq coordinator "$sample")" "$first" "and the same rows for the same seed"
is "$(cq coordinator "$parts")" "$first" \
   "they are the union of the two workers' parts, each with its own seed"

# the insert trigger fires on the shards
citus_psql coordinator >/dev/null <<'SQL'
SET client_min_messages = warning;
SET citus.enable_unsafe_triggers = on;
ALTER TABLE contributions ADD COLUMN anomaly_score float8;
CREATE TRIGGER score_new BEFORE INSERT ON contributions
    FOR EACH ROW EXECUTE FUNCTION aigc_score_trigger('contrib_vae', 'anomaly_score');
INSERT INTO contributions (person_id, age, gender, region, employer_type, part_time, monthly_wage,
                           contribution_base, amount, month, paid_on_time, days_late)
SELECT person_id, age, gender, region, employer_type, part_time, monthly_wage,
       contribution_base, amount, month, paid_on_time, days_late
  FROM contrib_local ORDER BY id LIMIT 50;
SQL
is "$(cq worker1 "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'score_new_%'")+$(cq worker2 "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'score_new_%'")" \
   "16+16" "the trigger is on every shard, on the workers"
is "$(cq coordinator "SELECT count(*) || ' ' || bool_and(abs(anomaly_score - aigc_score('contrib_vae', c.*)) < 1e-6)
                      FROM contributions c WHERE anomaly_score IS NOT NULL")" "50 true" \
   "rows inserted through the coordinator are scored by the trigger on the shards"

# batch scoring in place, on every shard (run_command_on_shards); not from the coordinator
is "$(cq_state coordinator "SELECT count(*) FROM aigc_score_batch('contrib_vae', 'contributions')")" "0A000" \
   "aigc_score_batch on a distributed table from the coordinator is refused (ctids are per shard)"
cq coordinator "SELECT count(*) FROM run_command_on_shards('contributions',
    \$\$UPDATE %1\$s t SET anomaly_score = b.score FROM aigc_score_batch('contrib_vae', '%1\$s') b
       WHERE t.ctid = b.row_ctid\$\$) WHERE success" >/dev/null
is "$(cq coordinator "SELECT count(*) || ' ' || bool_and(abs(anomaly_score - aigc_score('contrib_vae', c.*)) < 1e-4)
                      FROM contributions c")" "20050 true" \
   "aigc_score_batch scores every shard on its worker (run_command_on_shards)"

# privileges hold on the workers
citus_psql coordinator >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE ROLE citus_nouse LOGIN;  -- Citus connects to the workers as the user
GRANT SELECT ON contributions TO citus_nouse;
SQL
nouse="SET ROLE citus_nouse; SELECT count(aigc_score('contrib_vae', c.*)) FROM contributions c"
err=$(citus_psql coordinator -At -v VERBOSITY=verbose -c "$nouse" 2>&1 >/dev/null)
ok grep -qE "ERROR:  42501: permission denied for model \"contrib_vae\"" <<<"$err" \
   "a role without use is refused"
ok grep -q "while executing command on $CITUS_SOCK:$((CITUS_PORT + 1))\|while executing command on $CITUS_SOCK:$((CITUS_PORT + 2))" <<<"$err" \
   "and the refusal comes from a worker"
cq coordinator "SELECT aigc_grant('contrib_vae', 'citus_nouse', 'use')" >/dev/null
is "$(citus_psql worker2 -At -c "SET ROLE citus_nouse" -c "SELECT aigc.has_model_privilege('contrib_vae', 'use')")" "t" \
   "a grant on the coordinator holds on a worker (by role name)"
is "$(cq coordinator "$nouse")" "20050" "with use granted the role scores through the cluster"
cq coordinator "SELECT aigc_revoke('contrib_vae', 'citus_nouse', 'use')" >/dev/null
is "$(citus_psql worker1 -At -c "SET ROLE citus_nouse" -c "SELECT aigc.has_model_privilege('contrib_vae', 'use')")" "f" \
   "a revoke on the coordinator holds on the workers"

done_testing
