/* Loader batch → model input (batch_prep.h). */
#include "trainer/batch_prep.h"

#include "dataset/transform.h"

void batch_prep_run(const batch_prep *p, const loader_batch *b, uint32_t step, int key_by_position,
                    float *x, uint32_t *keys) {
  const int C = b->channels, H = b->height, W = b->width;
  const int64_t per = (int64_t)C * H * W;
  /* NHWC uint8 → NCHW float: x / 255 exactly as transform_to_float (ToTensor) */
  for (int i = 0; i < b->n; i++) {
    const uint8_t *src = b->images + i * per;
    float *dst = x + i * per;
    for (int c = 0; c < C; c++)
      for (int hw = 0; hw < H * W; hw++) dst[(int64_t)c * H * W + hw] = src[(int64_t)hw * C + c];
  }
  for (int64_t i = 0; i < (int64_t)b->n * per; i++) x[i] = x[i] / 255.0f;
  transform_reduce_bits(x, (int64_t)b->n * per, p->num_x_bits);
  for (int i = 0; i < b->n; i++)
    keys[i] = key_by_position ? (uint32_t)b->global_pos[i] : (uint32_t)(b->global_offset + i);
  if (!p->binarize) return;
  if (key_by_position) {
    for (int i = 0; i < b->n; i++)
      transform_binarize(x + i * per, 1, per, p->seed, step, keys[i]);
  } else {
    transform_binarize(x, b->n, per, p->seed, step, (uint32_t)b->global_offset);
  }
}
