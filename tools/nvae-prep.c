/* nvae-prep: makes a dataset directory (HDF5 shards + dataset.yaml, docs/dataset-format.md) from
 * the official CelebA release, a folder of JPEG/PNG images, or MNIST-style IDX files.
 *
 *   nvae-prep celeba --root DIR --out DIR [--size 64]
 *   nvae-prep folder --root DIR --out DIR --size N [--valid-fraction F]
 *   nvae-prep idx    --train FILE [--test FILE] --out DIR
 *   nvae-prep synthetic --images N --out DIR [--size 64] [--channels 3] [--seed 1]
 *
 * Exit codes: 0 done, 1 runtime failure (I/O, interrupted), 2 bad usage or bad input. */
#define _POSIX_C_SOURCE 200809L
#include "dataset/prep.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CMD_CELEBA = 1, CMD_FOLDER = 2, CMD_IDX = 4, CMD_SYNTHETIC = 8, CMD_ALL = 15 };

/* One table drives getopt_long and the help text. */
typedef struct opt_spec {
  const char *name;
  const char *metavar; /* NULL: a flag */
  int commands;        /* CMD_* the option belongs to */
  const char *help;
} opt_spec;

static const opt_spec OPTS[] = {
    {"root", "DIR", CMD_CELEBA | CMD_FOLDER,
     "source directory (celeba: holds img_align_celeba/ and list_eval_partition.txt)"},
    {"out", "DIR", CMD_ALL, "dataset directory to create (must not exist)"},
    {"size", "N", CMD_CELEBA | CMD_FOLDER | CMD_SYNTHETIC,
     "output side in pixels (celeba, synthetic: default 64)"},
    {"images", "N", CMD_SYNTHETIC, "train images (valid and test: a tenth each)"},
    {"channels", "C", CMD_SYNTHETIC, "1 or 3 (default 3)"},
    {"seed", "S", CMD_SYNTHETIC, "the images' seed (default 1)"},
    {"valid-fraction", "F", CMD_FOLDER, "share of images in the valid split (default 0.1)"},
    {"train", "FILE", CMD_IDX, "IDX image file for the train split (gzip or raw)"},
    {"test", "FILE", CMD_IDX, "IDX image file for the test split (gzip or raw)"},
    {"name", "NAME", CMD_ALL,
     "dataset name used in shard file names (default: base name of --out)"},
    {"images-per-shard", "N", CMD_ALL, "images per shard (default: about 256 MiB per shard)"},
    {"shards", "N", CMD_ALL, "shards per split (overrides --images-per-shard)"},
    {"threads", "N", CMD_ALL, "decoding threads (default: every core)"},
    {"strict", NULL, CMD_CELEBA | CMD_FOLDER,
     "an unreadable image is an error (default: skip it with a warning)"},
    {"help", NULL, CMD_ALL, "show this help"},
};
#define N_OPTS (int)(sizeof OPTS / sizeof OPTS[0])

static void usage(FILE *f) {
  fprintf(f,
          "usage: nvae-prep celeba --root DIR --out DIR [--size 64]\n"
          "       nvae-prep folder --root DIR --out DIR --size N [--valid-fraction F]\n"
          "       nvae-prep idx    --train FILE [--test FILE] --out DIR\n"
          "       nvae-prep synthetic --images N --out DIR [--size 64] [--channels 3] [--seed S]\n"
          "\n"
          "Makes a dataset directory for nvae-train: HDF5 shards <name>-<split>-KKKKK-of-NNNNN.h5\n"
          "(uint8 [N, H, W, C]) and dataset.yaml. See docs/dataset-format.md.\n"
          "  celeba  official aligned CelebA: NVAE's crop box (15, 40, 163, 188), PIL-bilinear\n"
          "          resize; splits train/valid/test from the partition file\n"
          "  folder  any tree of JPEG/PNG images: centre square crop, resize; splits train/valid\n"
          "  idx     MNIST-style IDX files (e.g. Fashion-MNIST), stored at 28x28x1; train/test\n"
          "  synthetic  made-up smooth images from a seed, for benchmarks and smoke runs only;\n"
          "          splits train/valid/test\n"
          "\noptions:\n");
  for (int i = 0; i < N_OPTS; i++) {
    char left[64];
    snprintf(left, sizeof left, "--%s%s%s", OPTS[i].name, OPTS[i].metavar ? " " : "",
             OPTS[i].metavar ? OPTS[i].metavar : "");
    char which[64] = "";
    if (OPTS[i].commands != CMD_ALL) {
      static const char *const names[] = {"celeba", "folder", "idx", "synthetic"};
      int len = snprintf(which, sizeof which, " [");
      for (int k = 0, first = 1; k < 4; k++)
        if (OPTS[i].commands & (1 << k)) {
          len += snprintf(which + len, sizeof which - (size_t)len, "%s%s", first ? "" : ", ",
                          names[k]);
          first = 0;
        }
      snprintf(which + len, sizeof which - (size_t)len, "]");
    }
    fprintf(f, "  %-24s %s%s\n", left, OPTS[i].help, which);
  }
  fprintf(f, "\nexit codes: 0 done, 1 runtime failure, 2 bad usage or bad input\n");
}

static int bad_usage(const char *fmt, const char *arg) {
  fprintf(stderr, "nvae-prep: error: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, " (see nvae-prep --help)\n");
  return NVAE_EXIT_USAGE;
}

static int parse_long(const char *s, long long lo, long long hi, long long *out) {
  char *end = NULL;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

static volatile sig_atomic_t interrupted = 0;
static void on_signal(int sig) {
  (void)sig;
  interrupted = 1;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return NVAE_EXIT_USAGE;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    usage(stdout);
    return 0;
  }
  int cmd = !strcmp(argv[1], "celeba")   ? CMD_CELEBA
            : !strcmp(argv[1], "folder") ? CMD_FOLDER
            : !strcmp(argv[1], "idx")    ? CMD_IDX
            : !strcmp(argv[1], "synthetic") ? CMD_SYNTHETIC
                                         : 0;
  if (!cmd) return bad_usage("unknown command '%s': expected celeba, folder, idx or synthetic", argv[1]);

  struct option longopts[N_OPTS + 1];
  for (int i = 0; i < N_OPTS; i++)
    longopts[i] = (struct option){OPTS[i].name, OPTS[i].metavar ? required_argument : no_argument,
                                  NULL, 1000 + i};
  longopts[N_OPTS] = (struct option){0, 0, 0, 0};
  const char *val[N_OPTS] = {0};
  int given[N_OPTS] = {0};
  optind = 2;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    if (c == 'h') c = 1000 + N_OPTS - 1;
    if (c < 1000 || c >= 1000 + N_OPTS) {
      const char *what = argv[optind - 1];
      return bad_usage("unknown option or missing value: '%s'", what);
    }
    int i = c - 1000;
    if (!(OPTS[i].commands & cmd))
      return bad_usage("--%s does not apply to this command", OPTS[i].name);
    given[i] = 1;
    val[i] = optarg;
  }
  if (optind < argc) return bad_usage("unexpected argument '%s'", argv[optind]);
  int i_help = N_OPTS - 1;
  if (given[i_help]) {
    usage(stdout);
    return 0;
  }
  /* option values by name */
  const char *root = NULL, *out = NULL, *size_s = NULL, *vf_s = NULL, *train = NULL, *test = NULL,
             *name = NULL, *ips_s = NULL, *shards_s = NULL, *threads_s = NULL, *images_s = NULL,
             *channels_s = NULL, *seed_s = NULL;
  int strict = 0;
  for (int i = 0; i < N_OPTS; i++) {
    if (!given[i]) continue;
    const char *n = OPTS[i].name;
    if (!strcmp(n, "root"))
      root = val[i];
    else if (!strcmp(n, "out"))
      out = val[i];
    else if (!strcmp(n, "size"))
      size_s = val[i];
    else if (!strcmp(n, "valid-fraction"))
      vf_s = val[i];
    else if (!strcmp(n, "train"))
      train = val[i];
    else if (!strcmp(n, "test"))
      test = val[i];
    else if (!strcmp(n, "name"))
      name = val[i];
    else if (!strcmp(n, "images-per-shard"))
      ips_s = val[i];
    else if (!strcmp(n, "shards"))
      shards_s = val[i];
    else if (!strcmp(n, "threads"))
      threads_s = val[i];
    else if (!strcmp(n, "images"))
      images_s = val[i];
    else if (!strcmp(n, "channels"))
      channels_s = val[i];
    else if (!strcmp(n, "seed"))
      seed_s = val[i];
    else if (!strcmp(n, "strict"))
      strict = 1;
  }
  if (!out) return bad_usage("%s: --out DIR is required", argv[1]);
  if ((cmd == CMD_CELEBA || cmd == CMD_FOLDER) && !root)
    return bad_usage("%s: --root DIR is required", argv[1]);
  if (cmd == CMD_SYNTHETIC && !images_s) return bad_usage("%s: --images N is required", argv[1]);
  long long n_images = 0, channels = 3, seed = 1;
  if (images_s && parse_long(images_s, 1, 1LL << 31, &n_images))
    return bad_usage("--images: expected a positive integer, got '%s'", images_s);
  if (channels_s && (parse_long(channels_s, 1, 3, &channels) || channels == 2))
    return bad_usage("--channels: expected 1 or 3, got '%s'", channels_s);
  if (seed_s && parse_long(seed_s, 0, 1LL << 62, &seed))
    return bad_usage("--seed: expected a non-negative integer, got '%s'", seed_s);
  if (cmd == CMD_IDX && !train) return bad_usage("%s: --train FILE is required", argv[1]);
  if (cmd == CMD_FOLDER && !size_s) return bad_usage("%s: --size N is required", argv[1]);
  long long size = 64, ips = 0, shards = 0, threads = 0;
  double vf = 0.1;
  if (size_s && parse_long(size_s, 1, 4096, &size))
    return bad_usage("--size: expected an integer in 1..4096, got '%s'", size_s);
  if (ips_s && parse_long(ips_s, 1, 1LL << 31, &ips))
    return bad_usage("--images-per-shard: expected a positive integer, got '%s'", ips_s);
  if (shards_s && parse_long(shards_s, 1, 99999, &shards))
    return bad_usage("--shards: expected an integer in 1..99999, got '%s'", shards_s);
  if (threads_s && parse_long(threads_s, 1, 1024, &threads))
    return bad_usage("--threads: expected an integer in 1..1024, got '%s'", threads_s);
  if (vf_s) {
    char *end = NULL;
    vf = strtod(vf_s, &end);
    if (end == vf_s || *end || !(vf >= 0 && vf < 1))
      return bad_usage("--valid-fraction: expected a number in [0, 1), got '%s'", vf_s);
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  nvae_err err;
  nvae_err_clear(&err);
  prep_source src;
  int rc = cmd == CMD_CELEBA   ? prep_celeba_source(&src, root, (int)size, &err)
           : cmd == CMD_FOLDER ? prep_folder_source(&src, root, (int)size, vf, &err)
           : cmd == CMD_IDX    ? prep_idx_source(&src, train, test, &err)
                               : prep_synthetic_source(&src, n_images, (int)size, (int)channels,
                                                       (uint64_t)seed, &err);
  if (!rc) {
    prep_opts o = {.out = out,
                   .name = name,
                   .threads = (int)threads,
                   .strict = strict,
                   .images_per_shard = ips,
                   .shards = (int)shards,
                   .interrupted = &interrupted};
    rc = prep_run(&src, &o, &err);
    prep_source_free(&src);
  }
  if (rc) {
    fprintf(stderr, "nvae-prep: error: %s\n", err.msg);
    return rc;
  }
  return 0;
}
