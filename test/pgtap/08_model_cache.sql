-- The per-backend model cache: loaded once, dropped when the store changes,
-- in this backend and in others (through dblink, which commits on its own).
BEGIN;
SELECT plan(21);

CREATE EXTENSION IF NOT EXISTS dblink;
CREATE TEMP TABLE small AS SELECT * FROM contributions WHERE id <= 1000;
CREATE TEMP TABLE one AS SELECT * FROM small WHERE id = 5;
CREATE FUNCTION pg_temp.train(seed int) RETURNS int LANGUAGE sql AS $$
    SELECT (aigc_train('mc_vae', 'small'::regclass,
                       options => jsonb_build_object('epochs', 2, 'seed', seed, 'exclude', '["id"]'::jsonb,
                                                     'progress_every', 0))).version
$$;

SELECT is(pg_temp.train(1), 1, 'version 1');
CREATE TEMP TABLE seen AS SELECT 1 AS version, aigc_score('mc_vae', o) AS score FROM one o;
CREATE TEMP TABLE loads AS SELECT aigc.model_cache_loads() AS n;
SELECT ok((SELECT count(aigc_score('mc_vae', s)) = 1000 FROM small s), 'score 1000 rows');
SELECT is(aigc.model_cache_loads(), (SELECT n FROM loads), 'scoring rows reuses the cached model: no load');

SELECT is(pg_temp.train(2), 2, 'retrain: version 2');
INSERT INTO seen SELECT 2, aigc_score('mc_vae', o) FROM one o;
SELECT isnt((SELECT score FROM seen WHERE version = 2), (SELECT score FROM seen WHERE version = 1),
            'the next statement scores with the new version');
SELECT is((SELECT score FROM seen WHERE version = 2), (SELECT aigc_score('mc_vae', o, 2) FROM one o),
          'it is version 2''s score');
SELECT is((SELECT aigc_score('mc_vae', o, 1) FROM one o), (SELECT score FROM seen WHERE version = 1),
          'version 1 can still be named');

SAVEPOINT before_v3;
SELECT is(pg_temp.train(3), 3, 'version 3, to be rolled back');
SELECT isnt((SELECT aigc_score('mc_vae', o) FROM one o), (SELECT score FROM seen WHERE version = 2),
            'version 3 is scored within its subtransaction');
ROLLBACK TO SAVEPOINT before_v3;
SELECT is((SELECT aigc_score('mc_vae', o) FROM one o), (SELECT score FROM seen WHERE version = 2),
          'after the rollback, version 2 again: no stale cache');

DELETE FROM aigc.model_store WHERE name = 'mc_vae' AND version = 2;
SELECT is((SELECT aigc_score('mc_vae', o) FROM one o), (SELECT score FROM seen WHERE version = 1),
          'deleting the newest version falls back to the previous one');
DELETE FROM aigc.model_store WHERE name = 'mc_vae';
SELECT throws_ok($$SELECT aigc_score('mc_vae', o) FROM one o$$, '42704', 'model "mc_vae" does not exist',
                 'a deleted model is gone from the cache');

-- another backend commits new versions while this transaction goes on
SELECT is(dblink_connect('other', format('dbname=%s host=%s port=%s user=%s', current_database(),
                                         split_part(current_setting('unix_socket_directories'), ',', 1),
                                         current_setting('port'), current_user)),
          'OK', 'a second session');
CREATE FUNCTION pg_temp.remote_train(seed int) RETURNS int LANGUAGE sql AS $$
    SELECT v FROM dblink('other', format($q$SELECT version FROM aigc_train('xb_vae',
        'SELECT person_id, age, gender, region, employer_type, part_time, monthly_wage, contribution_base, amount, month, paid_on_time, days_late FROM contributions WHERE id <= 1000',
        options => '{"epochs": 2, "seed": %s, "progress_every": 0}')$q$, seed)) AS t(v int)
$$;
SELECT ok(dblink_exec('other', $$DELETE FROM aigc.model_store WHERE name = 'xb_vae'$$) LIKE 'DELETE %',
          'the other session removes what an interrupted run may have left');
SELECT is(pg_temp.remote_train(1), 1, 'another backend trains version 1 and commits');
INSERT INTO seen SELECT 11, aigc_score('xb_vae', o) FROM one o;
SELECT is(pg_temp.remote_train(2), 2, 'another backend trains version 2 and commits');
SELECT is((SELECT aigc_score('xb_vae', o) FROM one o), (SELECT aigc_score('xb_vae', o, 2) FROM one o),
          'the next statement here scores with the other backend''s version 2');
SELECT isnt((SELECT aigc_score('xb_vae', o) FROM one o), (SELECT score FROM seen WHERE version = 11),
            'which differs from the version 1 score cached before');
SELECT is(dblink_exec('other', $$DELETE FROM aigc.model_store WHERE name = 'xb_vae'$$), 'DELETE 2',
          'the other session deletes the model');
SELECT throws_ok($$SELECT aigc_score('xb_vae', o) FROM one o$$, '42704', 'model "xb_vae" does not exist',
                 'a model another backend deleted is gone from the cache');
SELECT is(dblink_disconnect('other'), 'OK', 'the second session ends');

SELECT * FROM finish();
ROLLBACK;
