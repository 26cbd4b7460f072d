/* Antialiased resize with the triangle filter, equivalent to Pillow's Image.resize(size,
 * Image.BILINEAR) (what NVAE's torchvision Resize(64) runs on PIL images): for downscaling the
 * filter's support is widened by the scale factor, so every source pixel contributes; separable,
 * horizontal pass then vertical pass, with the same fixed-point weights (22 fractional bits) and
 * uint8 rounding between the passes as Pillow's Resample.c, so results match Pillow bit for bit
 * (tested against python3-pil). Prefix resize_. */
#ifndef NVAE_DATASET_RESIZE_H
#define NVAE_DATASET_RESIZE_H

#include <stddef.h>
#include <stdint.h>

/* The weights of one axis: output pixel o reads source pixels [first[o], first[o] + count[o]). */
typedef struct resize_axis {
  int in, out, ksize;
  int *first, *count; /* [out] */
  int32_t *weight;    /* [out, ksize] fixed-point weights */
} resize_axis;

typedef struct resize_plan {
  resize_axis x, y;
  int channels;
} resize_plan;

/* Plans in_w x in_h -> out_w x out_h with `channels` interleaved uint8 channels. */
void resize_plan_init(resize_plan *p, int in_w, int in_h, int out_w, int out_h, int channels);
void resize_plan_free(resize_plan *p);
/* Bytes of scratch that resize_apply needs. */
size_t resize_scratch_bytes(const resize_plan *p);
/* src: in_h rows of in_w pixels, rows `src_stride` bytes apart (so a crop is a pointer into a
 * larger image); dst: out_h x out_w x channels, packed. */
void resize_apply(const resize_plan *p, const uint8_t *src, int64_t src_stride, uint8_t *scratch,
                  uint8_t *dst);

#endif
