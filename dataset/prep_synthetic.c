/* nvae-prep synthetic: images made up from a seed, for benchmarks and smoke runs where no dataset
 * is at hand (the GPU script's CelebA-shaped training run, throughput studies). NOT a dataset to
 * judge a model by: dataset.yaml says so (source.kind synthetic, the summary's note).
 *
 * Image i of a split is a smooth random field: the mean of six plane waves per channel with
 * Philox-drawn frequencies (up to 3 cycles across the image), phases and amplitudes, plus a
 * random brightness gradient, so neighbouring pixels are correlated like photographs and the
 * model has something to learn (its loss falls within a few hundred steps). Splits train, valid
 * and test (CelebA's three), valid and test each a tenth of train (at least one image). */
#include "dataset/prep.h"
#include "kernels/philox.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SYNTH_WAVES = 6 };
static const uint32_t PHILOX_SYNTH_IMAGES = 0x53594e54u; /* "SYNT" */

typedef struct synth_ctx {
  uint64_t seed;
  int size, channels;
} synth_ctx;

/* Uniform [0,1) number k of image (split, index). */
static float draw(uint64_t seed, int split, int64_t index, int k) {
  philox4x32 r = philox_block(seed, PHILOX_SYNTH_IMAGES, (uint32_t)split, (uint32_t)index,
                              (uint32_t)(k / 4));
  return philox_uniform(r.v[k % 4]);
}

static int synth_load(void *vctx, void *vs, const prep_item *item, uint8_t *dst, nvae_err *e) {
  (void)vs;
  (void)e;
  const synth_ctx *c = vctx;
  const int split = item->source_file;
  const int64_t idx = item->source_index;
  const int H = c->size, W = c->size, C = c->channels;
  const double two_pi = 6.283185307179586;
  int k = 0;
  double fx[3][SYNTH_WAVES], fy[3][SYNTH_WAVES], ph[3][SYNTH_WAVES], am[3][SYNTH_WAVES];
  double base[3], gx[3], gy[3];
  for (int ch = 0; ch < C; ch++) {
    base[ch] = 60 + 136 * draw(c->seed, split, idx, k++);
    gx[ch] = 60 * (draw(c->seed, split, idx, k++) - 0.5);
    gy[ch] = 60 * (draw(c->seed, split, idx, k++) - 0.5);
    for (int w = 0; w < SYNTH_WAVES; w++) {
      fx[ch][w] = two_pi * 3 * (draw(c->seed, split, idx, k++) - 0.5) / W;
      fy[ch][w] = two_pi * 3 * (draw(c->seed, split, idx, k++) - 0.5) / H;
      ph[ch][w] = two_pi * draw(c->seed, split, idx, k++);
      am[ch][w] = 40 * draw(c->seed, split, idx, k++);
    }
  }
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      for (int ch = 0; ch < C; ch++) {
        double v = base[ch] + gx[ch] * ((double)x / W - 0.5) + gy[ch] * ((double)y / H - 0.5);
        for (int w = 0; w < SYNTH_WAVES; w++)
          v += am[ch][w] * cos(fx[ch][w] * x + fy[ch][w] * y + ph[ch][w]);
        v = v < 0 ? 0 : v > 255 ? 255 : v;
        dst[((size_t)y * W + x) * C + ch] = (uint8_t)lrint(v);
      }
  return 0;
}

int prep_synthetic_source(prep_source *src, int64_t n_train, int size, int channels,
                          uint64_t seed, nvae_err *e) {
  memset(src, 0, sizeof *src);
  if (n_train < 1 || size < 1 || (channels != 1 && channels != 3))
    return nvae_errf(e, NVAE_EXIT_USAGE,
                     "synthetic: %lld images of %dx%dx%d: expected >= 1 image, size >= 1 and 1 or "
                     "3 channels",
                     (long long)n_train, size, size, channels);
  synth_ctx *c = nvae_calloc(1, sizeof *c);
  c->seed = seed;
  c->size = size;
  c->channels = channels;
  src->kind = "synthetic";
  src->crop = "none";
  src->resize = "none";
  src->size = size;
  src->height = src->width = size;
  src->channels = channels;
  src->note = "synthetic images (nvae-prep synthetic): for benchmarks and smoke runs only";
  const char *names[3] = {"train", "valid", "test"};
  const int64_t counts[3] = {n_train, n_train / 10 > 0 ? n_train / 10 : 1,
                             n_train / 10 > 0 ? n_train / 10 : 1};
  src->n_splits = 3;
  for (int s = 0; s < 3; s++) {
    snprintf(src->splits[s].name, sizeof src->splits[s].name, "%s", names[s]);
    for (int64_t i = 0; i < counts[s]; i++) {
      prep_split_add(&src->splits[s], NULL, i);
      src->splits[s].items[i].source_file = s; /* the split: part of the image's key */
    }
  }
  char desc[96];
  snprintf(desc, sizeof desc, "synthetic:seed=%llu", (unsigned long long)seed);
  src->source_files[0] = nvae_malloc(strlen(desc) + 1);
  memcpy(src->source_files[0], desc, strlen(desc) + 1);
  src->n_source_files = 1;
  src->ctx = c;
  src->ctx_free = free;
  src->load = synth_load;
  return 0;
}
