/* Element-wise activations on the CPU: see activation.h. */
#include "kernels/cpu/activation.h"

#define ACT_PARALLEL_MIN 65536

/* One forward and one backward loop per activation, written out by a macro so that each is a
 * plain vectorisable loop over the elements: f = the math on xi; g = the derivative on xi, the
 * element of the saved tensor `saved` (the input x, or the output y for sigmoid). */
#define ACT_FORWARD(name, f)                                                                       \
  void name##_forward_cpu(op_ctx *ctx, const tensor *x, tensor *y) {                               \
    TENSOR_EXPECT_SAME(y, x);                                                                      \
    const float *px = tensor_f32(x);                                                               \
    float *py = tensor_f32(y);                                                                     \
    int64_t n = tensor_numel(x);                                                                   \
    _Pragma("omp parallel for simd if (n > ACT_PARALLEL_MIN)") for (int64_t i = 0; i < n; i++) {   \
      float xi = px[i];                                                                            \
      py[i] = (f);                                                                                 \
    }                                                                                              \
  }
#define ACT_BACKWARD(name, saved, g)                                                               \
  void name##_backward_cpu(op_ctx *ctx, const tensor *saved, const tensor *dy, tensor *dx) {       \
    TENSOR_EXPECT_SAME(dy, saved);                                                                 \
    TENSOR_EXPECT_SAME(dx, saved);                                                                 \
    const float *px = tensor_f32(saved), *pdy = tensor_f32(dy);                                    \
    float *pdx = tensor_f32(dx);                                                                   \
    int64_t n = tensor_numel(saved);                                                               \
    _Pragma("omp parallel for simd if (n > ACT_PARALLEL_MIN)") for (int64_t i = 0; i < n; i++) {   \
      float xi = px[i];                                                                            \
      pdx[i] += (g)*pdy[i];                                                                        \
    }                                                                                              \
  }

ACT_FORWARD(swish, xi *act_sigmoidf(xi))
ACT_BACKWARD(swish, x, act_swish_gradf(xi))

ACT_FORWARD(elu, xi > 0 ? xi : expm1f(xi))
ACT_BACKWARD(elu, x, xi > 0 ? 1.0f : expf(xi))

ACT_FORWARD(relu, xi > 0 ? xi : 0.0f)
ACT_BACKWARD(relu, x, xi > 0 ? 1.0f : 0.0f)

ACT_FORWARD(sigmoid, act_sigmoidf(xi))
/* the saved tensor is the output y: xi = σ(x) */
ACT_BACKWARD(sigmoid, y, xi *(1.0f - xi))

ACT_FORWARD(soft_clamp, 5.0f * tanhf(xi / 5.0f))
/* d/dx 5·tanh(x/5) = 1 - tanh²(x/5) */
ACT_BACKWARD(soft_clamp, x, 1.0f - tanhf(xi / 5.0f) * tanhf(xi / 5.0f))
