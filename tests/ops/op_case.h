/* One table of op cases (after ggml's test-backend-ops) drives three things:
 *   - tests/ops/test_ops_fd.c: every case's float32 forward against an independent double-precision
 *     reference, and its backward against central finite differences OF THAT DOUBLE REFERENCE
 *     (so the gradient check is free of float32 rounding noise);
 *   - tests/gpu/test_ops_gpu.c: the same cases on the CUDA backend against the CPU backend
 *     (opcase_compare below; tests/ops/test_ops_compare_cpu.c runs that harness CPU-vs-CPU);
 *   - tools/nvae-opbench: the same cases timed (cases flagged OPCASE_BENCH).
 * Adding an op = adding its cases to one family file (tests/ops/cases_<family>.c) and listing the
 * family array in tests/ops/op_cases.c.
 *
 * A case is a set of parameters; describe() turns them into the list of input and output tensors
 * (shapes, init ranges, which inputs are differentiable). The harness allocates and fills them.
 *
 * Backends: forward() and backward() get buffers on the DEVICE OF ctx (host memory for the CPU
 * backend, device memory for CUDA). They call ops only through ctx->ops, make views with
 * opcase_view() (which carries ctx->device), copy with ctx->ops->copy, and never dereference a
 * buffer on the host; an op that returns a host value (grad_norm_sq, nonfinite_count) stores it
 * with ctx->ops->from_host. fixup_f32() and forward_ref() work on host memory as before.
 */
#ifndef NVAE_TESTS_OP_CASE_H
#define NVAE_TESTS_OP_CASE_H

#include "kernels/backend.h"
#include "kernels/op_ctx.h"

#include <stdint.h>

#define OPCASE_MAX_IO 8

enum {
  OPCASE_BENCH = 1u << 0, /* timed by nvae-opbench */
  OPCASE_NO_FD = 1u << 1  /* too large for finite differences; forward check only */
};

typedef struct opcase_tensor {
  const char *name;
  int ndim;
  int64_t shape[4];
  int diff;      /* input: 1 = gradient w.r.t. it is checked (and computed);
                    output: 1 = part of the loss sum(dout * out) (0 for e.g. running statistics) */
  float lo, hi;  /* inputs only: uniform init range; lo == hi == 0 means [-1, 1] */
  int integer;   /* inputs only: round to integers after init (e.g. pixel levels, 0/1 masks) */
} opcase_tensor;

typedef struct opcase_io {
  int n_in, n_out;
  opcase_tensor in[OPCASE_MAX_IO];
  opcase_tensor out[OPCASE_MAX_IO];
  double tol_fwd; /* bound on ||f32 - f64 ref|| / ||f64 ref|| per output (0 -> 1e-5) */
  double tol_bwd; /* bound on ||backward - finite difference|| / ||finite difference|| (0 -> 1e-4) */
  double fd_step; /* central-difference step (0 -> 1e-6, in double precision) */
  /* Backend against the CPU backend on the same inputs (opcase_compare): bound on
   * ||out_dev - out_cpu|| / ||out_cpu|| per output and on ||g_dev - g_cpu|| / ||g_cpu|| per
   * gradient (g = what backward added). 0 -> OPCASE_TOL_DEV (float32 on both sides). tol_dev_tf32:
   * the bound when the device context allows TF32 (convolutions); 0 -> OPCASE_TOL_DEV_TF32. */
  double tol_dev;
  double tol_dev_tf32;
  /* Optional: inputs that need a relation between them (e.g. a normalised vector, a valid mask)
   * are fixed up here after random init. The double inputs are then copied from the float ones,
   * so both precisions see exactly the same values. */
  void (*fixup_f32)(const struct opcase_io *io, float *const *in);
} opcase_io;

typedef struct op_case op_case;
struct op_case {
  const char *family; /* e.g. "conv2d" */
  const char *label;  /* e.g. "3x3 s2 5->7 9x11" */
  unsigned flags;
  int ip[12];         /* integer parameters: meaning defined by the family */
  double fp[4];       /* real parameters */
  void (*describe)(const op_case *c, opcase_io *io);
  /* float32 op under test; out[] are pre-poisoned with NaN so unwritten elements are caught */
  void (*forward)(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                  float *const *out);
  /* float32 backward: din[i] (only for diff inputs, else NULL) must be ACCUMULATED into;
   * the harness pre-fills them with random values and checks the difference. NULL = no backward. */
  void (*backward)(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                   float *const *out, float *const *dout, float *const *din);
  /* independent double-precision reference of the forward (plain loops, written from NVAE.md) */
  void (*forward_ref)(const op_case *c, const opcase_io *io, double *const *in,
                      double *const *out);
};

/* A family file exports one function returning its array of cases and their count, e.g.
 *   const op_case *op_cases_conv(int *count);
 * tests/ops/op_cases.c lists those functions; this is the whole table: */
typedef const op_case *(*op_case_family_fn)(int *count);
int op_case_count(void);
const op_case *op_case_get(int k);

/* Helpers for family files. */
void opcase_add_in(opcase_io *io, const char *name, int ndim, const int64_t *shape, int diff,
                   float lo, float hi);
void opcase_add_out(opcase_io *io, const char *name, int ndim, const int64_t *shape);
int64_t opcase_numel(const opcase_tensor *t);
#define OPCASE_SHAPE(...) ((const int64_t[]){__VA_ARGS__})

/* A view of buffer p shaped like t (t->ndim dims) on ctx's device. */
tensor opcase_view(const op_ctx *ctx, const opcase_tensor *t, float *p);

/* The checks (tests/ops/opcheck.c). Returns the number of failures for the case. */
int opcase_check(const op_case *c, op_ctx *ctx, uint64_t seed, int verbose);

/* Default bounds of opcase_compare (see opcase_io.tol_dev): float32 on both backends differs by
 * summation order and FMA contraction only; TF32 rounds operands to 10 mantissa bits. */
#define OPCASE_TOL_DEV 1e-5
#define OPCASE_TOL_DEV_TF32 2e-3

typedef struct opcase_cmp_result {
  double worst_ratio;  /* max over outputs and gradients of rel err / bound (<= 1: pass) */
  double worst_err;    /* the rel err at that maximum */
  char worst_what[48]; /* "fwd y" or "bwd dx" */
  int n_checked;       /* outputs + gradients compared */
  uint64_t dev_hash;   /* FNV-1a of every device output and gradient (bit-reproducibility checks) */
} opcase_cmp_result;

/* Runs case c on `ref` (the CPU backend) and on `dev` (e.g. CUDA) on the same random inputs:
 * outputs NaN-poisoned before the forward on both; backward (if any) on gradient buffers
 * pre-filled with the same random values, comparing what each backend ADDED (so an overwrite or
 * a missing accumulation fails). Every output and gradient is compared with the case's tol_dev
 * (tol_dev_tf32 when dev->allow_tf32); non-finite values fail. Prints one line per output and
 * gradient when verbose. Returns the number of failures; res (nullable) gets the summary. */
int opcase_compare(const op_case *c, op_ctx *ref, op_ctx *dev, uint64_t seed, int verbose,
                   opcase_cmp_result *res);

#endif
