/* Config + dataset shape → model_arch / model_options / padding (trainer/config_model.c). */
#include "tests/test_util.h"
#include "trainer/config_model.h"

#include <stdlib.h>
#include <string.h>

static int load(const char *name, nvae_config *c) {
  const char *src = getenv("NVAE_SOURCE_DIR");
  char path[1024];
  snprintf(path, sizeof path, "%s/configs/%s", src ? src : ".", name);
  nvae_err e = {0};
  int rc = config_load(path, c, &e);
  CHECK(rc == 0, "%s: %s", path, e.msg);
  return rc;
}

static void test_fmnist(void) {
  nvae_config c;
  if (load("fmnist-small.yaml", &c)) return;
  data_shape d = {1, 28, 28};
  model_geometry g;
  model_arch a;
  model_options o;
  nvae_err e = {0};
  CHECK(config_model_geometry(&c, &d, &g, &e) == 0, "%s", e.msg);
  CHECK(g.size == 32 && g.channels == 1, "size %d channels %d", g.size, g.channels);
  CHECK(g.crop_y0 == 2 && g.crop_x0 == 2 && g.crop_h == 28 && g.crop_w == 28, "crop");
  CHECK(config_model_arch(&c, &g, &a, &e) == 0, "%s", e.msg);
  CHECK(a.decoder == MODEL_DECODER_BERNOULLI, "decoder %d", a.decoder);
  CHECK(a.num_channels_enc == 16 && a.num_latent_scales == 2 && a.num_groups_per_scale == 4 &&
            a.ada_groups == 1 && a.num_latent_per_group == 8 && a.num_nf == 0 && a.use_se == 1,
        "arch fields");
  CHECK(a.image_channels == 1 && a.image_size == 32, "arch image");
  CHECK(model_arch_num_groups(&a) == 6, "groups %d", model_arch_num_groups(&a));
  config_model_options(&c, &g, 32, &o);
  CHECK(o.max_batch == 32 && o.crop_y0 == 2 && o.crop_h == 28 && o.num_x_bits == 8, "options");
  CHECK(o.hooks.allreduce_sum == NULL, "no hooks by default");
  CHECK(config_model_flip(&c, 1) == 0, "no flips");
  CHECK(config_model_loader_pad(&c) == -1, "pad auto");
  /* explicit padding: centred, loss on the stored region */
  CHECK(config_apply_override(&c, "data.pad_to=36", &e) == 0, "%s", e.msg);
  CHECK(config_model_geometry(&c, &d, &g, &e) == 0 && g.size == 36 && g.crop_y0 == 4, "pad 36");
  CHECK(config_model_loader_pad(&c) == 36, "pad 36 for the loader");
  /* too small: names the key */
  CHECK(config_apply_override(&c, "data.pad_to=20", &e) == 0, "%s", e.msg);
  CHECK(config_model_geometry(&c, &d, &g, &e) == NVAE_EXIT_USAGE && strstr(e.msg, "data.pad_to"),
        "pad_to 20: %s", e.msg);
  /* non-square data without padding */
  CHECK(config_apply_override(&c, "data.pad_to=auto", &e) == 0, "%s", e.msg);
  data_shape r = {1, 28, 30};
  CHECK(config_model_geometry(&c, &r, &g, &e) == NVAE_EXIT_USAGE && strstr(e.msg, "square"),
        "28x30: %s", e.msg);
  /* 2 channels */
  data_shape two = {2, 32, 32};
  CHECK(config_model_geometry(&c, &two, &g, &e) == NVAE_EXIT_USAGE, "2 channels");
  /* a size the towers cannot halve: 30 is not a multiple of 2^(P+S-1) = 4 */
  data_shape odd = {1, 30, 30};
  CHECK(config_model_geometry(&c, &odd, &g, &e) == 0, "%s", e.msg);
  CHECK(config_model_arch(&c, &g, &a, &e) == NVAE_EXIT_USAGE, "30x30 accepted");
}

static void test_celeba(void) {
  nvae_config c;
  if (load("celeba64.yaml", &c)) return;
  data_shape d = {3, 64, 64};
  model_geometry g;
  model_arch a, preset;
  nvae_err e = {0};
  CHECK(config_model_geometry(&c, &d, &g, &e) == 0, "%s", e.msg);
  CHECK(g.size == 64 && g.crop_y0 == 0 && g.crop_h == 64, "no padding");
  CHECK(config_model_arch(&c, &g, &a, &e) == 0, "%s", e.msg);
  CHECK(model_arch_preset("celeba64", &preset, &e) == 0, "%s", e.msg);
  CHECK(memcmp(&a, &preset, sizeof a) == 0, "celeba64.yaml differs from the celeba64 preset");
  CHECK(config_model_flip(&c, 3) == 1, "flips for RGB");
  model_options o;
  config_model_options(&c, &g, 16, &o);
  CHECK(o.sync_bn == 1 && o.kl_balance_global == 1 && o.dmol_upper_edge == 0.99f, "options");
}

int main(void) {
  test_fmnist();
  test_celeba();
  return test_finish("test_train_config_model");
}
