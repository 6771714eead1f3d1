-- Every backward pass agrees with central finite differences of its forward pass.
BEGIN;
SELECT plan(109);

SELECT is((SELECT count(*)::int FROM aigc.gradient_check()), 108,
          'gradient check covers every layer, both VAE loss terms, every VAE and GAN parameter, the sparse first layer of the VAE, the GAN critic input gradient alone, the GAN gradient penalty, the GAN generator, critic and penalty split across threads, every transformer layer and every transformer parameter');

SELECT ok(max_rel_error < 1e-2 AND checked > 0,
          format('%s / %s: relative error %s over %s entries', component, parameter,
                 round(max_rel_error::numeric, 6), checked))
  FROM aigc.gradient_check();

SELECT * FROM finish();
ROLLBACK;
