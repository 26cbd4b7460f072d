/* Parameter initialisation (NVAE.md §1.9) and the SR vectors (§3.4), from Philox.
 *
 * Every tensor draws from its own counter range: purpose PHILOX_PARAM_INIT, step 0, "sample" =
 * the tensor's registry index, so the values do not depend on the order of the walk. Values are
 * made on the host and copied to the backend's memory.
 *   conv weights and biases  U(±1/√fan_in), fan_in = Cin/groups·k·k (PyTorch's default)
 *   WN log-scales            log(‖V(⊙mask)‖ + 0.01) + log(scale)  (scale 0.1 for the AR μ conv)
 *   SE linears               U(±1/√in_features) for weight and bias
 *   BN                       γ 1, β 0, running mean 0, running var 1, count 0
 *   prior_ftr0               U(0, 1)
 */
#include "trainer/model_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void uniform(uint64_t seed, int index, float *out, int64_t n, float lo, float hi) {
  philox_stream st = {seed, PHILOX_PARAM_INIT, 0};
  philox_fill_uniform_cpu(&st, (uint32_t)index, 1, n, out);
  for (int64_t i = 0; i < n; i++)
    out[i] = lo + (hi - lo) * out[i];
}

static void init_conv(const registry *r, const reg_conv *c, uint64_t seed, const float *mask,
                      float *host) {
  const reg_tensor *w = &r->tensors[c->weight];
  float bound = 1.0f / sqrtf((float)(c->cin / c->groups * c->k * c->k));
  uniform(seed, c->weight, host + w->offset, w->numel, -bound, bound);
  if (c->bias >= 0)
    uniform(seed, c->bias, host + r->tensors[c->bias].offset, r->tensors[c->bias].numel, -bound,
            bound);
  if (c->log_norm < 0) return;
  int64_t per = w->numel / c->cout;
  float *g = host + r->tensors[c->log_norm].offset;
  for (int o = 0; o < c->cout; o++) {
    double s = 0;
    for (int64_t i = 0; i < per; i++) {
      double v = host[w->offset + o * per + i] * (mask ? mask[o * per + i] : 1.0f);
      s += v * v;
    }
    g[o] = (float)(log(sqrt(s) + 0.01) + log((double)c->log_norm_init_scale));
  }
}

void model_init_params(model *m, uint64_t seed) {
  const registry *r = &m->reg;
  op_ctx *ctx = m->ctx;
  float *p = nvae_calloc((size_t)r->param_arena_numel, sizeof(float));
  float *buf =
      nvae_calloc((size_t)(r->buffer_arena_numel ? r->buffer_arena_numel : 1), sizeof(float));
  for (int i = 0; i < r->n_tensors; i++) {
    const reg_tensor *t = &r->tensors[i];
    if (t->kind == REG_ALIAS) continue;
    switch (t->role) {
    case REG_ROLE_PRIOR_FTR0: uniform(seed, i, p + t->offset, t->numel, 0.0f, 1.0f); break;
    case REG_ROLE_SE_WEIGHT:
    case REG_ROLE_SE_BIAS: {
      /* in_features: the weight's second dim; the bias shares its layer's bound */
      const reg_tensor *w = t->role == REG_ROLE_SE_WEIGHT ? t : &r->tensors[i - 1];
      float bound = 1.0f / sqrtf((float)w->shape[1]);
      uniform(seed, i, p + t->offset, t->numel, -bound, bound);
      break;
    }
    case REG_ROLE_BN_WEIGHT:
      for (int64_t k = 0; k < t->numel; k++)
        p[t->offset + k] = 1.0f;
      break;
    case REG_ROLE_BN_RUNNING_VAR:
      for (int64_t k = 0; k < t->numel; k++)
        buf[t->offset + k] = 1.0f;
      break;
    default: break; /* convs below; BN β, running mean: 0 */
    }
  }
  for (int c = 0; c < r->n_convs; c++) {
    const reg_conv *cv = &r->convs[c];
    float *mask = NULL;
    if (m->mask_off[c] >= 0) {
      int64_t n = r->tensors[cv->weight].numel;
      mask = nvae_malloc((size_t)n * sizeof(float));
      m->ops->to_host(ctx, mask, m->masks + m->mask_off[c], (size_t)n * sizeof(float));
    }
    init_conv(r, cv, seed, mask, p);
    free(mask);
  }
  m->ops->from_host(ctx, m->params, p, (size_t)r->param_arena_numel * sizeof(float));
  m->ops->from_host(ctx, m->buffers, buf, (size_t)r->buffer_arena_numel * sizeof(float));
  memset(m->counters, 0, (size_t)r->counter_arena_numel * sizeof(int64_t));
  free(p);
  free(buf);
  model_init_sr_vectors(m, ctx, seed);
}

void model_init_sr_vectors(model *m, op_ctx *ctx, uint64_t seed) {
  const registry *r = &m->reg;
  int64_t n = r->sr_vector_numel;
  float *h = nvae_malloc((size_t)(n ? n : 1) * sizeof(float));
  philox_stream st = {seed, PHILOX_SPECTRAL_INIT, 0};
  int64_t off = 0;
  for (int c = 0; c < r->n_convs; c++) { /* u then v of each layer, each normalised */
    int len[2] = {r->convs[c].sr_rows, r->convs[c].sr_cols};
    for (int j = 0; j < 2; j++) {
      philox_fill_normal_cpu(&st, (uint32_t)(2 * c + j), 1, len[j], h + off);
      double s = 0;
      for (int i = 0; i < len[j]; i++)
        s += (double)h[off + i] * h[off + i];
      float norm = (float)sqrt(s);
      if (norm < SPECTRAL_NORM_FLOOR) norm = SPECTRAL_NORM_FLOOR;
      for (int i = 0; i < len[j]; i++)
        h[off + i] /= norm;
      off += len[j];
    }
  }
  m->ops->from_host(ctx, m->sr, h, (size_t)n * sizeof(float));
  free(h);
  m->sr_initialized = 0;
}
