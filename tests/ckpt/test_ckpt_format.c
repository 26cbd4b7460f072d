/* Checkpoint format units (label unit): CRC-32C (both paths of trainer/crc32c.c) against its
 * bitwise definition; the MANIFEST and LATEST parsers on valid text, every
 * truncation, every flipped byte and random garbage (they return an error naming the file and
 * never exit or crash: what a fuzzer checks); the optimizer slices; the retention plan; and a
 * write → verify → load round trip of a whole checkpoint at world size 1 for configs/tiny.yaml's
 * registry (bit-exact), with a flipped byte, a truncated model.h5, a missing rank file, another
 * model config and an injected ENOSPC. */
#define _POSIX_C_SOURCE 200809L
#include "tests/test_util.h"
#include "trainer/ckpt_fs.h"
#include "trainer/ckpt_hooks.h"
#include "trainer/ckpt_manifest.h"
#include "trainer/ckpt_names.h"
#include "trainer/ckpt_read.h"
#include "trainer/ckpt_retention.h"
#include "trainer/ckpt_write.h"
#include "trainer/config_model.h"
#include "trainer/crc32c.h"
#include "trainer/model_registry.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static uint64_t rng = 88172645463325252ull;
static uint32_t next_u32(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)rng;
}

/* CRC-32C bit by bit (the definition), against trainer/crc32c.c's table and SSE4.2 paths: every
 * length 0..600 at every start alignment 0..7, and a running CRC in uneven pieces. */
static uint32_t crc32c_bitwise(const uint8_t *p, size_t n) {
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++)
      c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
  }
  return ~c;
}

static void test_crc32c(void) {
  uint8_t buf[640];
  for (size_t i = 0; i < sizeof buf; i++)
    buf[i] = (uint8_t)next_u32();
  int bad = 0;
  for (size_t off = 0; off < 8; off++)
    for (size_t n = 0; n + off <= 600; n++)
      bad += crc32c(buf + off, n) != crc32c_bitwise(buf + off, n);
  CHECK(bad == 0, "crc32c differs from the bitwise definition in %d cases", bad);
  uint32_t run = 0;
  for (size_t at = 0; at < 600; at += 97)
    run = crc32c_update(run, buf + at, at + 97 <= 600 ? 97 : 600 - at);
  CHECK(run == crc32c_bitwise(buf, 600), "running crc32c");
}

static void test_manifest(void) {
  ckpt_manifest_file files[5] = {{"model.h5", 1234, 0xdeadbeefu},
                                 {"optim-00000.h5", 99, 1},
                                 {"rank-00000.h5", 7, 0},
                                 {"optim-00001.h5", 100, 0xffffffffu},
                                 {"rank-00001.h5", 8, 42}};
  ckpt_manifest m = {CKPT_FORMAT_VERSION, 120, 2, 5, files};
  size_t len = 0;
  char *text = ckpt_manifest_format(&m, &len);
  ckpt_manifest back;
  nvae_err e = {0};
  CHECK(ckpt_manifest_parse(text, len, "X/MANIFEST", &back, &e) == 0, "parse: %s", e.msg);
  CHECK(back.step == 120 && back.world_size == 2 && back.n_files == 5, "fields");
  CHECK(ckpt_manifest_check_complete(&back, "X/MANIFEST", &e) == 0, "complete: %s", e.msg);
  const ckpt_manifest_file *f = ckpt_manifest_find(&back, "optim-00001.h5");
  CHECK(f && f->size == 100 && f->crc32c == 0xffffffffu, "entry");
  ckpt_manifest_free(&back);
  /* every truncation is an error naming the file */
  for (size_t n = 0; n < len; n++) {
    nvae_err te = {0};
    int rc = ckpt_manifest_parse(text, n, "X/MANIFEST", &back, &te);
    CHECK(rc == NVAE_EXIT_USAGE && strstr(te.msg, "X/MANIFEST"), "truncated to %zu: %s", n, te.msg);
  }
  /* every flipped byte (one bit of each) is detected */
  char *copy = malloc(len);
  for (size_t i = 0; i < len; i++) {
    memcpy(copy, text, len);
    copy[i] ^= (char)(1u << (i % 8));
    nvae_err fe = {0};
    int rc = ckpt_manifest_parse(copy, len, "X/MANIFEST", &back, &fe);
    CHECK(rc != 0, "flipped byte %zu (of '%c') not detected", i, text[i]);
  }
  /* garbage: random bytes and random edits of the real text */
  for (int trial = 0; trial < 20000; trial++) {
    size_t n = next_u32() % (len + 40);
    char *g = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
      g[i] = trial % 2 && i < len ? text[i] : (char)next_u32();
    if (trial % 2 && n > 0) g[next_u32() % n] = (char)next_u32();
    nvae_err ge = {0};
    if (ckpt_manifest_parse(g, n, "G", &back, &ge) == 0)
      ckpt_manifest_free(&back);
    else
      CHECK(ge.msg[0] == 'G', "garbage error names the file: %s", ge.msg);
    free(g);
  }
  /* an incomplete list is refused */
  ckpt_manifest part = {CKPT_FORMAT_VERSION, 3, 2, 3, files};
  free(text);
  text = ckpt_manifest_format(&part, &len);
  CHECK(ckpt_manifest_parse(text, len, "Y", &back, &e) == 0, "parse partial");
  CHECK(ckpt_manifest_check_complete(&back, "Y", &e) != 0 && strstr(e.msg, "rank 1"),
        "incomplete: %s", e.msg);
  ckpt_manifest_free(&back);
  free(copy);
  free(text);
}

static void test_latest(void) {
  int64_t step = -1;
  nvae_err e = {0};
  CHECK(ckpt_latest_parse("step-00000120\n", 14, &step, &e) == 0 && step == 120, "valid");
  CHECK(ckpt_latest_parse("step-123456789", 14, &step, &e) == 0 && step == 123456789, "9 digits");
  const char *bad[] = {"",
                       "\n",
                       "step-0000012\n",
                       "step-00000120\n\n",
                       "garbage\n",
                       "step-0000012x\n",
                       " step-00000120",
                       "step-00000120 \n",
                       "../step-00000120\n",
                       "step--0000120\n"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    nvae_err be = {0};
    CHECK(ckpt_latest_parse(bad[i], strlen(bad[i]), &step, &be) == NVAE_EXIT_USAGE &&
              strncmp(be.msg, "LATEST:", 7) == 0,
          "bad LATEST \"%s\": %s", bad[i], be.msg);
  }
  for (int trial = 0; trial < 5000; trial++) {
    char g[40];
    size_t n = next_u32() % sizeof g;
    for (size_t i = 0; i < n; i++)
      g[i] = (char)next_u32();
    nvae_err ge = {0};
    if (ckpt_latest_parse(g, n, &step, &ge)) CHECK(ge.msg[0] == 'L', "message: %s", ge.msg);
  }
  int64_t s;
  CHECK(ckpt_name_parse_step_dir("step-00000007", &s) == 0 && s == 7, "dir name");
  CHECK(ckpt_name_parse_step_dir("step-00000007.tmp", &s) != 0, ".tmp is not committed");
  CHECK(ckpt_name_parse_step_dir("step-00000007.del", &s) != 0, ".del is not committed");
}

static void test_slices_and_retention(void) {
  for (int64_t n = 0; n < 50; n++)
    for (int w = 1; w <= 7; w++) {
      int64_t prev = 0;
      for (int r = 0; r < w; r++) {
        int64_t lo, hi;
        ckpt_slice(n, r, w, &lo, &hi);
        CHECK(lo == prev && hi >= lo, "slice %lld %d %d", (long long)n, r, w);
        prev = hi;
      }
      CHECK(prev == n, "slices cover %lld", (long long)n);
    }
  const int64_t steps[] = {200, 190, 180, 170, 160, 150, 100, 50, 10};
  unsigned char del[9];
  int n = ckpt_retention_plan(steps, 9, 3, 50, 200, del);
  const unsigned char want[9] = {0, 0, 0, 1, 1, 0, 0, 0, 1};
  CHECK(n == 3 && memcmp(del, want, 9) == 0, "keep_last 3 + every 50: %d deleted", n);
  n = ckpt_retention_plan(steps, 9, 1, 0, 190, del);
  CHECK(n == 7 && !del[0] && !del[1], "LATEST is never deleted");
}

/* ---- a whole checkpoint at world size 1 ---- */

typedef struct arenas {
  registry reg;
  float *params, *buffers, *sr, *m, *v;
  int64_t *counters;
} arenas;

static void arenas_alloc(arenas *a, const registry *r) {
  a->params = calloc((size_t)r->param_arena_numel, sizeof(float));
  a->buffers = calloc((size_t)r->buffer_arena_numel + 1, sizeof(float));
  a->sr = calloc((size_t)r->sr_vector_numel + 1, sizeof(float));
  a->m = calloc((size_t)r->param_arena_numel, sizeof(float));
  a->v = calloc((size_t)r->param_arena_numel, sizeof(float));
  a->counters = calloc((size_t)r->counter_arena_numel + 1, sizeof(int64_t));
}

static void arenas_free(arenas *a) {
  free(a->params), free(a->buffers), free(a->sr), free(a->m), free(a->v), free(a->counters);
}

static ckpt_state state_of(arenas *a, const registry *r, const nvae_config *cfg,
                           const model_geometry *g) {
  ckpt_state st;
  memset(&st, 0, sizeof st);
  st.model = (model_state){r, a->params, a->buffers, a->counters, a->sr, 1};
  st.cfg = cfg;
  st.geom = *g;
  st.optim_m = a->m;
  st.optim_v = a->v;
  st.optim_t = 17;
  st.optimizer = "adamax";
  st.rank.batch_size = 8;
  st.rank.dataset_images = 100;
  st.rank.sampler_epoch = 2;
  st.rank.sampler_position = 40;
  st.rank.skipped = 1;
  st.rank.last_eval = 10;
  st.rank.interval_steps = 3;
  st.rank.n_interval_sums = 8;
  for (int k = 0; k < 8; k++)
    st.rank.interval_sums[k] = k * 1.5 - 2;
  st.rank.metrics_bytes = 1234;
  return st;
}

static int verify(const char *dir, const nvae_config *cfg, const registry *r, nvae_err *e) {
  train_comm one = {.rank = 0, .world = 1};
  ckpt_manifest m;
  int v = ckpt_verify(dir, cfg, r->param_arena_numel, &one, 0, &m, e);
  ckpt_manifest_free(&m);
  return v;
}

static void copy_file(const char *from, const char *to) {
  char *text = NULL;
  size_t len = 0;
  nvae_err e = {0};
  if (ckpt_fs_read_small(from, 1u << 30, &text, &len, &e) == 0)
    ckpt_fs_write_file(to, text, len, &e);
  free(text);
}

static void test_round_trip(const char *src) {
  char cpath[4096];
  snprintf(cpath, sizeof cpath, "%s/configs/tiny.yaml", src);
  nvae_config cfg, other;
  nvae_err e = {0};
  model_geometry g;
  model_arch arch;
  data_shape d;
  registry reg;
  if (config_load(cpath, &cfg, &e)) {
    CHECK(0, "%s", e.msg);
    return;
  }
  d = config_model_assumed_shape(&cfg);
  CHECK(config_model_geometry(&cfg, &d, &g, &e) == 0 &&
            config_model_arch(&cfg, &g, &arch, &e) == 0 &&
            model_registry_build(&arch, &reg, &e) == 0,
        "tiny registry: %s", e.msg);
  arenas a, b;
  arenas_alloc(&a, &reg);
  arenas_alloc(&b, &reg);
  test_fill_uniform(a.params, reg.param_arena_numel, -1, 1, 1, 1);
  test_fill_uniform(a.buffers, reg.buffer_arena_numel, 0, 2, 1, 2);
  test_fill_uniform(a.sr, reg.sr_vector_numel, -1, 1, 1, 3);
  test_fill_uniform(a.m, reg.param_arena_numel, -1e-3f, 1e-3f, 1, 4);
  test_fill_uniform(a.v, reg.param_arena_numel, 0, 1e-2f, 1, 5);
  { /* the alignment padding between tensors is zero in a real model (registry.h) */
    float *keep = calloc((size_t)reg.param_arena_numel, sizeof(float));
    for (int i = 0; i < reg.n_tensors; i++) {
      const reg_tensor *t = &reg.tensors[i];
      if (t->kind == REG_PARAM)
        memcpy(keep + t->offset, a.params + t->offset, sizeof(float) * (size_t)t->numel);
    }
    memcpy(a.params, keep, sizeof(float) * (size_t)reg.param_arena_numel);
    free(keep);
  }
  a.m[0] = -0.0f;  /* the sign of zero survives */
  a.v[1] = 1e-42f; /* and a subnormal */
  for (int64_t i = 0; i < reg.counter_arena_numel; i++)
    a.counters[i] = 1000 + i;
  char dir[] = "/tmp/ckpt-unit-XXXXXX";
  CHECK(mkdtemp(dir) != NULL, "mkdtemp");
  char ck[4200], step_dir[4300], p[4400];
  snprintf(ck, sizeof ck, "%s/checkpoints", dir);
  train_comm one = {.rank = 0, .world = 1};
  ckpt_state st = state_of(&a, &reg, &cfg, &g);
  ckpt_write_opts wo = {2, 0, 0, 1};
  ckpt_write_result res;
  for (int64_t step = 10; step <= 40; step += 10) /* keep_last 2: 30 and 40 remain */
    CHECK(ckpt_write(ck, step, &st, &one, &wo, &res, &e) == 0, "write %lld: %s", (long long)step,
          e.msg);
  int64_t *steps = NULL;
  int n = 0;
  ckpt_list_steps(ck, &steps, &n, NULL, &e);
  CHECK(n == 2 && steps[0] == 40 && steps[1] == 30, "retention: %d left", n);
  free(steps);
  snprintf(step_dir, sizeof step_dir, "%s/step-00000040", ck);
  CHECK(verify(step_dir, &cfg, &reg, &e) == CKPT_FINE, "verify: %s", e.msg);
  /* load into other arenas: bit for bit */
  ckpt_state sb = state_of(&b, &reg, &cfg, &g);
  memset(&sb.rank, 0, sizeof sb.rank);
  sb.model.sr_initialized = 0;
  sb.optim_t = 0;
  ckpt_manifest m;
  CHECK(ckpt_verify(step_dir, &cfg, reg.param_arena_numel, &one, 0, &m, &e) == CKPT_FINE, "v");
  CHECK(ckpt_load(step_dir, &m, &sb, &one, &e) == 0, "load: %s", e.msg);
  ckpt_manifest_free(&m);
  const size_t pb = sizeof(float) * (size_t)reg.param_arena_numel;
  CHECK(memcmp(a.params, b.params, pb) == 0, "params");
  CHECK(memcmp(a.m, b.m, pb) == 0 && memcmp(a.v, b.v, pb) == 0, "optimizer state");
  CHECK(memcmp(a.buffers, b.buffers, sizeof(float) * (size_t)reg.buffer_arena_numel) == 0, "bn");
  CHECK(memcmp(a.sr, b.sr, sizeof(float) * (size_t)reg.sr_vector_numel) == 0, "sr");
  CHECK(memcmp(a.counters, b.counters, sizeof(int64_t) * (size_t)reg.counter_arena_numel) == 0,
        "counters");
  CHECK(sb.optim_t == 17 && sb.model.sr_initialized == 1 && sb.rank.step == 40 &&
            sb.rank.sampler_epoch == 2 && sb.rank.sampler_position == 40 &&
            sb.rank.interval_sums[7] == 8.5 && sb.rank.metrics_bytes == 1234,
        "loop state");
  /* damage: each case names the file */
  snprintf(p, sizeof p, "%s/optim-00000.h5", step_dir);
  FILE *f = fopen(p, "r+b");
  fseek(f, 5000, SEEK_SET);
  int c = fgetc(f);
  fseek(f, 5000, SEEK_SET);
  fputc(c ^ 0x10, f);
  fclose(f);
  CHECK(verify(step_dir, &cfg, &reg, &e) == CKPT_DAMAGED && strstr(e.msg, "optim-00000.h5") &&
            strstr(e.msg, "checksum"),
        "flipped byte: %s", e.msg);
  snprintf(step_dir, sizeof step_dir, "%s/step-00000030", ck);
  snprintf(p, sizeof p, "%s/model.h5", step_dir);
  char saved[4400];
  snprintf(saved, sizeof saved, "%s/model.h5.saved", dir);
  copy_file(p, saved);
  CHECK(truncate(p, 1000) == 0, "truncate");
  CHECK(verify(step_dir, &cfg, &reg, &e) == CKPT_DAMAGED && strstr(e.msg, "model.h5"),
        "truncated: %s", e.msg);
  copy_file(saved, p);
  CHECK(verify(step_dir, &cfg, &reg, &e) == CKPT_FINE, "restored: %s", e.msg);
  other = cfg;
  other.model.num_latent_per_group = 5;
  CHECK(verify(step_dir, &other, &reg, &e) == CKPT_REFUSED &&
            strstr(e.msg, "model.num_latent_per_group"),
        "other config: %s", e.msg);
  snprintf(p, sizeof p, "%s/rank-00000.h5", step_dir);
  unlink(p);
  CHECK(verify(step_dir, &cfg, &reg, &e) == CKPT_DAMAGED && strstr(e.msg, "rank-00000.h5"),
        "missing rank file: %s", e.msg);
  /* ENOSPC during a write: an error, the previous checkpoint and LATEST untouched */
  setenv("NVAE_CKPT_FAULT", "enospc@0:50", 1);
  CHECK(ckpt_hook_init(0, &e) == 0, "hook");
  CHECK(ckpt_write(ck, 50, &st, &one, &wo, &res, &e) == NVAE_EXIT_RUNTIME &&
            strstr(e.msg, "No space left"),
        "enospc: %s", e.msg);
  char *latest = NULL;
  size_t ll = 0;
  snprintf(p, sizeof p, "%s/LATEST", ck);
  ckpt_fs_read_small(p, 100, &latest, &ll, &e);
  CHECK(latest && strcmp(latest, "step-00000040\n") == 0, "LATEST after ENOSPC: %s", latest);
  free(latest);
  snprintf(p, sizeof p, "%s/step-00000050.tmp", ck);
  CHECK(access(p, F_OK) != 0, "the failed write's .tmp is removed");
  unsetenv("NVAE_CKPT_FAULT");
  ckpt_hook_init(0, &e);
  /* readers on garbage files return errors */
  snprintf(p, sizeof p, "%s/garbage.h5", dir);
  ckpt_fs_write_file(p, "not hdf5 at all", 15, &e);
  ckpt_rank_state rs;
  ckpt_optim_info oi;
  CHECK(ckpt_rank_read(p, &rs, NULL, 0, NULL, 0, &e) == NVAE_EXIT_USAGE && strstr(e.msg, p),
        "garbage rank file: %s", e.msg);
  CHECK(ckpt_optim_read_info(p, &oi, &e) == NVAE_EXIT_USAGE && strstr(e.msg, p),
        "garbage optim file: %s", e.msg);
  /* the HDF5 readers on damaged files (what verification normally stops first): an error or a
   * value, never a crash, no HDF5 object left open. The 1.10 format checksums its metadata. In
   * a child process: HDF5 1.10 keeps internal cache entries of damaged files that it cannot free
   * at library shutdown (LeakSanitizer would report them), so the child ends with _exit. */
  fflush(stdout);
  pid_t child = fork();
  if (child == 0) {
    char good[4400], bad[4400];
    snprintf(good, sizeof good, "%s/checkpoints/step-00000040/rank-00000.h5", dir);
    snprintf(bad, sizeof bad, "%s/damaged.h5", dir);
    char *text = NULL;
    size_t len = 0;
    CHECK(ckpt_fs_read_small(good, 1u << 26, &text, &len, &e) == 0, "%s", e.msg);
    int errors = 0;
    for (int trial = 0; trial < 200 && text; trial++) {
      char *copy = malloc(len);
      memcpy(copy, text, len);
      for (int k = 0; k < 1 + trial % 4; k++)
        copy[next_u32() % len] ^= (char)(1u << (next_u32() % 8));
      size_t cut = trial % 5 == 0 ? next_u32() % len : len;
      ckpt_fs_write_file(bad, copy, cut, &e);
      float *bn = calloc((size_t)reg.buffer_arena_numel + 1, sizeof(float));
      int64_t *cn = calloc((size_t)reg.counter_arena_numel + 1, sizeof(int64_t));
      nvae_err de = {0};
      if (ckpt_rank_read(bad, &rs, bn, reg.buffer_arena_numel, cn, reg.counter_arena_numel, &de)) {
        errors++;
        CHECK(strstr(de.msg, bad) != NULL, "damaged rank file: %s", de.msg);
      }
      ssize_t open_ids = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
      CHECK(open_ids == 0, "trial %d: %zd HDF5 objects left open (%s)", trial, open_ids, de.msg);
      free(bn);
      free(cn);
      free(copy);
    }
    printf("damaged rank files: %d of 200 refused by the reader, the rest read\n", errors);
    free(text);
    fflush(stdout);
    _exit(test_failures > 0 ? 1 : 0);
  }
  int status = -1;
  waitpid(child, &status, 0);
  CHECK(child > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
        "the damaged-file readers (child process) failed: status %d", status);
  ckpt_fs_remove_dir(step_dir, &e);
  snprintf(p, sizeof p, "%s/step-00000040", ck);
  ckpt_fs_remove_dir(p, &e);
  snprintf(p, sizeof p, "rm -rf %s", dir);
  CHECK(system(p) == 0, "cleanup");
  arenas_free(&a);
  arenas_free(&b);
  registry_free(&reg);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0); /* lines reach the log even if HDF5 or LSan end the process */
  test_crc32c();
  test_manifest();
  test_latest();
  test_slices_and_retention();
  const char *src = getenv("NVAE_SOURCE_DIR");
  if (src)
    test_round_trip(src);
  else
    printf("NVAE_SOURCE_DIR not set: round trip skipped\n");
  return test_finish("test_ckpt_format");
}
