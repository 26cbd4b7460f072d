/* A loader batch (uint8 NHWC, padded) → the model's input: float [B, C, H, W] in [0,1], bit
 * reduction (model.num_x_bits), dynamic binarisation (data.binarize) keyed by the sample's
 * position in the GLOBAL batch and the step (dataset/transform.h), and the Philox sample keys.
 * Host memory; a device backend copies x afterwards. Prefix batch_prep_. */
#ifndef NVAE_TRAINER_BATCH_PREP_H
#define NVAE_TRAINER_BATCH_PREP_H

#include "dataset/loader.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct batch_prep {
  int num_x_bits;
  int binarize;  /* dynamic binarisation */
  uint64_t seed;
} batch_prep;

/* x [b->n, C, H, W] (caller-sized), keys [b->n]. key_by_position: 1 keys samples by their global
 * position in the epoch (evaluation passes, where the step stays fixed); 0 by their position in
 * the global batch (training, where the step changes every batch). */
void batch_prep_run(const batch_prep *p, const loader_batch *b, uint32_t step, int key_by_position,
                    float *x, uint32_t *keys);

#ifdef __cplusplus
}
#endif

#endif
