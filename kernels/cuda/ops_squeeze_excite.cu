/* Squeeze-excitation on the GPU: see kernels/cpu/squeeze_excite.h. The H·W passes (pool, gate,
 * their backward) run one block per (n, c) plane with double sums; the two Linear layers act on
 * [N, C] vectors and run one thread per output with the CPU's double dot products in the CPU's
 * order (batch sums for the weight gradients: n = 0, 1, ... in one thread, so no atomics). */
#include "kernels/cuda/ops_common.cuh"

typedef struct se_dims {
  int64_t n, c, hw, h;
} se_dims;

static se_dims se_dims_of(const tensor *x, const tensor *w1, const tensor *w2,
                          const tensor *saved) {
  OPS_EXPECT_4D(x, -1, -1, -1, -1);
  se_dims d = {x->shape[0], x->shape[1], x->shape[2] * x->shape[3], w1->shape[0]};
  OPS_EXPECT_2D(w1, d.h, d.c);
  OPS_EXPECT_2D(w2, d.c, d.h);
  OPS_EXPECT_2D(saved, d.n, 2 * d.c + d.h);
  return d;
}

/* saved[n, c] = mean over the plane (n, c) of x. One block per plane. */
__global__ void se_pool_kernel(const float *x, int64_t C, int64_t hw, int64_t stride,
                               float *saved) {
  int64_t plane = blockIdx.x, n = plane / C, c = plane % C;
  const float *xp = x + plane * hw; /* [H*W] */
  double s = 0;
  for (int64_t i = threadIdx.x; i < hw; i += blockDim.x)
    s += xp[i];
  s = ops_block_sum(s);
  if (threadIdx.x == 0) saved[n * stride + c] = (float)(s / (double)hw);
}

/* One block per sample: hid = pool·w1ᵀ + b1 (pre-ReLU, kept), gate = σ(relu(hid)·w2ᵀ + b2). */
__global__ void se_excite_kernel(const float *w1, const float *b1, const float *w2, const float *b2,
                                 int64_t C, int64_t H, int64_t stride, float *saved) {
  float *pool = saved + blockIdx.x * stride; /* [C] */
  float *hid = pool + C;                     /* [h] */
  float *gate = hid + H;                     /* [C] */
  for (int64_t j = threadIdx.x; j < H; j += blockDim.x) {
    double a = b1[j];
    for (int64_t c = 0; c < C; c++)
      a += (double)w1[j * C + c] * pool[c];
    hid[j] = (float)a;
  }
  __syncthreads();
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    double a = b2[c];
    for (int64_t j = 0; j < H; j++)
      a += (double)w2[c * H + j] * (hid[j] > 0 ? hid[j] : 0);
    gate[c] = om_sigmoidf((float)a);
  }
}

/* y = x·gate[n, c], per plane (y may alias x: the pools were taken before). */
__global__ void se_apply_kernel(const float *x, const float *saved, int64_t C, int64_t H,
                                int64_t hw, int64_t stride, float *y) {
  int64_t plane = blockIdx.x, n = plane / C, c = plane % C;
  float g = saved[n * stride + C + H + c];
  const float *xp = x + plane * hw; /* [H*W] */
  float *yp = y + plane * hw;
  OPS_FOR_PLANE(i, hw) yp[i] = xp[i] * g;
}

/* dlogit[n, c] = (Σ_hw dy·x)·g(1 - g): the gradient at the sigmoid's input. One block per plane. */
__global__ void se_dlogit_kernel(const float *x, const float *dy, const float *saved, int64_t C,
                                 int64_t H, int64_t hw, int64_t stride, float *dlogit) {
  int64_t plane = blockIdx.x, n = plane / C, c = plane % C;
  const float *xp = x + plane * hw, *gp = dy + plane * hw; /* [H*W] */
  double s = 0;
  for (int64_t i = threadIdx.x; i < hw; i += blockDim.x)
    s += (double)gp[i] * xp[i];
  s = ops_block_sum(s);
  if (threadIdx.x == 0) {
    float g = saved[n * stride + C + H + c];
    dlogit[plane] = (float)s * g * (1.0f - g);
  }
}

/* Second Linear's parameters: one thread per (c, j) of dw2 (j = H: db2[c]), batch sum in order. */
__global__ void se_dw2_kernel(const float *dlogit, const float *saved, int64_t N, int64_t C,
                              int64_t H, int64_t stride, float *dw2, float *db2) {
  OPS_FOR(t, C * (H + 1)) {
    int64_t c = t / (H + 1), j = t % (H + 1);
    double s = 0;
    if (j == H) {
      if (!db2) continue;
      for (int64_t n = 0; n < N; n++)
        s += dlogit[n * C + c];
      db2[c] += (float)s;
    } else {
      if (!dw2) continue;
      for (int64_t n = 0; n < N; n++) {
        float hj = saved[n * stride + C + j];
        s += (double)dlogit[n * C + c] * (hj > 0 ? hj : 0);
      }
      dw2[c * H + j] += (float)s;
    }
  }
}

/* dhid[n, j] = [hid > 0]·Σ_c w2[c, j]·dlogit[n, c] */
__global__ void se_dhid_kernel(const float *w2, const float *dlogit, const float *saved, int64_t N,
                               int64_t C, int64_t H, int64_t stride, float *dhid) {
  OPS_FOR(t, N * H) {
    int64_t n = t / H, j = t % H;
    double a = 0;
    for (int64_t c = 0; c < C; c++)
      a += (double)w2[c * H + j] * dlogit[n * C + c];
    dhid[t] = saved[n * stride + C + j] > 0 ? (float)a : 0.0f;
  }
}

/* First Linear's parameters: one thread per (j, c) of dw1 (c = C: db1[j]). */
__global__ void se_dw1_kernel(const float *dhid, const float *saved, int64_t N, int64_t C,
                              int64_t H, int64_t stride, float *dw1, float *db1) {
  OPS_FOR(t, H * (C + 1)) {
    int64_t j = t / (C + 1), c = t % (C + 1);
    double s = 0;
    if (c == C) {
      if (!db1) continue;
      for (int64_t n = 0; n < N; n++)
        s += dhid[n * H + j];
      db1[j] += (float)s;
    } else {
      if (!dw1) continue;
      for (int64_t n = 0; n < N; n++)
        s += (double)dhid[n * H + j] * saved[n * stride + c];
      dw1[j * C + c] += (float)s;
    }
  }
}

/* dpool[n, c] = Σ_j w1[j, c]·dhid[n, j] / (H·W): the mean spreads it over the plane */
__global__ void se_dpool_kernel(const float *w1, const float *dhid, int64_t N, int64_t C, int64_t H,
                                int64_t hw, float *dpool) {
  OPS_FOR(t, N * C) {
    int64_t n = t / C, c = t % C;
    double a = 0;
    for (int64_t j = 0; j < H; j++)
      a += (double)w1[j * C + c] * dhid[n * H + j];
    dpool[t] = (float)(a / (double)hw);
  }
}

/* dx += dy·gate (the direct path) + dpool (through the pooling), per plane */
__global__ void se_dx_kernel(const float *dy, const float *saved, const float *dpool, int64_t C,
                             int64_t H, int64_t hw, int64_t stride, float *dx) {
  int64_t plane = blockIdx.x, n = plane / C, c = plane % C;
  float g = saved[n * stride + C + H + c], dp = dpool[plane];
  const float *gp = dy + plane * hw; /* [H*W] */
  float *dp_out = dx + plane * hw;
  OPS_FOR_PLANE(i, hw) dp_out[i] += gp[i] * g + dp;
}

void cuda_squeeze_excite_forward(op_ctx *ctx, const tensor *x, const tensor *w1, const tensor *b1,
                                 const tensor *w2, const tensor *b2, tensor *y, tensor *saved) {
  se_dims d = se_dims_of(x, w1, w2, saved);
  TENSOR_EXPECT_SAME(y, x);
  OPS_EXPECT_1D(b1, d.h);
  OPS_EXPECT_1D(b2, d.c);
  cudaStream_t s = cuda_ctx_stream(ctx);
  int64_t stride = 2 * d.c + d.h; /* one sample's row of saved */
  float *ps = tensor_f32(saved);
  unsigned planes = (unsigned)(d.n * d.c);
  se_pool_kernel<<<planes, ops_row_threads(d.hw), 0, s>>>(tensor_f32(x), d.c, d.hw, stride, ps);
  CUDA_CHECK_LAUNCH();
  se_excite_kernel<<<(unsigned)d.n, OPS_THREADS, 0, s>>>(
      tensor_f32(w1), tensor_f32(b1), tensor_f32(w2), tensor_f32(b2), d.c, d.h, stride, ps);
  CUDA_CHECK_LAUNCH();
  se_apply_kernel<<<ops_plane_grid(d.n * d.c, d.hw), OPS_THREADS, 0, s>>>(
      tensor_f32(x), ps, d.c, d.h, d.hw, stride, tensor_f32(y));
  CUDA_CHECK_LAUNCH();
}

void cuda_squeeze_excite_backward(op_ctx *ctx, const tensor *x, const tensor *w1, const tensor *w2,
                                  const tensor *saved, const tensor *dy, tensor *dx, tensor *dw1,
                                  tensor *db1, tensor *dw2, tensor *db2) {
  se_dims d = se_dims_of(x, w1, w2, saved);
  TENSOR_EXPECT_SAME(dy, x);
  if (dw1) TENSOR_EXPECT_SAME(dw1, w1);
  if (db1) OPS_EXPECT_1D(db1, d.h);
  if (dw2) TENSOR_EXPECT_SAME(dw2, w2);
  if (db2) OPS_EXPECT_1D(db2, d.c);
  if (dx) TENSOR_EXPECT_SAME(dx, x);
  cudaStream_t s = cuda_ctx_stream(ctx);
  int64_t stride = 2 * d.c + d.h;
  const float *ps = tensor_f32(saved);
  /* dlogit [N, C], dhid [N, h], dpool [N, C] */
  OpsScratch sc(ctx, ops_pad((size_t)(d.n * (2 * d.c + d.h)) * sizeof(float)));
  float *dlogit = sc.take<float>(d.n * (2 * d.c + d.h));
  float *dhid = dlogit + d.n * d.c, *dpool = dhid + d.n * d.h;
  unsigned planes = (unsigned)(d.n * d.c);
  se_dlogit_kernel<<<planes, ops_row_threads(d.hw), 0, s>>>(tensor_f32(x), tensor_f32(dy), ps, d.c,
                                                            d.h, d.hw, stride, dlogit);
  CUDA_CHECK_LAUNCH();
  if (dw2 || db2) {
    int64_t n = d.c * (d.h + 1);
    se_dw2_kernel<<<ops_blocks(n), OPS_THREADS, 0, s>>>(dlogit, ps, d.n, d.c, d.h, stride,
                                                        ops_opt_f32(dw2), ops_opt_f32(db2));
    CUDA_CHECK_LAUNCH();
  }
  if (!dw1 && !db1 && !dx) return;
  se_dhid_kernel<<<ops_blocks(d.n * d.h), OPS_THREADS, 0, s>>>(tensor_f32(w2), dlogit, ps, d.n, d.c,
                                                               d.h, stride, dhid);
  CUDA_CHECK_LAUNCH();
  if (dw1 || db1) {
    int64_t n = d.h * (d.c + 1);
    se_dw1_kernel<<<ops_blocks(n), OPS_THREADS, 0, s>>>(dhid, ps, d.n, d.c, d.h, stride,
                                                        ops_opt_f32(dw1), ops_opt_f32(db1));
    CUDA_CHECK_LAUNCH();
  }
  if (!dx) return;
  se_dpool_kernel<<<ops_blocks(d.n * d.c), OPS_THREADS, 0, s>>>(tensor_f32(w1), dhid, d.n, d.c, d.h,
                                                                d.hw, dpool);
  CUDA_CHECK_LAUNCH();
  se_dx_kernel<<<ops_plane_grid(d.n * d.c, d.hw), OPS_THREADS, 0, s>>>(
      tensor_f32(dy), ps, dpool, d.c, d.h, d.hw, stride, tensor_f32(dx));
  CUDA_CHECK_LAUNCH();
}
