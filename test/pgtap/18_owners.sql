-- Privilege before work, and roles that own models or hold privileges on
-- them (docs/security.md): DROP ROLE is refused while they do, REASSIGN
-- OWNED and DROP OWNED cover models, aigc.reassign_models and
-- aigc.drop_models, and a model whose owner was dropped anyway (the library
-- not loaded in that session: simulated by writing a dead OID) gives clear
-- errors and can be given to another role.
BEGIN;
SELECT plan(22);
SET LOCAL client_min_messages = warning;

CREATE FUNCTION pg_temp.error_detail(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    detail text;
BEGIN
    EXECUTE sql;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || detail;
END
$$;

CREATE ROLE aigc_o_alice;
CREATE ROLE aigc_o_bob;
CREATE ROLE aigc_o_carol;
CREATE TABLE own_data AS SELECT age, gender, region, monthly_wage FROM contributions WHERE id <= 400;
GRANT SELECT ON own_data TO aigc_o_alice, aigc_o_bob, aigc_o_carol;

SET LOCAL ROLE aigc_o_alice;
SELECT is((aigc_train('own_m', 'own_data'::regclass,
                      options => '{"epochs": 1, "seed": 1, "progress_every": 0, "encoder_dims": [16], "decoder_dims": [16], "latent_dim": 4}')).version,
          1, 'alice trains own_m');
SELECT aigc_grant('own_m', 'aigc_o_bob', 'use');
RESET ROLE;

-- privilege before work: the query would divide by zero once scanned
SET LOCAL ROLE aigc_o_bob;
SELECT throws_ok($$SELECT aigc_train('own_m', 'SELECT age, 1 / (age - age) AS boom FROM own_data')$$,
                 '42501', 'permission denied for model "own_m"',
                 'privilege train is checked before the training query runs');
RESET ROLE;
SET LOCAL ROLE aigc_o_alice;
SELECT throws_ok($$SELECT aigc_train('own_m', 'SELECT age, 1 / (age - age) AS boom FROM own_data')$$,
                 '22012', NULL, 'for a role that may train, the same call reaches the query');
RESET ROLE;

-- DROP ROLE while the role owns a model or holds a model privilege
SELECT throws_ok('DROP ROLE aigc_o_alice', '2BP01',
                 'role "aigc_o_alice" cannot be dropped because it owns or may use aigc_pg models',
                 'DROP ROLE of a model owner is refused');
SELECT throws_ok('DROP ROLE aigc_o_bob', '2BP01',
                 'role "aigc_o_bob" cannot be dropped because it owns or may use aigc_pg models',
                 'DROP ROLE of a role granted a model privilege is refused');
SELECT lives_ok('DROP ROLE IF EXISTS aigc_o_nobody', 'DROP ROLE IF EXISTS of no role still works');

-- the documented way out: REASSIGN OWNED, DROP OWNED, DROP ROLE
REASSIGN OWNED BY aigc_o_alice TO aigc_o_carol;
SELECT is((SELECT owner::text FROM aigc.model_registry WHERE name = 'own_m'), 'aigc_o_carol',
          'REASSIGN OWNED gives the models to the new role');
DROP OWNED BY aigc_o_alice, aigc_o_bob;
SELECT is((SELECT count(*)::int FROM aigc.model_grants WHERE grantee = 'aigc_o_bob'::regrole), 0,
          'DROP OWNED revokes the role''s model privileges');
SELECT is((SELECT count(*)::int FROM aigc.model_registry WHERE name = 'own_m'), 1,
          'and leaves the models it no longer owns');
SELECT lives_ok('DROP ROLE aigc_o_alice', 'then the former owner can be dropped');
SELECT lives_ok('DROP ROLE aigc_o_bob', 'and the former grantee');

-- an owner dropped where the library was not loaded leaves a dead OID
CREATE ROLE aigc_o_dave;
GRANT SELECT ON own_data TO aigc_o_dave;
UPDATE aigc.model_registry SET owner = '4000000000' WHERE name = 'own_m';
SET LOCAL ROLE aigc_o_carol;
SELECT is(pg_temp.error_detail($$SELECT * FROM aigc_sample(NULL::own_data, 'own_m', 2)$$),
          '42501: The model belongs to role OID 4000000000, which was dropped.',
          'using the model of a dropped owner: permission denied, naming the dead OID');
SELECT throws_ok($$SELECT aigc.reassign_models('4000000000', 'aigc_o_carol')$$, '42501', NULL,
                 'only a superuser may take the models of a dropped role');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM aigc_sample(NULL::own_data, 'own_m', 3)), 3,
          'a superuser still samples it');
SELECT is(aigc.reassign_models('4000000000', 'aigc_o_carol'), 1::bigint,
          'aigc.reassign_models gives it to a live role');
SELECT throws_ok($$SELECT aigc.reassign_models('aigc_o_carol', '4000000001')$$, '42704', NULL,
                 'the new owner must exist');
SET LOCAL ROLE aigc_o_carol;
SELECT is((SELECT count(*)::int FROM aigc_sample(NULL::own_data, 'own_m', 3)), 3,
          'the new owner samples it');
SELECT throws_ok($$SELECT aigc.reassign_models('aigc_o_carol', 'aigc_o_dave')$$, '42501', NULL,
                 'reassigning needs the privileges of the new owner too');
RESET ROLE;
SET LOCAL ROLE aigc_o_dave;
SELECT throws_ok($$SELECT aigc.drop_models('aigc_o_carol')$$, '42501', NULL,
                 'dropping another role''s models is refused');
RESET ROLE;
SET LOCAL ROLE aigc_o_carol;
SELECT is(aigc.drop_models('aigc_o_carol'), 1::bigint, 'aigc.drop_models drops the role''s models');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM aigc.model_store WHERE name = 'own_m'), 0,
          'with every version');
SELECT lives_ok('DROP OWNED BY aigc_o_carol, aigc_o_dave; DROP ROLE aigc_o_carol; DROP ROLE aigc_o_dave',
                'roles without models drop as usual');

SELECT * FROM finish();
ROLLBACK;
