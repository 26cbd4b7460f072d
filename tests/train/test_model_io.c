/* model.h5 round trip (trainer/model_io.c): save, load, bit-identical arenas; h5py reads the names,
 * shapes and attributes (check_model_h5.py); a different model config or tensor shape is refused
 * with one line naming the file and the key or tensor; bad files are usage errors. */
#define _POSIX_C_SOURCE 200809L
#include "tests/test_util.h"
#include "trainer/model_io.h"
#include "trainer/model_registry.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct arenas {
  registry reg;
  model_state s;
} arenas;

static void arenas_make(arenas *a, const model_arch *arch, uint32_t tag) {
  nvae_err e = {0};
  NVAE_ASSERT(model_registry_build(arch, &a->reg, &e) == 0, "%s", e.msg);
  a->s.reg = &a->reg;
  a->s.params = nvae_calloc((size_t)a->reg.param_arena_numel + 1, sizeof(float));
  a->s.buffers = nvae_calloc((size_t)a->reg.buffer_arena_numel + 1, sizeof(float));
  a->s.counters = nvae_calloc((size_t)a->reg.counter_arena_numel + 1, sizeof(int64_t));
  a->s.sr = nvae_calloc((size_t)a->reg.sr_vector_numel + 1, sizeof(float));
  if (tag) {
    test_fill_uniform(a->s.params, a->reg.param_arena_numel, -1, 1, 7, tag);
    test_fill_uniform(a->s.buffers, a->reg.buffer_arena_numel, 0, 2, 7, tag + 1);
    test_fill_uniform(a->s.sr, a->reg.sr_vector_numel, -1, 1, 7, tag + 2);
    for (int64_t i = 0; i < a->reg.counter_arena_numel; i++)
      a->s.counters[i] = (int64_t)1 << 40 | i; /* beyond float precision: must stay int64 */
    a->s.sr_initialized = 1;
  }
}

static void arenas_free(arenas *a) {
  free(a->s.params);
  free(a->s.buffers);
  free(a->s.counters);
  free(a->s.sr);
  registry_free(&a->reg);
}

/* Bitwise equality of the stored part (the alignment padding is never written). */
static int same(const arenas *a, const arenas *b) {
  const registry *r = &a->reg;
  for (int i = 0; i < r->n_tensors; i++) {
    const reg_tensor *t = &r->tensors[i];
    if (t->kind == REG_ALIAS) continue;
    const void *x, *y;
    size_t bytes;
    if (t->flags & REG_F_I64) {
      x = a->s.counters + t->offset, y = b->s.counters + t->offset;
      bytes = (size_t)t->numel * 8;
    } else {
      const float *fa = t->kind == REG_PARAM ? a->s.params : a->s.buffers;
      const float *fb = t->kind == REG_PARAM ? b->s.params : b->s.buffers;
      x = fa + t->offset, y = fb + t->offset;
      bytes = (size_t)t->numel * 4;
    }
    if (memcmp(x, y, bytes) != 0) {
      fprintf(stderr, "tensor %s differs\n", t->name);
      return 0;
    }
  }
  return memcmp(a->s.sr, b->s.sr, (size_t)r->sr_vector_numel * 4) == 0 &&
         a->s.sr_initialized == b->s.sr_initialized;
}

static void tiny_config(nvae_config *c, const model_arch *a) {
  config_defaults(c);
  c->model.num_channels_enc = a->num_channels_enc;
  c->model.num_channels_dec = a->num_channels_dec;
  c->model.num_latent_scales = a->num_latent_scales;
  c->train.batch_size = 8;
}

int main(void) {
  char dir[] = "/tmp/trainer-helper-mio-XXXXXX";
  if (!mkdtemp(dir)) return test_skip("test_train_model_io", "mkdtemp failed");
  char path[256], list[256], cmd[1024];
  snprintf(path, sizeof path, "%s/model.h5", dir);
  snprintf(list, sizeof list, "%s/tensors.txt", dir);
  nvae_err e = {0};

  const char *presets[] = {"tiny-nf", "tiny"};
  for (int p = 0; p < 2; p++) {
    model_arch arch;
    NVAE_ASSERT(model_arch_preset(presets[p], &arch, &e) == 0, "%s", e.msg);
    nvae_config cfg;
    tiny_config(&cfg, &arch);
    arenas a, b;
    arenas_make(&a, &arch, 11);
    arenas_make(&b, &arch, 0);
    model_io_info info = {.step = 1234, .epoch = 3, .world_size = 2,
                          .geom = {3, 32, 0, 0, 32, 32}};
    CHECK(model_io_save_state(path, &a.s, &cfg, &info, &e) == 0, "save: %s", e.msg);
    model_io_info got = {0};
    CHECK(model_io_load_state(path, &b.s, &cfg, &got, &e) == 0, "load: %s", e.msg);
    CHECK(same(&a, &b), "%s: arenas differ after the round trip", presets[p]);
    CHECK(got.step == 1234 && got.epoch == 3 && got.world_size == 2 && got.geom.size == 32 &&
              got.geom.channels == 3 && got.format_version == MODEL_IO_FORMAT_VERSION,
          "info");
    nvae_config back;
    CHECK(model_io_read_info(path, &back, NULL, &e) == 0, "read_info: %s", e.msg);
    CHECK(config_first_difference(&cfg, &back, "") == NULL, "config differs after the trip: %s",
          config_first_difference(&cfg, &back, ""));

    /* h5py: every P and B name with its shape, no aliases, attributes */
    FILE *f = fopen(list, "w");
    for (int i = 0; i < a.reg.n_tensors; i++) {
      char shape[64];
      const reg_tensor *t = &a.reg.tensors[i];
      fprintf(f, "%c %s %s\n", (char)t->kind, t->name, reg_shape_str(t, shape, sizeof shape));
    }
    fclose(f);
    const char *dirp = getenv("TRAIN_TEST_DIR");
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/check_model_h5.py %s %s %d",
             dirp ? dirp : "tests/train", path, list, a.reg.n_convs);
    int rc = system(cmd);
    CHECK(rc == 0, "%s: h5py check failed (%d)", presets[p], rc);

    /* a different model config is refused, naming the key */
    nvae_config other = cfg;
    other.model.num_channels_enc = 16;
    CHECK(model_io_load_state(path, &b.s, &other, NULL, &e) == NVAE_EXIT_USAGE &&
              strstr(e.msg, "model.num_channels_enc") && strstr(e.msg, path),
          "different model: %s", e.msg);
    printf("refusal: %s\n", e.msg);
    /* a different training config is fine */
    other = cfg;
    other.train.batch_size = 99;
    CHECK(model_io_load_state(path, &b.s, &other, NULL, &e) == 0, "train key: %s", e.msg);

    /* different shapes: load into the registry of a wider model (no config check) */
    model_arch wide = arch;
    wide.num_latent_per_group = 5;
    arenas w;
    arenas_make(&w, &wide, 0);
    CHECK(model_io_load_state(path, &w.s, NULL, NULL, &e) == NVAE_EXIT_USAGE &&
              strstr(e.msg, path) && strstr(e.msg, "shape"),
          "shape: %s", e.msg);
    printf("refusal: %s\n", e.msg);
    arenas_free(&w);
    arenas_free(&a);
    arenas_free(&b);
  }

  /* bad files */
  model_arch arch;
  model_arch_preset("tiny", &arch, &e);
  arenas b;
  arenas_make(&b, &arch, 0);
  CHECK(model_io_load_state("/nonexistent/model.h5", &b.s, NULL, NULL, &e) == NVAE_EXIT_USAGE &&
            strstr(e.msg, "/nonexistent/model.h5"),
        "missing file: %s", e.msg);
  FILE *f = fopen(list, "w");
  fputs("not hdf5\n", f);
  fclose(f);
  CHECK(model_io_load_state(list, &b.s, NULL, NULL, &e) == NVAE_EXIT_USAGE && strstr(e.msg, list),
        "text file: %s", e.msg);
  nvae_config c;
  CHECK(model_io_read_info(list, &c, NULL, &e) == NVAE_EXIT_USAGE, "text file info");
  arenas_free(&b);
  snprintf(cmd, sizeof cmd, "%s", getenv("KEEP") ? "true" : "rm -rf"); snprintf(cmd + strlen(cmd), sizeof cmd - strlen(cmd), " %s", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return test_finish("test_train_model_io");
}
