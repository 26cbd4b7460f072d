/* The per-rank files of a checkpoint (DESIGN.md §5, docs/checkpoint-format.md), HDF5, readable by
 * h5py:
 *
 * optim-RRRRR.h5: rank r's contiguous slice [offset, offset + count) of the optimizer state
 *   arenas (the parameter layout, registry.h), with offset = floor(numel·r/W),
 *   count = floor(numel·(r+1)/W) − offset. Datasets under PyTorch's state names:
 *     /exp_avg      float32 [count]   first moment m
 *     /exp_inf      float32 [count]   Adamax infinity norm u      (optimizer "adamax")
 *     /exp_avg_sq   float32 [count]   Adam second moment v        (optimizer "adam")
 *   root attributes: format "nvae-train optimizer slice", format_version, optimizer, t (updates
 *   applied, int64), numel, offset, count, step (int64), rank, world_size (int).
 *
 * rank-RRRRR.h5: what only this rank knows, or what the loop needs to continue:
 *     /bn_buffers      float32 [buffer arena]   this rank's BN running statistics (registry order;
 *                                              the same on every rank with train.sync_bn)
 *     /bn_counters     int64 [counter arena]    num_batches_tracked
 *     /interval_sums   float64 [k]              the logging interval's partial sums (loss, recon,
 *                                              kl, nelbo, bpd, sr, bnreg, grad_norm)
 *   root attributes: format "nvae-train rank state", format_version, step, rank, world_size,
 *   batch_size, dataset_images, sampler_epoch, sampler_position (the next global batch starts at
 *   this position of this epoch's order), skipped, streak (non-finite steps), last_eval,
 *   interval_steps, interval_seconds, metrics_bytes (rank 0: length of metrics.jsonl; −1 others).
 *
 * Readers return NVAE_EXIT_USAGE with one line naming the file (never exit); writers
 * NVAE_EXIT_RUNTIME. Prefix ckpt_optim_ / ckpt_rank_. */
#ifndef NVAE_TRAINER_CKPT_SHARD_H
#define NVAE_TRAINER_CKPT_SHARD_H

#include "kernels/base/error.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CKPT_MAX_INTERVAL_SUMS 16

/* Rank r's slice of n elements among W ranks: [*lo, *hi). */
void ckpt_slice(int64_t n, int rank, int world, int64_t *lo, int64_t *hi);

typedef struct ckpt_optim_info {
  char optimizer[16]; /* "adamax" | "adam" */
  int64_t t;          /* updates applied */
  int64_t numel;      /* elements of the whole arena */
  int64_t offset, count;
  int64_t step;
  int rank, world_size;
} ckpt_optim_info;

/* Writes m[0..count), v[0..count) (the slice's own first elements). */
int ckpt_optim_write(const char *path, const ckpt_optim_info *info, const float *m, const float *v,
                     nvae_err *e);
int ckpt_optim_read_info(const char *path, ckpt_optim_info *info, nvae_err *e);
/* Copies the elements [lo, hi) ∩ [offset, offset + count) of the file into m_arena and v_arena
 * at their global offsets (arenas of info->numel elements). */
int ckpt_optim_read_range(const char *path, const ckpt_optim_info *info, int64_t lo, int64_t hi,
                          float *m_arena, float *v_arena, nvae_err *e);

typedef struct ckpt_rank_state {
  int64_t step;
  int rank, world_size;
  int batch_size;
  int64_t dataset_images;
  uint64_t sampler_epoch, sampler_position;
  int64_t skipped, streak, last_eval;
  int interval_steps;
  int n_interval_sums;
  double interval_sums[CKPT_MAX_INTERVAL_SUMS];
  double interval_seconds;
  int64_t metrics_bytes;
} ckpt_rank_state;

int ckpt_rank_write(const char *path, const ckpt_rank_state *s, const float *bn_buffers,
                    int64_t n_buffers, const int64_t *bn_counters, int64_t n_counters, nvae_err *e);
/* bn_buffers / bn_counters (nullable) must have the given lengths, which the file must match. */
int ckpt_rank_read(const char *path, ckpt_rank_state *s, float *bn_buffers, int64_t n_buffers,
                   int64_t *bn_counters, int64_t n_counters, nvae_err *e);

#ifdef __cplusplus
}
#endif

#endif
