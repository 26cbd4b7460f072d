/* nvae-train: trains NVAE from a YAML config (DESIGN.md §6, docs/config.md).
 *
 *   nvae-train --config FILE [key=value ...] [--run-dir DIR] [--resume auto|PATH] [--reshard]
 *              [--dry-run]
 *
 * Exit codes: 0 done; 1 runtime failure; 2 bad usage or input (before any step); 75 checkpointed
 * on a signal (with checkpoints, a later issue). */
#define _POSIX_C_SOURCE 200809L
#include "trainer/config_model.h"
#include "trainer/run_dir.h"
#include "trainer/train.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* One table drives the parser and the help text. */
static const struct flag {
  struct option opt;
  const char *arg, *help;
} flags[] = {
    {{"config", required_argument, NULL, 'c'}, "FILE", "the run's YAML config (required)"},
    {{"run-dir", required_argument, NULL, 'r'}, "DIR",
     "run directory (default: log.dir, else runs/<config name>)"},
    {{"resume", required_argument, NULL, 'R'}, "auto|PATH",
     "auto: continue from <run>/checkpoints/LATEST if there is one (checkpoints come with a "
     "later issue: a run with checkpoints is refused for now)"},
    {{"reshard", no_argument, NULL, 'S'}, NULL,
     "allow resuming with another world size (with checkpoints, a later issue)"},
    {{"dry-run", no_argument, NULL, 'd'}, NULL,
     "build the model, print the start-up table (parameters, layers, groups, MiB per arena and "
     "per image) and exit"},
    {{"help", no_argument, NULL, 'h'}, NULL, "this text"},
};
#define N_FLAGS (int)(sizeof flags / sizeof flags[0])

static void usage(FILE *f) {
  fprintf(f, "usage: nvae-train --config FILE [key=value ...] [options]\n\n"
             "  key=value        override a config key by its dotted name, e.g. "
             "train.batch_size=8\n                   (every key: docs/config.md)\n");
  for (int i = 0; i < N_FLAGS; i++) {
    char left[64];
    snprintf(left, sizeof left, "--%s%s%s", flags[i].opt.name, flags[i].arg ? " " : "",
             flags[i].arg ? flags[i].arg : "");
    fprintf(f, "  %-16s %s\n", left, flags[i].help);
  }
  fprintf(f, "\nexit codes: 0 done, 1 runtime failure (I/O, non-finite streak), 2 bad usage or "
             "input\n(config, dataset, checkpoint), 75 checkpointed on a signal, please "
             "requeue\n");
}

int main(int argc, char **argv) {
  struct option longopts[N_FLAGS + 1];
  for (int i = 0; i < N_FLAGS; i++) longopts[i] = flags[i].opt;
  memset(&longopts[N_FLAGS], 0, sizeof longopts[N_FLAGS]);
  const char *config_path = NULL, *run_dir_arg = NULL, *resume = NULL;
  int reshard = 0, dry = 0, c;
  setvbuf(stdout, NULL, _IOLBF, 0); /* Slurm captures stdout to a file: one line at a time */
  while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    switch (c) {
    case 'c': config_path = optarg; break;
    case 'r': run_dir_arg = optarg; break;
    case 'R': resume = optarg; break;
    case 'S': reshard = 1; break;
    case 'd': dry = 1; break;
    case 'h': usage(stdout); return NVAE_EXIT_OK;
    default:
      fprintf(stderr, "nvae-train: see nvae-train --help\n");
      return NVAE_EXIT_USAGE;
    }
  }
  if (!config_path) {
    fprintf(stderr, "nvae-train: --config FILE is required (see nvae-train --help)\n");
    return NVAE_EXIT_USAGE;
  }
  nvae_config *cfg = nvae_malloc(sizeof *cfg);
  nvae_err e = {0};
  if (config_load(config_path, cfg, &e)) goto fail;
  /* the remaining arguments are key=value overrides; getopt_long permutes them to the end */
  for (int i = optind; i < argc; i++) {
    if (!strchr(argv[i], '=')) {
      nvae_errf(&e, NVAE_EXIT_USAGE,
                "'%s' is neither a flag nor a key=value override (see nvae-train --help)",
                argv[i]);
      goto fail;
    }
    if (config_apply_override(cfg, argv[i], &e)) goto fail;
  }
  if (config_validate(cfg, &e)) goto fail;

  char run_dir[NVAE_CFG_PATH_LEN];
  run_dir_resolve(cfg, config_path, run_dir_arg, run_dir, sizeof run_dir);
  if (reshard) {
    nvae_errf(&e, NVAE_EXIT_USAGE, "--reshard: checkpoints come with a later issue");
    goto fail;
  }
  if (resume) {
    char latest[NVAE_CFG_PATH_LEN + 32];
    snprintf(latest, sizeof latest, "%s/checkpoints/LATEST", run_dir);
    struct stat st;
    if (strcmp(resume, "auto") != 0) {
      nvae_errf(&e, NVAE_EXIT_USAGE, "--resume %s: checkpoints come with a later issue", resume);
      goto fail;
    }
    if (stat(latest, &st) == 0) {
      nvae_errf(&e, NVAE_EXIT_USAGE,
                "--resume auto: %s exists, but resuming from checkpoints comes with a later "
                "issue",
                latest);
      goto fail;
    }
  }
  train_opts o = {config_path, run_dir, dry, {0, 1, NULL, NULL, NULL}};
  int rc = train_run(cfg, &o, &e);
  if (rc) goto fail;
  free(cfg);
  return NVAE_EXIT_OK;
fail:
  fprintf(stderr, "nvae-train: %s\n", e.msg);
  free(cfg);
  return e.code ? e.code : NVAE_EXIT_RUNTIME;
}
