/* The training loop (DESIGN.md §1, NVAE.md §3–§4): data → model step → (gradient all-reduce) →
 * non-finite check → clipping → Adamax/Adam → schedules; validation, logs, images, final
 * model.h5. Prefix train_. */
#ifndef NVAE_TRAINER_TRAIN_H
#define NVAE_TRAINER_TRAIN_H

#include "trainer/config_model.h"
#include "trainer/train_comm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct train_opts {
  const char *config_path; /* for messages */
  const char *run_dir;     /* resolved (run_dir_resolve) */
  int dry_run;             /* build the plan, print the start-up table, exit */
  train_comm comm;         /* rank, world size, reductions (world 1: no hooks) */
  const char *resume;      /* --resume: NULL, "auto" or a checkpoint PATH (ckpt.h) */
  int reshard;             /* --reshard: resume at another world size */
  int gpu;                 /* CUDA device of this rank (comm_select_device / comm_nccl_init) */
} train_opts;

/* Runs the whole training. Returns 0, or an exit code with a one-line message in e:
 * NVAE_EXIT_USAGE for bad input found before the first step (dataset, shapes, device),
 * NVAE_EXIT_RUNTIME for failures during training (I/O, non-finite streak). */
int train_run(const nvae_config *cfg, const train_opts *o, nvae_err *e);

/* The ops context for cfg->device on GPU `gpu` (cuda; ignored for cpu): auto = cuda when this
 * binary has the CUDA backend and a GPU is visible, else cpu. Returns 0 or NVAE_EXIT_USAGE (cuda
 * asked for but not built in, or no GPU) with a one-line message. */
int train_make_ctx(const nvae_config *cfg, int gpu, op_ctx *ctx, nvae_err *e);
/* Whether cfg->device resolves to cuda in this binary on this machine (auto: a GPU is visible). */
int train_uses_cuda(const nvae_config *cfg);

#ifdef __cplusplus
}
#endif

#endif
