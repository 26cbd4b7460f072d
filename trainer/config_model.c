/* nvae_config + dataset shape → model_arch, model_options and the loader's padding
 * (config_model.h). */
#include "trainer/config_model.h"

#include "dataset/loader.h"

int config_model_geometry(const nvae_config *cfg, const data_shape *d, model_geometry *g,
                          nvae_err *e) {
  if (d->channels != 1 && d->channels != 3)
    return nvae_errf(e, NVAE_EXIT_USAGE,
                     "dataset images have %d channels; the model takes 1 (grey) or 3 (RGB)",
                     d->channels);
  int ph = d->height, pw = d->width;
  if (cfg->data.pad_to_set) {
    if (cfg->data.pad_to < d->height || cfg->data.pad_to < d->width)
      return nvae_errf(e, NVAE_EXIT_USAGE,
                       "data.pad_to: %d is smaller than the dataset's %dx%d images; use a size "
                       ">= %d or auto",
                       cfg->data.pad_to, d->height, d->width,
                       d->height > d->width ? d->height : d->width);
    ph = pw = cfg->data.pad_to;
  } else if (d->height == 28 && d->width == 28) {
    ph = pw = 32; /* the official MNIST padding */
  }
  if (ph != pw)
    return nvae_errf(e, NVAE_EXIT_USAGE,
                     "the dataset's images are %dx%d; the model needs square images: set "
                     "data.pad_to to %d",
                     d->height, d->width, ph > pw ? ph : pw);
  g->channels = d->channels;
  g->size = ph;
  g->crop_y0 = (ph - d->height) / 2; /* where dataset/loader.c centres the stored image */
  g->crop_x0 = (pw - d->width) / 2;
  g->crop_h = d->height;
  g->crop_w = d->width;
  return 0;
}

int config_model_arch(const nvae_config *cfg, const model_geometry *g, model_arch *a, nvae_err *e) {
  const nvae_model_config *m = &cfg->model;
  a->num_channels_enc = m->num_channels_enc;
  a->num_channels_dec = m->num_channels_dec;
  a->num_preprocess_blocks = m->num_preprocess_blocks;
  a->num_preprocess_cells = m->num_preprocess_cells;
  a->num_postprocess_blocks = m->num_postprocess_blocks;
  a->num_postprocess_cells = m->num_postprocess_cells;
  a->num_latent_scales = m->num_latent_scales;
  a->num_groups_per_scale = m->num_groups_per_scale;
  a->ada_groups = m->ada_groups;
  a->min_groups_per_scale = m->min_groups_per_scale;
  a->num_latent_per_group = m->num_latent_per_group;
  a->num_cell_per_cond_enc = m->num_cell_per_cond_enc;
  a->num_cell_per_cond_dec = m->num_cell_per_cond_dec;
  a->num_nf = m->num_nf;
  a->use_se = m->use_se;
  a->res_dist = m->res_dist;
  switch (m->decoder) {
  case NVAE_DECODER_BERNOULLI: a->decoder = MODEL_DECODER_BERNOULLI; break;
  case NVAE_DECODER_NORMAL: a->decoder = MODEL_DECODER_NORMAL; break;
  default: a->decoder = MODEL_DECODER_DMOL; break;
  }
  a->num_mixture_dec = m->num_mixture_dec;
  a->image_channels = g->channels;
  a->image_size = g->size;
  return model_arch_validate(a, e);
}

void config_model_options(const nvae_config *cfg, const model_geometry *g, int max_batch,
                          model_options *o) {
  *o = (model_options){0};
  o->max_batch = max_batch;
  o->sync_bn = cfg->train.sync_bn;
  o->kl_balance_global = cfg->train.kl_balance_scope == NVAE_KL_SCOPE_GLOBAL;
  o->dmol_upper_edge = (float)cfg->model.dmol_upper_edge;
  o->num_x_bits = cfg->model.num_x_bits;
  o->crop_y0 = g->crop_y0;
  o->crop_x0 = g->crop_x0;
  o->crop_h = g->crop_h;
  o->crop_w = g->crop_w;
}

int config_model_loader_pad(const nvae_config *cfg) {
  return cfg->data.pad_to_set ? cfg->data.pad_to : LOADER_PAD_AUTO;
}

int config_model_flip(const nvae_config *cfg, int channels) {
  return cfg->data.flip_set ? cfg->data.flip : channels == 3;
}

data_shape config_model_assumed_shape(const nvae_config *cfg) {
  data_shape d;
  if (cfg->model.decoder == NVAE_DECODER_BERNOULLI) d = (data_shape){1, 28, 28};
  else d = (data_shape){3, 64, 64};
  if (cfg->data.pad_to_set) d.height = d.width = cfg->data.pad_to;
  return d;
}
