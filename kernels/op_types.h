/* Parameter types of the op API, shared by every backend (kernels/backend.h): the CPU reference
 * (kernels/cpu/) and the CUDA backend take the same structs. Their meaning is documented here and
 * beside the CPU ops that use them. */
#ifndef NVAE_KERNELS_OP_TYPES_H
#define NVAE_KERNELS_OP_TYPES_H

#ifdef __cplusplus
extern "C" {
#endif

/* ---- conv ---- */
typedef struct conv2d_params {
  int stride; /* >= 1 */
  int pad;    /* >= 0, the same on all four sides */
  int groups; /* >= 1, divides Cin and Cout */
} conv2d_params;

/* ---- batchnorm ---- */
/* The reduction between the halves; NULL = local BN (world size 1). */
typedef struct bn_sync {
  void (*allreduce_sum)(void *arg, double *buf, int n); /* in-place sum across ranks */
  void *arg;
  /* Nullable: the same sum on DEVICE memory, queued on `stream` (NCCL, comm.h
   * comm_allreduce_sum_f64_dev), so the CUDA backend's sync-BN never stages through the host. The
   * CPU backend always uses allreduce_sum. */
  void (*allreduce_sum_dev)(void *arg, double *dev_buf, int n, void *stream);
} bn_sync;

typedef struct batchnorm_params {
  float eps;      /* 1e-5 */
  float momentum; /* 0.05, PyTorch convention */
} batchnorm_params;

#define BATCHNORM_EPS 1e-5f
#define BATCHNORM_MOMENTUM 0.05f
static inline batchnorm_params batchnorm_params_default(void) {
  batchnorm_params p = {BATCHNORM_EPS, BATCHNORM_MOMENTUM};
  return p;
}

/* ---- dmol ---- */
typedef struct dmol_params {
  int num_mix;      /* M: 10 in every official config */
  int channels;     /* 3 (RGB) or 1 */
  int num_bits;     /* bits per colour value: 8, or 5 for the 256x256 configs */
  float upper_edge; /* 0.99 (official) or 0.999 (PixelCNN++) */
  /* Sampling only. 0 (default, official, PR #54 not applied): the logistic noise is scaled by 1/t,
   * so a lower temperature gives MORE pixel noise. 1: scaled by t (the fix proposed in PR #54). */
  int noise_times_t;
} dmol_params;

/* ---- optim ---- */
typedef struct adamax_params {
  double lr;           /* 1e-2 in the README configs (after warm-up / cosine schedule) */
  double beta1, beta2; /* 0.9, 0.999 */
  double eps;          /* 1e-3 in NVAE; INSIDE the max, not added to the denominator */
  double weight_decay; /* 3e-4, coupled */
  int step;            /* t, 1-based: the count of this update, shared by all parameters */
  /* Nullable, on the device: gate[0] > 0 skips the update (non-finite gradients somewhere);
   * gate[1] multiplies every gradient element first (the clipping factor). The step values
   * {STEPV_BAD, STEPV_SCALE} of kernels/cpu/objective.h, so the decision needs no host. */
  const double *gate;
} adamax_params;

typedef struct adam_params {
  double lr;
  double beta1, beta2; /* 0.9, 0.999 */
  double eps;          /* 1e-8 in torch.optim.Adam; added to sqrt(v^) */
  double weight_decay; /* coupled (L2), not AdamW */
  int step;            /* t, 1-based */
  const double *gate;  /* nullable: as adamax_params.gate */
} adam_params;

#ifdef __cplusplus
}
#endif

#endif
