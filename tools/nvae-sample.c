/* nvae-sample: a grid of prior samples from a trained model (NVAE.md §1.6, §8.2).
 *
 *   nvae-sample --checkpoint PATH --n 64 --temperature 0.7 --out grid.png [--seed S]
 *               [--readjust-bn [--readjust-iters 500]]
 *
 * PATH is a model.h5 or a run directory. Exit 0, 1 (runtime), 2 (bad usage or checkpoint). */
#define _POSIX_C_SOURCE 200809L
#include "trainer/image_grid.h"
#include "trainer/model_open.h"
#include "trainer/train.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const struct flag {
  struct option opt;
  const char *arg, *help;
} flags[] = {
    {{"checkpoint", required_argument, NULL, 'c'}, "PATH", "model.h5 or run directory (required)"},
    {{"n", required_argument, NULL, 'n'}, "N", "number of samples (default 64)"},
    {{"temperature", required_argument, NULL, 't'}, "T", "prior temperature (default 0.7)"},
    {{"out", required_argument, NULL, 'o'}, "FILE", "PNG grid, 8 per row (required)"},
    {{"seed", required_argument, NULL, 's'}, "S", "random seed (default 1)"},
    {{"readjust-bn", no_argument, NULL, 'b'}, NULL,
     "re-estimate the decoder's BN statistics from prior samples at T first (official)"},
    {{"readjust-iters", required_argument, NULL, 'i'}, "K", "re-adjustment passes (default 500)"},
    {{"help", no_argument, NULL, 'h'}, NULL, "this text"},
};
#define N_FLAGS (int)(sizeof flags / sizeof flags[0])

static void usage(FILE *f) {
  fprintf(f, "usage: nvae-sample --checkpoint PATH --out grid.png [options]\n");
  for (int i = 0; i < N_FLAGS; i++) {
    char left[64];
    snprintf(left, sizeof left, "--%s%s%s", flags[i].opt.name, flags[i].arg ? " " : "",
             flags[i].arg ? flags[i].arg : "");
    fprintf(f, "  %-20s %s\n", left, flags[i].help);
  }
  fprintf(f, "exit codes: 0 done, 1 runtime failure, 2 bad usage or checkpoint\n");
}

static int parse_int(const char *s, const char *flag, long lo, long *out) {
  char *end;
  long v = strtol(s, &end, 10);
  if (*s == '\0' || *end != '\0' || v < lo) {
    fprintf(stderr, "nvae-sample: --%s %s: expected an integer >= %ld\n", flag, s, lo);
    return 1;
  }
  *out = v;
  return 0;
}

int main(int argc, char **argv) {
  struct option longopts[N_FLAGS + 1];
  for (int i = 0; i < N_FLAGS; i++) longopts[i] = flags[i].opt;
  memset(&longopts[N_FLAGS], 0, sizeof longopts[N_FLAGS]);
  const char *ckpt = NULL, *out = NULL;
  long n = 64, seed = 1, iters = 500;
  double t = 0.7;
  int readjust = 0, c;
  while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    char *end;
    switch (c) {
    case 'c': ckpt = optarg; break;
    case 'o': out = optarg; break;
    case 'n': if (parse_int(optarg, "n", 1, &n)) return NVAE_EXIT_USAGE; break;
    case 's': if (parse_int(optarg, "seed", 0, &seed)) return NVAE_EXIT_USAGE; break;
    case 'i': if (parse_int(optarg, "readjust-iters", 1, &iters)) return NVAE_EXIT_USAGE; break;
    case 'b': readjust = 1; break;
    case 't':
      t = strtod(optarg, &end);
      if (*end != '\0' || !(t > 0)) {
        fprintf(stderr, "nvae-sample: --temperature %s: expected a number > 0\n", optarg);
        return NVAE_EXIT_USAGE;
      }
      break;
    case 'h': usage(stdout); return NVAE_EXIT_OK;
    default: fprintf(stderr, "nvae-sample: see nvae-sample --help\n"); return NVAE_EXIT_USAGE;
    }
  }
  if (!ckpt || !out || optind < argc) {
    fprintf(stderr, "nvae-sample: --checkpoint and --out are required (see nvae-sample --help)\n");
    return NVAE_EXIT_USAGE;
  }
  nvae_err e = {0};
  char path[4096];
  nvae_config *cfg = nvae_malloc(sizeof *cfg);
  model_io_info info;
  op_ctx ctx;
  model *m = NULL;
  int rc = model_open_resolve(ckpt, path, sizeof path, &e);
  if (!rc) rc = model_io_read_info(path, cfg, &info, &e);
  if (!rc) rc = train_make_ctx(cfg, 0, &ctx, &e);
  if (rc) goto done;
  /* samples are drawn in batches of at most 64 (the model's activation arena) */
  const int chunk = n < 64 ? (int)n : 64;
  rc = model_open(path, chunk, &ctx, &m, cfg, &info, &e);
  if (!rc) {
    if (readjust) model_readjust_bn(m, &ctx, (int)iters, chunk < 16 ? chunk : 16, (float)t,
                                    (uint64_t)seed);
    const int64_t per = (int64_t)info.geom.channels * info.geom.size * info.geom.size;
    float *x = nvae_malloc(sizeof(float) * (size_t)(per * n));
    for (long i = 0; i < n; i += chunk) {
      int k = n - i < chunk ? (int)(n - i) : chunk;
      model_sample(m, &ctx, k, (float)t, (uint64_t)seed, (uint32_t)(i / chunk), x + i * per);
    }
    image_grid g = {0};
    rc = image_grid_make(&g, x, (int)n, info.geom.channels, info.geom.size, info.geom.size, &e);
    if (!rc) rc = image_grid_write_png(&g, out, &e);
    if (!rc) printf("%ld samples at temperature %.2f from %s (step %lld) -> %s\n", n, t, path,
                    (long long)info.step, out);
    image_grid_free(&g);
    free(x);
    model_free(m);
  }
  op_ctx_free(&ctx);
done:
  free(cfg);
  if (rc) fprintf(stderr, "nvae-sample: %s\n", e.msg);
  return rc;
}
