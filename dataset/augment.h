/* What the loader does to each uint8 image on the way into a batch: the random horizontal flip
 * and zero-padding. Prefix augment_. */
#ifndef NVAE_DATASET_AUGMENT_H
#define NVAE_DATASET_AUGMENT_H

#include <stdint.h>

/* 1 when sample `index` (its index in the split) is mirrored in `epoch`: the top bit of word 0
 * of Philox(key = seed; counter = (block 0, sample index, epoch, PHILOX_FLIP)). It depends on
 * nothing else, so it is the same whatever the world size, batch size or resume point. */
int augment_flip_draw(uint64_t seed, uint64_t epoch, int64_t index);

/* Writes src [h, w, c] into dst [dst_h, dst_w, c] with its top-left corner at (top, left),
 * mirrored left-right when flip; the border (if any) is zero. */
void augment_place(const uint8_t *src, int h, int w, int c, int flip, uint8_t *dst, int dst_h,
                   int dst_w, int top, int left);

#endif
