/* Architectures the model tests share besides the presets of trainer/model_arch.h. */
#ifndef NVAE_TESTS_MODEL_TEST_ARCHS_H
#define NVAE_TESTS_MODEL_TEST_ARCHS_H

#include "trainer/model_arch.h"

/* configs/fmnist-small.yaml (tests/reference/configs.py 'fmnist-small'): C 16, 1 pre block × 2
 * cells, 1 post × 2, 2 scales, 4 groups ada → [4, 2], L 8, 1 cell per group, no flows,
 * Bernoulli on 28×28 padded to 32×32. */
static inline model_arch model_test_fmnist_small(void) {
  model_arch a = {0};
  a.num_channels_enc = a.num_channels_dec = 16;
  a.num_preprocess_blocks = 1;
  a.num_preprocess_cells = 2;
  a.num_postprocess_blocks = 1;
  a.num_postprocess_cells = 2;
  a.num_latent_scales = 2;
  a.num_groups_per_scale = 4;
  a.ada_groups = 1;
  a.min_groups_per_scale = 1;
  a.num_latent_per_group = 8;
  a.num_cell_per_cond_enc = a.num_cell_per_cond_dec = 1;
  a.num_nf = 0;
  a.use_se = 1;
  a.res_dist = 1;
  a.decoder = MODEL_DECODER_BERNOULLI;
  a.num_mixture_dec = 10;
  a.image_channels = 1;
  a.image_size = 32;
  return a;
}

#endif
