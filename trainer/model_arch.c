/* Architecture hyperparameters: derived quantities, validation and the built-in presets. */
#include "trainer/model_arch.h"

#include <string.h>

int model_arch_groups_per_scale(const model_arch *a, int *out) {
  int n = a->num_groups_per_scale, total = 0;
  for (int s = 0; s < a->num_latent_scales; s++) {
    out[s] = n;
    total += n;
    if (a->ada_groups) {
      n /= 2;
      if (n < a->min_groups_per_scale) n = a->min_groups_per_scale;
    }
  }
  return total;
}

int model_arch_num_groups(const model_arch *a) {
  int g[MODEL_ARCH_MAX_SCALES];
  NVAE_ASSERT(a->num_latent_scales >= 1 && a->num_latent_scales <= MODEL_ARCH_MAX_SCALES,
              "num_latent_scales %d outside [1, %d]: validate the arch first", a->num_latent_scales,
              MODEL_ARCH_MAX_SCALES);
  return model_arch_groups_per_scale(a, g);
}

int model_arch_top_mult(const model_arch *a) {
  return 1 << (a->num_preprocess_blocks + a->num_latent_scales - 1);
}

int model_arch_head_channels(const model_arch *a) {
  switch (a->decoder) {
  case MODEL_DECODER_DMOL:
    /* RGB: logits + 3 × (means, log-scales, coupling coefficients) = 10 blocks of M (§1.8).
     * Gray: logits, means, log-scales = 3 blocks of M (no coupling between channels). */
    return (a->image_channels == 3 ? 10 : 3) * a->num_mixture_dec;
  case MODEL_DECODER_BERNOULLI: return a->image_channels;
  case MODEL_DECODER_NORMAL: return 2 * a->image_channels;
  }
  return 0;
}

/* One range check; `flag` is the official flag name so the message points at the config key. */
static int check_range(nvae_err *err, const char *flag, int v, int lo, int hi) {
  if (v < lo || v > hi)
    return nvae_errf(err, NVAE_EXIT_USAGE, "model.%s = %d is out of range: use %d..%d", flag, v, lo,
                     hi);
  return 0;
}

int model_arch_validate(const model_arch *a, nvae_err *err) {
  /* Bounds keep every channel count, spatial size and tensor size far from int overflow. */
  struct {
    const char *flag;
    int v, lo, hi;
  } r[] = {
      {"num_channels_enc", a->num_channels_enc, 2, 4096},
      {"num_channels_dec", a->num_channels_dec, 2, 4096},
      {"num_preprocess_blocks", a->num_preprocess_blocks, 0, 8},
      {"num_preprocess_cells", a->num_preprocess_cells, 1, 64},
      {"num_postprocess_blocks", a->num_postprocess_blocks, 0, 8},
      {"num_postprocess_cells", a->num_postprocess_cells, 1, 64},
      {"num_latent_scales", a->num_latent_scales, 1, 8},
      {"num_groups_per_scale", a->num_groups_per_scale, 1, 1024},
      {"min_groups_per_scale", a->min_groups_per_scale, 1, 1024},
      {"num_latent_per_group", a->num_latent_per_group, 1, 1024},
      {"num_cell_per_cond_enc", a->num_cell_per_cond_enc, 1, 64},
      {"num_cell_per_cond_dec", a->num_cell_per_cond_dec, 1, 64},
      {"num_nf", a->num_nf, 0, 16},
      {"num_mixture_dec", a->num_mixture_dec, 1, 256},
      {"image_size", a->image_size, 1, 65536},
  };
  for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
    int rc = check_range(err, r[i].flag, r[i].v, r[i].lo, r[i].hi);
    if (rc) return rc;
  }
  if (a->image_channels != 1 && a->image_channels != 3)
    return nvae_errf(err, NVAE_EXIT_USAGE,
                     "image channels = %d: only 1 (gray) or 3 (RGB) images are supported",
                     a->image_channels);
  if (a->decoder != MODEL_DECODER_DMOL && a->decoder != MODEL_DECODER_BERNOULLI &&
      a->decoder != MODEL_DECODER_NORMAL)
    return nvae_errf(err, NVAE_EXIT_USAGE,
                     "model.decoder = %d is unknown: use dmol, bernoulli or normal",
                     (int)a->decoder);
  if (a->num_postprocess_blocks != a->num_preprocess_blocks)
    /* Each pre block halves H,W and each post block doubles them: the head must see full size. */
    return nvae_errf(err, NVAE_EXIT_USAGE,
                     "model.num_postprocess_blocks = %d but model.num_preprocess_blocks = %d: they "
                     "must be equal so that the output has the input's size",
                     a->num_postprocess_blocks, a->num_preprocess_blocks);
  if (a->num_latent_scales == 1 && a->num_groups_per_scale == 1)
    /* The official code switches to a different network ("vanilla_vae", no towers) here. */
    return nvae_errf(err, NVAE_EXIT_USAGE,
                     "model.num_latent_scales = 1 with model.num_groups_per_scale = 1 is the "
                     "official vanilla-VAE variant, which nvae-train does not implement: use more "
                     "groups or scales");
  int halvings = a->num_preprocess_blocks + a->num_latent_scales - 1;
  if (halvings > 16)
    return nvae_errf(err, NVAE_EXIT_USAGE,
                     "model.num_preprocess_blocks + model.num_latent_scales - 1 = %d: at most 16",
                     halvings);
  int mult = 1 << halvings;
  if (a->image_size % mult != 0)
    return nvae_errf(
        err, NVAE_EXIT_USAGE,
        "image size %d is not divisible by 2^(num_preprocess_blocks + "
        "num_latent_scales - 1) = %d: pad the images (data.pad_to) to a multiple of %d "
        "or use fewer blocks/scales",
        a->image_size, mult, mult);
  int cmax = a->num_channels_enc > a->num_channels_dec ? a->num_channels_enc : a->num_channels_dec;
  if ((long long)cmax * mult > 65536)
    return nvae_errf(err, NVAE_EXIT_USAGE,
                     "%d channels × 2^%d at the coarsest scale = %lld channels: too many; lower "
                     "num_channels_enc/dec or the number of blocks/scales",
                     cmax, halvings, (long long)cmax * mult);
  return 0;
}

/* The four configurations of tests/data/state_dict/ (header lines there; NVAE.md §5.1). */
/* Related flags share a line, so each preset reads as a table row. */
/* clang-format off */
static const model_arch PRESET_CELEBA64 = {
    .num_channels_enc = 64, .num_channels_dec = 64,
    .num_preprocess_blocks = 1, .num_preprocess_cells = 2,
    .num_postprocess_blocks = 1, .num_postprocess_cells = 2,
    .num_latent_scales = 3, .num_groups_per_scale = 20, .ada_groups = 1, .min_groups_per_scale = 1,
    .num_latent_per_group = 20, .num_cell_per_cond_enc = 2, .num_cell_per_cond_dec = 2,
    .num_nf = 1, .use_se = 1, .res_dist = 1,
    .decoder = MODEL_DECODER_DMOL, .num_mixture_dec = 10, .image_channels = 3, .image_size = 64};

static const model_arch PRESET_MNIST = {
    .num_channels_enc = 32, .num_channels_dec = 32,
    .num_preprocess_blocks = 2, .num_preprocess_cells = 3,
    .num_postprocess_blocks = 2, .num_postprocess_cells = 3,
    .num_latent_scales = 2, .num_groups_per_scale = 10, .ada_groups = 1, .min_groups_per_scale = 1,
    .num_latent_per_group = 20, .num_cell_per_cond_enc = 2, .num_cell_per_cond_dec = 2,
    .num_nf = 0, .use_se = 1, .res_dist = 1,
    /* 28×28 padded to 32×32 (official pipeline). */
    .decoder = MODEL_DECODER_BERNOULLI, .num_mixture_dec = 10, .image_channels = 1,
    .image_size = 32};

static const model_arch PRESET_TINY = {
    .num_channels_enc = 8, .num_channels_dec = 8,
    .num_preprocess_blocks = 1, .num_preprocess_cells = 2,
    .num_postprocess_blocks = 1, .num_postprocess_cells = 2,
    .num_latent_scales = 2, .num_groups_per_scale = 2, .ada_groups = 1, .min_groups_per_scale = 1,
    .num_latent_per_group = 4, .num_cell_per_cond_enc = 1, .num_cell_per_cond_dec = 1,
    .num_nf = 0, .use_se = 1, .res_dist = 1,
    .decoder = MODEL_DECODER_DMOL, .num_mixture_dec = 10, .image_channels = 3, .image_size = 32};

/* clang-format on */

const char *const model_arch_preset_names[] = {"celeba64", "mnist", "tiny", "tiny-nf", NULL};

int model_arch_preset(const char *name, model_arch *out, nvae_err *err) {
  if (strcmp(name, "celeba64") == 0)
    *out = PRESET_CELEBA64;
  else if (strcmp(name, "mnist") == 0)
    *out = PRESET_MNIST;
  else if (strcmp(name, "tiny") == 0)
    *out = PRESET_TINY;
  else if (strcmp(name, "tiny-nf") == 0) {
    *out = PRESET_TINY;
    out->num_nf = 1;
  } else
    return nvae_errf(err, NVAE_EXIT_USAGE,
                     "unknown architecture '%s': use celeba64, mnist, tiny or tiny-nf", name);
  return 0;
}

const char *model_decoder_name(model_decoder d) {
  switch (d) {
  case MODEL_DECODER_DMOL: return "dmol";
  case MODEL_DECODER_BERNOULLI: return "bernoulli";
  case MODEL_DECODER_NORMAL: return "normal";
  }
  return "?";
}

int model_decoder_parse(const char *s, model_decoder *out, nvae_err *err) {
  for (int d = MODEL_DECODER_DMOL; d <= MODEL_DECODER_NORMAL; d++)
    if (strcmp(s, model_decoder_name((model_decoder)d)) == 0) {
      *out = (model_decoder)d;
      return 0;
    }
  return nvae_errf(err, NVAE_EXIT_USAGE, "decoder '%s' is unknown: use dmol, bernoulli or normal",
                   s);
}
