/* nvae-train: trains NVAE from a YAML config (DESIGN.md §6, docs/config.md).
 *
 *   nvae-train --config FILE [key=value ...] [--run-dir DIR] [--resume auto|PATH] [--reshard]
 *              [--dry-run]
 *
 * Exit codes: 0 done; 1 runtime failure; 2 bad usage or input (before any step); 75 checkpointed
 * on SIGTERM/SIGUSR1, please requeue (trainer/ckpt.h, docs/checkpoint-format.md).
 *
 * Data-parallel under mpirun (DESIGN.md §3): comm_init first (before any thread: the loader's
 * prefetch and the watchdog), the watchdog deadline from comm.timeout_s, and train_comm filled
 * from comm/ (train_comm.h). Errors every rank sees the same way (arguments, config, dataset) make
 * every rank exit with the code, printed once by rank 0; an error on one rank only ends the job
 * through comm_abort ("[rank r/N host] message"). comm_finalize on every rank at the end. */
#define _POSIX_C_SOURCE 200809L
#include "comm/comm.h"
#include "trainer/ckpt_signal.h"
#include "trainer/config_model.h"
#include "trainer/run_dir.h"
#include "trainer/train.h"

#include <getopt.h>
#include <hdf5.h>
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
     "auto: continue from <run>/checkpoints/LATEST (an older checkpoint that verifies, with a "
     "warning, if it is damaged; a fresh start if there is none); PATH: exactly that checkpoint "
     "(a step-XXXXXXXX directory, or a directory holding LATEST or checkpoints/LATEST)"},
    {{"reshard", no_argument, NULL, 'S'}, NULL,
     "allow resuming a checkpoint written by another number of ranks (re-sliced bit-exactly; "
     "the data continue at the same sample of the epoch)"},
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

#ifdef NVAE_HAVE_CUDA
static void grads_dev_hook(void *arg, float *dbuf, long long n, void *stream) {
  comm_allreduce_avg_f32_dev((comm *)arg, dbuf, (int64_t)n, stream);
}
static void sum_dev_hook(void *arg, double *dbuf, int n, void *stream) {
  comm_allreduce_sum_f64_dev((comm *)arg, dbuf, (int64_t)n, stream);
}
#endif

/* One GPU per rank (DESIGN.md §3): the NCCL transport for device buffers (comm.transport auto or
 * nccl: device local_rank % count, refused when ranks would share a GPU), or the MPI transport
 * staged through host memory (comm.transport: mpi; ranks may share a GPU). Collective: every rank
 * gets the same answer. */
static int select_gpu(comm *cm, const nvae_config *cfg, train_opts *o, nvae_err *e) {
#ifdef NVAE_HAVE_CUDA
  int rc = cfg->comm.transport == NVAE_TRANSPORT_MPI ? comm_select_device(cm, 0, e)
                                                      : comm_nccl_init(cm, e);
  if (rc) return rc;
  o->gpu = comm_device(cm);
  if (o->comm.world > 1) {
    o->comm.grads_dev = grads_dev_hook;
    o->comm.allreduce_sum_dev = sum_dev_hook; /* sync-BN, KL balancing, the non-finite count */
  }
  return 0;
#else
  (void)cm, (void)cfg, (void)o, (void)e;
  return 0; /* train_make_ctx says device cuda is not built into this binary */
#endif
}

/* The end of every path after comm_init: an error all ranks share is printed by rank 0 only. */
static int finish(comm *cm, int code, const char *msg) {
  /* an empty message: the rank that had it printed it already (trainer/ckpt_comm.h) */
  if (code && msg && msg[0] && comm_rank(cm) == 0) fprintf(stderr, "nvae-train: %s\n", msg);
  fflush(stdout);
  comm_finalize(cm);
  return code;
}

static int run(int argc, char **argv, comm *cm);

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0); /* Slurm captures stdout to a file: one line at a time */
  /* No HDF5 clean-up at exit: a file whose close failed (a full disk during a checkpoint write)
   * makes it crash; every file is closed explicitly (trainer/ckpt_fs.h) */
  H5dont_atexit();
  nvae_err e = {0};
  comm *cm = NULL;
  if (comm_init(&argc, &argv, &cm, &e)) { /* before any thread */
    fprintf(stderr, "nvae-train: %s\n", e.msg);
    return e.code ? e.code : NVAE_EXIT_USAGE;
  }
  /* SIGTERM/SIGUSR1 from here on only set the preemption flag (trainer/ckpt_signal.h): a signal
   * during set-up or resume is acted on at the first step boundary (checkpoint, exit 75) */
  ckpt_signal_install();
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
  if (reshard && !resume) {
    nvae_errf(&e, NVAE_EXIT_USAGE, "--reshard needs --resume auto|PATH");
    goto fail;
  }
  train_opts o = {config_path, run_dir, dry, {0}, NULL, 0, 0};
  o.resume = resume; /* checkpoints: trainer/ckpt.h */
  o.reshard = reshard;
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
  }
  if (!dry && train_uses_cuda(cfg)) {
    if (select_gpu(cm, cfg, &o, &e)) goto fail;
  } else if (!dry && cfg->comm.transport == NVAE_TRANSPORT_NCCL) {
    nvae_errf(&e, NVAE_EXIT_USAGE,
              "key 'comm.transport: nccl' needs GPU buffers, but 'device: auto' found no GPU: use "
              "comm.transport: mpi (or auto)");
    goto fail;
  }
  if (o.comm.world > 1) {
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
