/* model.h5: the model part of a checkpoint (DESIGN.md §5), readable by h5py and by the PyTorch
 * reference (tests/reference/nvae_ref.py load_from_h5 / save_h5 use the same layout).
 *
 *   /<official name>          one dataset per registry P and B tensor (aliases are not stored),
 *                             float32, num_batches_tracked int64 (a scalar dataspace, as PyTorch's
 *                             0-d tensor), in state_dict order
 *   /sr/<conv name>/u, /v     spectral-regularisation vectors [rows], [cols] (float32);
 *                             attribute /sr@first_call = 1 while no power iteration has run
 *   root attributes           format ("nvae-train model"), format_version (int), step, epoch
 *                             (int64), world_size (int), config (the resolved YAML text, UTF-8
 *                             variable-length string), image_channels, image_size (int),
 *                             crop (int[4]: y0, x0, h, w of the loss region)
 *
 * Loading refuses a file whose config has a different model section (naming the first differing
 * key) or whose tensor shapes differ from the registry (naming the file and the tensor). All
 * errors are one line naming the file; readers return NVAE_EXIT_USAGE for a bad file and
 * NVAE_EXIT_RUNTIME for a failed write. Prefix model_io_.
 */
#ifndef NVAE_TRAINER_MODEL_IO_H
#define NVAE_TRAINER_MODEL_IO_H

#include "kernels/base/error.h"
#include "trainer/config_model.h"
#include "trainer/model.h"
#include "trainer/registry.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MODEL_IO_FORMAT_VERSION 1

/* The arenas a model.h5 holds, by reference (no copies). */
typedef struct model_state {
  const registry *reg;
  float *params;   /* [reg->param_arena_numel] */
  float *buffers;  /* [reg->buffer_arena_numel] */
  int64_t *counters; /* [reg->counter_arena_numel] */
  float *sr;       /* [reg->sr_vector_numel]: per conv layer, u [rows] then v [cols] */
  int sr_initialized; /* 0 until the first power iteration */
} model_state;

/* Everything in model.h5 besides the tensors. */
typedef struct model_io_info {
  int64_t step, epoch;
  int world_size;
  model_geometry geom;
  int format_version;
} model_io_info;

/* Writes path atomically ("<path>.tmp", fsync, rename). cfg is the resolved run config. */
int model_io_save_state(const char *path, const model_state *s, const nvae_config *cfg,
                        const model_io_info *info, nvae_err *e);

/* Reads only the config and the info (to build a model for the file: nvae-sample, nvae-eval). */
int model_io_read_info(const char *path, nvae_config *cfg, model_io_info *info, nvae_err *e);

/* Loads the tensors into s. expect (nullable): the config of the model being loaded into; a
 * different model section is refused. info (nullable) receives the file's info. s->sr_initialized
 * is set from the file. */
int model_io_load_state(const char *path, model_state *s, const nvae_config *expect,
                        model_io_info *info, nvae_err *e);

/* The state of a live model. */
static inline model_state model_io_state_of(model *m) {
  model_state s;
  s.reg = model_registry(m);
  s.params = model_params(m);
  s.buffers = model_buffers(m);
  s.counters = model_counters(m);
  s.sr = model_sr_vectors(m);
  s.sr_initialized = model_sr_initialized(m);
  return s;
}

/* Host views for I/O on any backend (model_host_state.c): the arenas themselves on the CPU, host
 * copies of the device arenas otherwise. _upload copies a loaded host view back to the device
 * (and sets sr_initialized); _free releases the copies. */
model_state model_state_host(model *m, op_ctx *ctx);
void model_state_host_upload(model *m, op_ctx *ctx, const model_state *s);
void model_state_host_free(op_ctx *ctx, model_state *s);

#ifdef __cplusplus
}
#endif

#endif
