/* nvae-train: trains NVAE from a YAML config (DESIGN.md §6, docs/config.md).
 *
 *   nvae-train --config FILE [key=value ...] [--run-dir DIR] [--resume auto|PATH] [--reshard]
 *              [--dry-run]
 *
 * Exit codes: 0 done; 1 runtime failure; 2 bad usage or input (before any step); 75 checkpointed
 * on a signal (with checkpoints, a later issue).
 *
 * Data-parallel under mpirun (DESIGN.md §3): comm_init first (before any thread: the loader's
 * prefetch and the watchdog), the watchdog deadline from comm.timeout_s, and train_comm filled
 * from comm/ (train_comm.h). Errors every rank sees the same way (arguments, config, dataset) make
 * every rank exit with the code, printed once by rank 0; an error on one rank only ends the job
 * through comm_abort ("[rank r/N host] message"). comm_finalize on every rank at the end. */
#define _POSIX_C_SOURCE 200809L
#include "comm/comm.h"
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

/* train_comm adapters over comm/ (the trainer never includes MPI) */
static void bcast_f32_hook(void *arg, float *buf, long long n) {
  comm_broadcast_f32((comm *)arg, buf, (int64_t)n, 0);
}

static void abort_hook(void *arg, int code, const char *msg) {
  comm_abort((const comm *)arg, code, "nvae-train: %s", msg);
}

static void *grads_start_hook(void *arg, float *buf, long long n) {
  return comm_allreduce_f32_start((comm *)arg, buf, (int64_t)n, 1);
}
static void grads_wait_hook(void *arg, void *request) { comm_wait((comm *)arg, request); }
static void progress_hook(void *arg) { comm_progress((comm *)arg); }
static void stats_hook(void *arg, double *seconds, double *collectives, double *bytes) {
  const comm *c = arg;
  *seconds = comm_stats_seconds(c);
  *collectives = (double)comm_stats_collectives(c);
  *bytes = (double)comm_stats_bytes(c);
}

/* The end of every path after comm_init: an error all ranks share is printed by rank 0 only. */
static int finish(comm *cm, int code, const char *msg) {
  if (code && msg && comm_rank(cm) == 0) fprintf(stderr, "nvae-train: %s\n", msg);
  fflush(stdout);
  comm_finalize(cm);
  return code;
}

static int run(int argc, char **argv, comm *cm);

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0); /* Slurm captures stdout to a file: one line at a time */
  nvae_err e = {0};
  comm *cm = NULL;
  if (comm_init(&argc, &argv, &cm, &e)) { /* before any thread */
    fprintf(stderr, "nvae-train: %s\n", e.msg);
    return e.code ? e.code : NVAE_EXIT_USAGE;
  }
  return run(argc, argv, cm);
}

static int run(int argc, char **argv, comm *cm) {
  struct option longopts[N_FLAGS + 1];
  for (int i = 0; i < N_FLAGS; i++) longopts[i] = flags[i].opt;
  memset(&longopts[N_FLAGS], 0, sizeof longopts[N_FLAGS]);
  const char *config_path = NULL, *run_dir_arg = NULL, *resume = NULL;
  int reshard = 0, dry = 0, c;
  while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    switch (c) {
    case 'c': config_path = optarg; break;
    case 'r': run_dir_arg = optarg; break;
    case 'R': resume = optarg; break;
    case 'S': reshard = 1; break;
    case 'd': dry = 1; break;
    case 'h':
      if (comm_rank(cm) == 0) usage(stdout);
      return finish(cm, NVAE_EXIT_OK, NULL);
    default: return finish(cm, NVAE_EXIT_USAGE, "see nvae-train --help");
    }
  }
  if (!config_path)
    return finish(cm, NVAE_EXIT_USAGE, "--config FILE is required (see nvae-train --help)");
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
  comm_set_timeout(cm, cfg->comm.timeout_s); /* the watchdog for every later collective */

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
  train_opts o = {config_path, run_dir, dry, {0}};
  o.comm.rank = comm_rank(cm);
  o.comm.world = comm_size(cm);
  if (o.comm.world > 1) {
    o.comm.allreduce_sum = comm_allreduce_sum_f64_hook;
    o.comm.allreduce_grads = comm_allreduce_avg_f32_hook;
    o.comm.broadcast_f32 = bcast_f32_hook;
    o.comm.abort = abort_hook;
    o.comm.grads_start = grads_start_hook;
    o.comm.grads_wait = grads_wait_hook;
    o.comm.progress = progress_hook;
    o.comm.stats = stats_hook;
    o.comm.arg = cm;
    if (o.comm.rank == 0 && !dry) {
      char line[256];
      comm_describe(cm, line, sizeof line);
      printf("comm             %d ranks, %s\n", o.comm.world, line);
    }
  }
  /* train_run ends the job itself (comm_abort) for an error on one rank only; what comes back is
   * an error every rank took together */
  int rc = train_run(cfg, &o, &e);
  if (rc) goto fail;
  free(cfg);
  return finish(cm, NVAE_EXIT_OK, NULL);
fail:
  free(cfg);
  return finish(cm, e.code ? e.code : NVAE_EXIT_RUNTIME, e.msg);
}
