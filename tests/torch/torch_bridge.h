/* Running a PyTorch reference from a C test: the test puts named float tensors (and scalar
 * parameters) into a torch_io, torch_run() writes them to an HDF5 file, runs
 *   $NVAE_TORCH_PYTHON $NVAE_SOURCE_DIR/<script> in.h5 out.h5
 * (Debian's /usr/bin/python3 with python3-torch and python3-h5py; see tests/torch/bridge.py for the
 * Python side) and reads every dataset of out.h5 back. Tensors are float32 in C order. */
#ifndef NVAE_TESTS_TORCH_BRIDGE_H
#define NVAE_TESTS_TORCH_BRIDGE_H

#include <stdint.h>

#include "kernels/base/error.h"

typedef struct torch_io torch_io;

torch_io *torch_io_new(void);
void torch_io_free(torch_io *io);
/* Copies data. Names are HDF5 dataset names (no '/'). */
void torch_io_put(torch_io *io, const char *name, const float *data, int ndim,
                  const int64_t *shape);
/* A scalar parameter, stored as a root attribute (Python: params["name"]). */
void torch_io_param(torch_io *io, const char *name, double value);
/* Data of a tensor read back (NULL if absent); *numel set when non-NULL. */
const float *torch_io_get(const torch_io *io, const char *name, int64_t *numel);

/* Runs the script; returns 0 and a new torch_io with its outputs, or non-zero with e set (the
 * script's stderr is passed through to ours). */
int torch_run(const char *script, const torch_io *in, torch_io **out, nvae_err *e);

#endif
