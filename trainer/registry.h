/* The tensor registry: every tensor of the model under the name the official PyTorch NVAE gives it
 * in its state_dict (DESIGN.md §1), in state_dict order, with its place in an arena and the flags a
 * trainer needs; plus the layer lists the regularisers walk (conv layers for spectral
 * regularisation, BN layers for the BN regulariser) and the latent groups.
 *
 * Storage. Nothing here allocates tensor memory: the registry assigns offsets (in elements) and
 * the trainer allocates the arenas:
 *   - P (parameter): float offset into the PARAMETER arena. The gradient arena uses the SAME
 *     offsets, so all-reduce buckets, optimizer state and checkpoint slices are offset arithmetic.
 *   - B (buffer, f32): BN running mean/var, offset into the BUFFER arena.
 *   - B (buffer, i64): BN num_batches_tracked (a PyTorch int64 scalar, shape "scalar"), offset
 *     into the COUNTER arena of int64 elements; kept apart so that it round-trips exactly and the
 *     float buffer arena stays one dtype. Flag REG_F_I64.
 *   - A (alias): the official `weight_normalized` of the plain MBConv convs, which PyTorch
 *     registers as a second name for `weight`. No storage: `target` is the parameter it names and
 *     `offset` is that parameter's offset. Accepted on import, written on export.
 * Every P and B tensor starts at a multiple of REG_ALIGN_ELEMS elements (64 bytes), so vector
 * loads and cuDNN never see a misaligned tensor; the few padding elements stay zero forever
 * (their gradient is zero, so weight decay and Adamax keep them zero).
 */
#ifndef NVAE_TRAINER_REGISTRY_H
#define NVAE_TRAINER_REGISTRY_H

#include "kernels/base/error.h"
#include "kernels/tensor.h"
#include "trainer/model_arch.h"

#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define REG_NAME_MAX 96    /* longest official name is ~55 characters */
#define REG_ALIGN_ELEMS 16 /* 64-byte alignment of every P/B tensor in its arena */

typedef enum reg_kind { REG_PARAM = 'P', REG_BUFFER = 'B', REG_ALIAS = 'A' } reg_kind;

/* What a tensor is to the trainer. */
typedef enum reg_role {
  REG_ROLE_WN_WEIGHT,   /* V of a weight-normalised conv (Conv2D with WN, or masked ARConv2d) */
  REG_ROLE_WN_LOG_NORM, /* its log_weight_norm g, [Cout,1,1,1] */
  REG_ROLE_CONV_BIAS,   /* bias of a conv */
  REG_ROLE_CONV_WEIGHT, /* weight of a plain conv (MBConv: no WN, no bias) */
  REG_ROLE_BN_WEIGHT,   /* γ */
  REG_ROLE_BN_BIAS,     /* β */
  REG_ROLE_BN_RUNNING_MEAN,
  REG_ROLE_BN_RUNNING_VAR,
  REG_ROLE_BN_NUM_BATCHES, /* num_batches_tracked (int64 scalar; unused by the maths) */
  REG_ROLE_SE_WEIGHT,      /* SE linear weight [out, in] */
  REG_ROLE_SE_BIAS,
  REG_ROLE_PRIOR_FTR0,        /* the decoder's learned initial state [C, h, w] */
  REG_ROLE_WEIGHT_NORMALIZED, /* alias of a plain conv weight */
  REG_ROLE_COUNT
} reg_role;

/* Tensor flags. */
enum {
  REG_F_DECAY = 1u << 0,  /* ordinary weight decay applies: every parameter (NVAE.md §3.7) */
  REG_F_MASKED = 1u << 1, /* masked AR conv weight: the effective weight is V ⊙ mask */
  REG_F_SR = 1u << 2,     /* raw weight of a conv layer that spectral regularisation covers */
  REG_F_BNREG = 1u << 3,  /* BN γ that the BN regulariser covers (max |γ| per layer) */
  REG_F_I64 = 1u << 4     /* int64 buffer, lives in the counter arena */
};

typedef struct reg_tensor {
  char name[REG_NAME_MAX]; /* official state_dict name */
  reg_kind kind;
  reg_role role;
  int ndim;                       /* 0 for a scalar */
  int64_t shape[TENSOR_MAX_DIMS]; /* unused trailing dims are 1 */
  int64_t numel;
  int64_t offset; /* elements, into the arena of its kind (see the top of this file) */
  int target;     /* A: index of the aliased parameter; -1 otherwise */
  int layer;      /* conv index (conv roles), BN index (BN roles); -1 otherwise */
  unsigned flags; /* REG_F_* */
} reg_tensor;

typedef enum reg_conv_kind {
  REG_CONV_WN = 0,    /* W = exp(g)·V/‖V‖ (+ bias) */
  REG_CONV_PLAIN = 1, /* W = V, no bias (MBConv) */
  REG_CONV_AR = 2     /* W = exp(g)·(V⊙mask)/‖V⊙mask‖ (+ bias), autoregressive flows */
} reg_conv_kind;

/* One conv layer (NVAE.md §3.4: every one of them is spectrally regularised). */
typedef struct reg_conv {
  char name[REG_NAME_MAX]; /* module path, e.g. "enc_tower.0._ops.0.conv_0" */
  reg_conv_kind kind;
  int cout, cin, k, stride, groups;  /* padding is k/2 for every conv of the model */
  int weight, bias, log_norm, alias; /* tensor indices; -1 where absent */
  /* AR convs only (NVAE.md §1.7): centre tap excludes the own channel (zero_diag); spatial mask
   * flipped in both axes (mirror, the second cell of a pair). */
  int zero_diag, mirror;
  /* g init = log(‖V‖ + 0.01) + log(scale): scale 0.1 for the AR μ conv (starts near 0), else 1 */
  float log_norm_init_scale;
  int sr_rows, sr_cols; /* effective-weight matrix for SR: [Cout, Cin/groups·k·k] */
} reg_conv;

/* One BatchNorm layer (NVAE.md §3.5: each adds max|γ| to the BN regulariser). */
typedef struct reg_bn {
  char name[REG_NAME_MAX]; /* module path, e.g. "enc_tower.0._ops.0.bn_act" */
  int channels;
  int fused_swish; /* 1: SyncBN+Swish (outputs swish(BN(x))); 0: plain SyncBN */
  int weight, bias, running_mean, running_var, num_batches; /* tensor indices */
} reg_bn;

/* One latent group, in DECODER order (index 0 = the top group with the fixed prior). */
typedef struct reg_group {
  int index;
  int scale;        /* decoder order: 0 = coarsest */
  int c, h, w;      /* latent shape: L × h × w */
  int enc_sampler;  /* conv index: enc_sampler.index (3×3 → 2L) */
  int dec_sampler;  /* conv index: dec_sampler.(index−1).1 (ELU + 1×1 → 2L); -1 for group 0 */
  int enc_combiner; /* conv index: the encoder combiner slot it reads; -1 for group 0 */
  int dec_combiner; /* conv index: the combiner_dec that injects z */
  int nf_first;     /* conv index of its first AR conv (6 per paired cell); -1 without flows */
} reg_group;

typedef struct registry {
  reg_tensor *tensors; /* state_dict order */
  int n_tensors, cap_tensors;
  reg_conv *convs; /* module order (= state_dict order) */
  int n_convs, cap_convs;
  reg_bn *bns;
  int n_bns, cap_bns;
  reg_group *groups;
  int n_groups, cap_groups;
  int *by_name; /* tensor indices sorted by name (registry_finish) */
  int n_params, n_buffers, n_aliases;
  int64_t param_count;         /* Σ numel over P (the model's parameter count) */
  int64_t param_arena_numel;   /* floats, with alignment padding (= gradient arena) */
  int64_t buffer_arena_numel;  /* floats */
  int64_t counter_arena_numel; /* int64s */
  int64_t sr_vector_numel;     /* Σ (rows + cols) over conv layers: the SR u and v vectors */
} registry;

void registry_init(registry *r);
void registry_free(registry *r);

/* Appends a tensor and returns its index. Offsets are assigned here (append order = state_dict
 * order). A name longer than REG_NAME_MAX−1 is a fatal internal error (names come from code). */
int registry_add_param(registry *r, const char *name, reg_role role, int ndim, const int64_t *shape,
                       unsigned flags);
int registry_add_buffer(registry *r, const char *name, reg_role role, int ndim,
                        const int64_t *shape, unsigned flags);
int registry_add_alias(registry *r, const char *name, reg_role role, int target);
/* Layer lists; return the new index. */
int registry_add_conv(registry *r, const reg_conv *c);
int registry_add_bn(registry *r, const reg_bn *b);
int registry_add_group(registry *r, const reg_group *g);

/* Builds the name index. Returns 0, or NVAE_EXIT_USAGE naming a duplicate. */
int registry_finish(registry *r, nvae_err *err);

/* Index of the tensor with this name (P, B or A), or -1. Needs registry_finish. */
int registry_find(const registry *r, const char *name);

/* A descriptor for tensor i on float memory: base is the parameter arena (P, A), the gradient
 * arena (same offsets) or the buffer arena (f32 B). Fatal for an int64 buffer. */
tensor registry_view(const registry *r, int i, float *base);

/* "8x3x3x3", "8", "scalar": the shape column of tests/data/state_dict/ *.txt. Returns buf. */
char *reg_shape_str(const reg_tensor *t, char *buf, size_t len);
const char *reg_role_name(reg_role role);

/* The start-up table: counts, latent groups per scale and MiB of the parameter, gradient,
 * optimizer-state (Adamax: 2×), buffer and SR-vector storage. */
void registry_print_summary(const registry *r, const model_arch *a, FILE *f);

#ifdef __cplusplus
}
#endif

#endif
