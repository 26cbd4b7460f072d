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
} train_opts;

/* Runs the whole training. Returns 0, or an exit code with a one-line message in e:
 * NVAE_EXIT_USAGE for bad input found before the first step (dataset, shapes, device),
 * NVAE_EXIT_RUNTIME for failures during training (I/O, non-finite streak). */
int train_run(const nvae_config *cfg, const train_opts *o, nvae_err *e);

/* The ops context for cfg->device (auto = CPU until the CUDA backend is wired in). Returns 0 or
 * NVAE_EXIT_USAGE. */
int train_make_ctx(const nvae_config *cfg, op_ctx *ctx, nvae_err *e);

#ifdef __cplusplus
}
#endif

#endif
