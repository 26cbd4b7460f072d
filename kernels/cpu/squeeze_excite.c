/* Squeeze-excitation on the CPU: see squeeze_excite.h. The two Linear layers act on [N, C]
 * vectors, tiny next to the [N, C, H, W] passes (pool, gate, and their backward), so they are
 * plain loops; the H·W passes run over (n, c) planes. */
#include "kernels/cpu/squeeze_excite.h"

#include "kernels/cpu/activation.h"

#define SE_PARALLEL_MIN 65536

typedef struct se_dims {
  int64_t n, c, hw, h;
} se_dims;

static se_dims se_dims_of(const tensor *x, const tensor *w1, const tensor *w2,
                          const tensor *saved) {
  TENSOR_EXPECT_4D(x, -1, -1, -1, -1);
  se_dims d = {x->shape[0], x->shape[1], x->shape[2] * x->shape[3], w1->shape[0]};
  TENSOR_EXPECT_2D(w1, d.h, d.c);
  TENSOR_EXPECT_2D(w2, d.c, d.h);
  TENSOR_EXPECT_2D(saved, d.n, 2 * d.c + d.h);
  return d;
}

void squeeze_excite_forward_cpu(op_ctx *ctx, const tensor *x, const tensor *w1, const tensor *b1,
                                const tensor *w2, const tensor *b2, tensor *y, tensor *saved) {
  se_dims d = se_dims_of(x, w1, w2, saved);
  TENSOR_EXPECT_SAME(y, x);
  TENSOR_EXPECT_1D(b1, d.h);
  TENSOR_EXPECT_1D(b2, d.c);
  const float *px = tensor_f32(x), *pw1 = tensor_f32(w1), *pb1 = tensor_f32(b1);
  const float *pw2 = tensor_f32(w2), *pb2 = tensor_f32(b2);
  float *py = tensor_f32(y), *ps = tensor_f32(saved);
  int64_t stride = 2 * d.c + d.h; /* one sample's row of saved */
  int big = d.n * d.c * d.hw > SE_PARALLEL_MIN;

  /* squeeze: every pool is read before y is written, which is what lets y alias x */
#pragma omp parallel for collapse(2) if (big)
  for (int64_t n = 0; n < d.n; n++)
    for (int64_t c = 0; c < d.c; c++) {
      const float *plane = px + (n * d.c + c) * d.hw; /* [H*W] */
      double s = 0;
      for (int64_t i = 0; i < d.hw; i++)
        s += plane[i];
      ps[n * stride + c] = (float)(s / (double)d.hw);
    }

  /* excite: two Linear layers per sample */
  for (int64_t n = 0; n < d.n; n++) {
    const float *pool = ps + n * stride; /* [C] */
    float *hid = ps + n * stride + d.c;  /* [h] */
    float *gate = hid + d.h;             /* [C] */
    for (int64_t j = 0; j < d.h; j++) {
      double a = pb1[j];
      for (int64_t c = 0; c < d.c; c++)
        a += (double)pw1[j * d.c + c] * pool[c];
      hid[j] = (float)a;
    }
    for (int64_t c = 0; c < d.c; c++) {
      double a = pb2[c];
      for (int64_t j = 0; j < d.h; j++)
        a += (double)pw2[c * d.h + j] * (hid[j] > 0 ? hid[j] : 0);
      gate[c] = act_sigmoidf((float)a);
    }
  }

#pragma omp parallel for collapse(2) if (big)
  for (int64_t n = 0; n < d.n; n++)
    for (int64_t c = 0; c < d.c; c++) {
      float g = ps[n * stride + d.c + d.h + c];
      const float *xr = px + (n * d.c + c) * d.hw; /* [H*W] */
      float *yr = py + (n * d.c + c) * d.hw;
      for (int64_t i = 0; i < d.hw; i++)
        yr[i] = xr[i] * g;
    }
}

void squeeze_excite_backward_cpu(op_ctx *ctx, const tensor *x, const tensor *w1, const tensor *w2,
                                 const tensor *saved, const tensor *dy, tensor *dx, tensor *dw1,
                                 tensor *db1, tensor *dw2, tensor *db2) {
  se_dims d = se_dims_of(x, w1, w2, saved);
  TENSOR_EXPECT_SAME(dy, x);
  if (dw1) TENSOR_EXPECT_SAME(dw1, w1);
  if (db1) TENSOR_EXPECT_1D(db1, d.h);
  if (dw2) TENSOR_EXPECT_SAME(dw2, w2);
  if (db2) TENSOR_EXPECT_1D(db2, d.c);
  const float *px = tensor_f32(x), *pw1 = tensor_f32(w1), *pw2 = tensor_f32(w2);
  const float *ps = tensor_f32(saved), *pdy = tensor_f32(dy);
  int64_t stride = 2 * d.c + d.h;
  int big = d.n * d.c * d.hw > SE_PARALLEL_MIN;
  /* scratch: dlogit [N, C] (gradient at the sigmoid's input), dhid [N, h], dpool [N, C] */
  float *dlogit = op_ctx_scratch(ctx, (size_t)(d.n * (2 * d.c + d.h)) * sizeof(float));
  float *dhid = dlogit + d.n * d.c, *dpool = dhid + d.n * d.h;

  /* dgate[n,c] = Σ_hw dy·x, then through the sigmoid: σ' = g(1 - g) */
#pragma omp parallel for collapse(2) if (big)
  for (int64_t n = 0; n < d.n; n++)
    for (int64_t c = 0; c < d.c; c++) {
      const float *xr = px + (n * d.c + c) * d.hw; /* [H*W] */
      const float *gr = pdy + (n * d.c + c) * d.hw;
      double s = 0;
      for (int64_t i = 0; i < d.hw; i++)
        s += (double)gr[i] * xr[i];
      float g = ps[n * stride + d.c + d.h + c];
      dlogit[n * d.c + c] = (float)s * g * (1.0f - g);
    }

  /* second Linear: dw2, db2, and back to the hidden layer through the ReLU */
  for (int64_t c = 0; c < d.c; c++) {
    double sb = 0;
    for (int64_t n = 0; n < d.n; n++)
      sb += dlogit[n * d.c + c];
    if (db2) tensor_f32(db2)[c] += (float)sb;
    for (int64_t j = 0; dw2 && j < d.h; j++) {
      double sw = 0;
      for (int64_t n = 0; n < d.n; n++) {
        float hj = ps[n * stride + d.c + j];
        sw += (double)dlogit[n * d.c + c] * (hj > 0 ? hj : 0);
      }
      tensor_f32(dw2)[c * d.h + j] += (float)sw;
    }
  }
  for (int64_t n = 0; n < d.n; n++)
    for (int64_t j = 0; j < d.h; j++) {
      double a = 0;
      for (int64_t c = 0; c < d.c; c++)
        a += (double)pw2[c * d.h + j] * dlogit[n * d.c + c];
      dhid[n * d.h + j] = ps[n * stride + d.c + j] > 0 ? (float)a : 0.0f;
    }

  /* first Linear: dw1, db1, dpool */
  for (int64_t j = 0; j < d.h; j++) {
    double sb = 0;
    for (int64_t n = 0; n < d.n; n++)
      sb += dhid[n * d.h + j];
    if (db1) tensor_f32(db1)[j] += (float)sb;
    for (int64_t c = 0; dw1 && c < d.c; c++) {
      double sw = 0;
      for (int64_t n = 0; n < d.n; n++)
        sw += (double)dhid[n * d.h + j] * ps[n * stride + c];
      tensor_f32(dw1)[j * d.c + c] += (float)sw;
    }
  }
  if (!dx) return;
  TENSOR_EXPECT_SAME(dx, x);
  for (int64_t n = 0; n < d.n; n++)
    for (int64_t c = 0; c < d.c; c++) {
      double a = 0;
      for (int64_t j = 0; j < d.h; j++)
        a += (double)pw1[j * d.c + c] * dhid[n * d.h + j];
      dpool[n * d.c + c] = (float)(a / (double)d.hw); /* the mean spreads it over H·W */
    }

  /* dx = dy·gate (the direct path) + dpool (through the pooling) */
  float *pdx = tensor_f32(dx);
#pragma omp parallel for collapse(2) if (big)
  for (int64_t n = 0; n < d.n; n++)
    for (int64_t c = 0; c < d.c; c++) {
      float g = ps[n * stride + d.c + d.h + c], dp = dpool[n * d.c + c];
      const float *gr = pdy + (n * d.c + c) * d.hw; /* [H*W] */
      float *dr = pdx + (n * d.c + c) * d.hw;
      for (int64_t i = 0; i < d.hw; i++)
        dr[i] += gr[i] * g + dp;
    }
}
