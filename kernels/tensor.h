/* Tensor descriptor: what every op argument is. A descriptor does not own its memory; arenas do.
 *
 * Layout is NCHW (channels-first, like PyTorch and cuDNN's default) for activations and
 * OIHW for convolution weights. dtype is f32 everywhere today; f16/bf16 are reserved so that the
 * mixed-precision CUDA path can be added without changing any op signature.
 */
#ifndef NVAE_KERNELS_TENSOR_H
#define NVAE_KERNELS_TENSOR_H

#include <stdint.h>

#include "kernels/base/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TENSOR_MAX_DIMS 4

typedef enum nvae_dtype { DTYPE_F32 = 0, DTYPE_F16 = 1, DTYPE_BF16 = 2 } nvae_dtype;
typedef enum nvae_device { DEVICE_CPU = 0, DEVICE_CUDA = 1 } nvae_device;
typedef enum nvae_layout {
  LAYOUT_NCHW = 0, /* activations [N, C, H, W]; also any dense row-major tensor */
  LAYOUT_NHWC = 1  /* uint8 image batches from the loader */
} nvae_layout;

typedef struct tensor {
  void *data;
  int64_t shape[TENSOR_MAX_DIMS]; /* unused trailing dims are 1 */
  int ndim;
  nvae_dtype dtype;
  nvae_layout layout;
  nvae_device device;
} tensor;

/* Views on existing float memory (dtype f32, layout NCHW, device CPU unless changed). */
tensor tensor_1d(float *data, int64_t n);
tensor tensor_2d(float *data, int64_t rows, int64_t cols);
tensor tensor_4d(float *data, int64_t n, int64_t c, int64_t h, int64_t w);
tensor tensor_on(tensor t, nvae_device device); /* same view, other device */

int64_t tensor_numel(const tensor *t);
size_t tensor_bytes(const tensor *t);
size_t dtype_size(nvae_dtype dt);
const char *dtype_name(nvae_dtype dt);
const char *device_name(nvae_device dev);
/* "[8, 64, 32, 32]" into buf; returns buf. */
char *tensor_shape_str(const tensor *t, char *buf, size_t len);

/* Float data of an f32 tensor; a fatal error (file:line of the caller) for other dtypes. */
float *tensor_f32_at(const tensor *t, const char *file, int line);
#define tensor_f32(t) tensor_f32_at((t), __FILE__, __LINE__)

/* Shape check for op arguments: -1 matches any extent. Fatal with file:line and both shapes. */
void tensor_expect_at(const tensor *t, const char *what, int ndim, const int64_t *shape,
                      const char *file, int line);
#ifndef __cplusplus
#define TENSOR_EXPECT_4D(t, n, c, h, w)                                                          \
  tensor_expect_at((t), #t, 4, (const int64_t[]){(n), (c), (h), (w)}, __FILE__, __LINE__)
#define TENSOR_EXPECT_2D(t, r, c)                                                                \
  tensor_expect_at((t), #t, 2, (const int64_t[]){(r), (c)}, __FILE__, __LINE__)
#define TENSOR_EXPECT_1D(t, n)                                                                   \
  tensor_expect_at((t), #t, 1, (const int64_t[]){(n)}, __FILE__, __LINE__)
#else
/* C++ (the CUDA backend's .cu files) has no compound literals: the same checks through a local
 * array. */
static inline void tensor_expect4_at(const tensor *t, const char *what, int ndim, int64_t a,
                                     int64_t b, int64_t c, int64_t d, const char *file, int line) {
  const int64_t shape[4] = {a, b, c, d};
  tensor_expect_at(t, what, ndim, shape, file, line);
}
#define TENSOR_EXPECT_4D(t, n, c, h, w)                                                            \
  tensor_expect4_at((t), #t, 4, (n), (c), (h), (w), __FILE__, __LINE__)
#define TENSOR_EXPECT_2D(t, r, c) tensor_expect4_at((t), #t, 2, (r), (c), 1, 1, __FILE__, __LINE__)
#define TENSOR_EXPECT_1D(t, n) tensor_expect4_at((t), #t, 1, (n), 1, 1, 1, __FILE__, __LINE__)
#endif
/* Same number of elements and dims as a reference tensor. */
void tensor_expect_same_at(const tensor *t, const tensor *ref, const char *what, const char *file,
                           int line);
#define TENSOR_EXPECT_SAME(t, ref) tensor_expect_same_at((t), (ref), #t, __FILE__, __LINE__)

#ifdef __cplusplus
}
#endif

#endif
