/* nvae-eval: NELBO, importance-weighted log p(x) and bits/dim of a trained model on a dataset
 * split (NVAE.md §8.1).
 *
 *   nvae-eval --checkpoint PATH --data DIR [--split valid] --iw-samples 1000 [--max-images N]
 *             [--batch B]
 *
 * Exit 0, 1 (runtime), 2 (bad usage, checkpoint or dataset). */
#define _POSIX_C_SOURCE 200809L
#include "trainer/evaluate.h"
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
    {{"data", required_argument, NULL, 'd'}, "DIR", "dataset directory (nvae-prep output)"},
    {{"split", required_argument, NULL, 's'}, "NAME",
     "split (default valid; falls back to test when there is no valid)"},
    {{"iw-samples", required_argument, NULL, 'k'}, "K",
     "importance samples per image (default 1000, the reported numbers)"},
    {{"max-images", required_argument, NULL, 'm'}, "N", "only the first N images (default all)"},
    {{"batch", required_argument, NULL, 'b'}, "B", "images per pass (default train.batch_size)"},
    {{"seed", required_argument, NULL, 'S'}, "S", "random seed (default: the run's)"},
    {{"help", no_argument, NULL, 'h'}, NULL, "this text"},
};
#define N_FLAGS (int)(sizeof flags / sizeof flags[0])

static void usage(FILE *f) {
  fprintf(f, "usage: nvae-eval --checkpoint PATH --data DIR [options]\n");
  for (int i = 0; i < N_FLAGS; i++) {
    char left[64];
    snprintf(left, sizeof left, "--%s%s%s", flags[i].opt.name, flags[i].arg ? " " : "",
             flags[i].arg ? flags[i].arg : "");
    fprintf(f, "  %-18s %s\n", left, flags[i].help);
  }
  fprintf(f, "exit codes: 0 done, 1 runtime failure, 2 bad usage, checkpoint or dataset\n");
}

static int parse_int(const char *s, const char *flag, long lo, long *out) {
  char *end;
  long v = strtol(s, &end, 10);
  if (*s == '\0' || *end != '\0' || v < lo) {
    fprintf(stderr, "nvae-eval: --%s %s: expected an integer >= %ld\n", flag, s, lo);
    return 1;
  }
  *out = v;
  return 0;
}

int main(int argc, char **argv) {
  struct option longopts[N_FLAGS + 1];
  for (int i = 0; i < N_FLAGS; i++) longopts[i] = flags[i].opt;
  memset(&longopts[N_FLAGS], 0, sizeof longopts[N_FLAGS]);
  const char *ckpt = NULL, *data = NULL, *split = "valid";
  long iw = 1000, max_images = 0, batch = 0, seed = -1;
  int c;
  while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    switch (c) {
    case 'c': ckpt = optarg; break;
    case 'd': data = optarg; break;
    case 's': split = optarg; break;
    case 'k': if (parse_int(optarg, "iw-samples", 1, &iw)) return NVAE_EXIT_USAGE; break;
    case 'm': if (parse_int(optarg, "max-images", 0, &max_images)) return NVAE_EXIT_USAGE; break;
    case 'b': if (parse_int(optarg, "batch", 1, &batch)) return NVAE_EXIT_USAGE; break;
    case 'S': if (parse_int(optarg, "seed", 0, &seed)) return NVAE_EXIT_USAGE; break;
    case 'h': usage(stdout); return NVAE_EXIT_OK;
    default: fprintf(stderr, "nvae-eval: see nvae-eval --help\n"); return NVAE_EXIT_USAGE;
    }
  }
  if (!ckpt || !data || optind < argc) {
    fprintf(stderr, "nvae-eval: --checkpoint and --data are required (see nvae-eval --help)\n");
    return NVAE_EXIT_USAGE;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  nvae_err e = {0};
  char path[4096], used[64];
  nvae_config *cfg = nvae_malloc(sizeof *cfg);
  model_io_info info;
  op_ctx ctx = {0};
  model *m = NULL;
  int have_ctx = 0;
  int rc = model_open_resolve(ckpt, path, sizeof path, &e);
  if (!rc) rc = model_io_read_info(path, cfg, &info, &e);
  /* the dataset is checked before the (possibly large) model is built */
  if (!rc) rc = evaluate_pick_split(data, split, used, sizeof used, &e);
  if (!rc) rc = train_make_ctx(cfg, 0, &ctx, &e);
  have_ctx = !rc;
  if (!rc) {
    if (batch == 0) batch = cfg->train.batch_size;
    rc = model_open(path, (int)batch, &ctx, &m, cfg, &info, &e);
  }
  if (!rc) {
    evaluate_opts eo = {data,
                        split,
                        (int)batch,
                        (int)iw,
                        max_images,
                        seed >= 0 ? (uint64_t)seed : (uint64_t)cfg->train.seed,
                        0,
                        cfg->data.pad_to_set ? cfg->data.pad_to : -1,
                        cfg->model.num_x_bits,
                        cfg->data.binarize == NVAE_BINARIZE_DYNAMIC};
    evaluate_result r;
    train_comm comm = {.rank = 0, .world = 1};
    rc = evaluate_run(m, &ctx, &eo, &info.geom, &comm, &r, &e);
    if (!rc) {
      printf("checkpoint   %s (step %lld)\n", path, (long long)info.step);
      printf("split        %s, %lld images, %ld importance samples, %.1f s\n", r.split,
             (long long)r.images, iw, r.seconds);
      printf("NELBO        %.4f nats (%.4f bits/dim)\n", r.nelbo, r.bpd_elbo);
      printf("log p(x)     %.4f nats (%.4f bits/dim)\n", r.log_px, r.bpd_log_px);
      printf("bits/dim     %.4f\n", r.bpd_log_px);
    }
  }
  if (m) model_free(m);
  if (have_ctx) op_ctx_free(&ctx);
  free(cfg);
  if (rc) fprintf(stderr, "nvae-eval: %s\n", e.msg);
  return rc;
}
