-- Option max_seconds: training stops at the end of the epoch that crosses the
-- budget (counted from the start of the call), and the store says so.  A
-- budget of a millisecond is spent before the first epoch ends, so exactly
-- one epoch of the thousand asked is done, whatever the machine's speed.
BEGIN;
SELECT plan(10);

SET LOCAL client_min_messages = warning;
CREATE TABLE tb_t AS SELECT age, gender, monthly_wage FROM contributions WHERE id <= 600;

SELECT is((SELECT epochs FROM aigc_train('tb_vae', 'tb_t'::regclass,
           options => '{"epochs": 1000, "max_seconds": 0.001, "seed": 3, "progress_every": 0}')),
          1, 'aigc_train returns the epochs done: one of 1000 within a millisecond');
SELECT is((SELECT stats->>'stop_reason' FROM aigc.models WHERE name = 'tb_vae'),
          'max_seconds', 'the store records why training stopped');
SELECT is((SELECT (stats->>'epochs_done')::int FROM aigc.models WHERE name = 'tb_vae'),
          1, 'the store records the epochs done');
SELECT is((SELECT jsonb_array_length(loss->'loss') FROM aigc.models WHERE name = 'tb_vae'),
          1, 'the loss history holds the epochs done only');

SELECT is((SELECT epochs FROM aigc_train('tb_gan', 'tb_t'::regclass, 'gan',
           options => '{"epochs": 1000, "max_seconds": 0.001, "seed": 3, "progress_every": 0}')),
          1, 'every kind has the budget: the GAN too');
SELECT is((SELECT stats->>'stop_reason' FROM aigc.models WHERE name = 'tb_gan'),
          'max_seconds', 'the GAN''s stop reason');

-- a budget that is not reached, and none at all: every epoch asked
SELECT is((SELECT epochs FROM aigc_train('tb_roomy', 'tb_t'::regclass,
           options => '{"epochs": 2, "max_seconds": 1e9, "seed": 3, "progress_every": 0}')),
          2, 'a budget not reached trains every epoch');
SELECT is((SELECT stats->>'stop_reason' || '/' || (stats->>'epochs_done') FROM aigc.models WHERE name = 'tb_roomy'),
          'epochs/2', 'and says it stopped at the epochs asked');
SELECT is((SELECT epochs FROM aigc_train('tb_none', 'tb_t'::regclass,
           options => '{"epochs": 2, "seed": 3, "progress_every": 0}')),
          2, 'no budget by default (max_seconds 0)');
SELECT is((SELECT stats->>'stop_reason' FROM aigc.models WHERE name = 'tb_none'),
          'epochs', 'and the stop reason without a budget');

SELECT * FROM finish();
ROLLBACK;
