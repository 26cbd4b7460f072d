/* The run directory (DESIGN.md §6): rank 0 writes config.yaml (resolved), metrics.jsonl,
 * TensorBoard events, samples/ and recon/ PNG grids, final/model.h5. On other ranks every call is
 * a no-op returning 0, so the loop calls them unconditionally. Prefix run_dir_. */
#ifndef NVAE_TRAINER_RUN_DIR_H
#define NVAE_TRAINER_RUN_DIR_H

#include "trainer/config_model.h"
#include "trainer/metrics_log.h"
#include "trainer/tb_writer.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct run_dir {
  char path[NVAE_CFG_PATH_LEN];
  int writer; /* 1 on rank 0 */
  metrics_log *metrics;
  tb_writer *tb;
} run_dir;

/* The directory: --run-dir, else log.dir, else runs/<config file name without .yaml>. */
void run_dir_resolve(const nvae_config *cfg, const char *config_path, const char *cli_dir,
                     char *out, size_t n);

/* Creates path (and parents), samples/, recon/, final/; writes config.yaml; opens metrics.jsonl
 * and (log.tensorboard) an event file. Errors name the path (NVAE_EXIT_RUNTIME). */
int run_dir_open(run_dir *rd, const char *path, const nvae_config *cfg, int rank, nvae_err *e);
void run_dir_close(run_dir *rd);

/* One metrics.jsonl row. */
int run_dir_row(run_dir *rd, const metric_kv *kv, int n, nvae_err *e);
/* One TensorBoard scalar (no-op without TensorBoard). */
int run_dir_scalar(run_dir *rd, const char *tag, double v, int64_t step, nvae_err *e);
/* A grid of n images x [n, C, H, W] as <run>/<sub>/<name>.png and TensorBoard image `tag`. */
int run_dir_grid(run_dir *rd, const char *sub, const char *name, const char *tag, const float *x,
                 int n, int c, int h, int w, int64_t step, nvae_err *e);
/* Inputs above their reconstructions (recon/). */
int run_dir_pairs(run_dir *rd, const char *sub, const char *name, const char *tag, const float *x,
                  const float *xr, int n, int c, int h, int w, int64_t step, nvae_err *e);
/* Hands buffered TensorBoard records to the OS. */
int run_dir_flush(run_dir *rd, nvae_err *e);

/* mkdir -p. Returns 0 or NVAE_EXIT_RUNTIME naming the path. */
int run_dir_mkdirs(const char *path, nvae_err *e);

#ifdef __cplusplus
}
#endif

#endif
