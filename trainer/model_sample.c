/* Generation (NVAE.md §1.6, §8.2): the sampling plan (decoder only, z from the prior with
 * temperature t; flows act on the posterior only), the image from the head's output, and the BN
 * re-adjustment that runs prior sampling in training mode so the decoder's running statistics
 * adapt to t. */
#include "trainer/model_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Images in [0,1] on the host from a plan's logits: the distribution's mean (DMOL mean,
 * Bernoulli σ(ℓ), Normal clamp(μ)), used for reconstructions. */
void model_decode_mean(model *m, op_ctx *ctx, const plan *p, int batch, float *x_out) {
  const model_arch *a = &m->arch;
  tensor lg = model_slot(m, p, p->logits, batch);
  int64_t n = (int64_t)batch * a->image_channels * a->image_size * a->image_size;
  size_t bytes = (size_t)n * sizeof(float);
  tensor img =
      tensor_on(tensor_4d(NULL, batch, a->image_channels, a->image_size, a->image_size), m->device);
  if (a->decoder == MODEL_DECODER_NORMAL) { /* [C means | C log-sigmas]: (clamp(μ) + 1) / 2 */
    float *h = nvae_malloc((size_t)tensor_numel(&lg) * sizeof(float));
    m->ops->to_host(ctx, h, lg.data, tensor_bytes(&lg));
    int64_t chw = (int64_t)a->image_channels * a->image_size * a->image_size;
    for (int b = 0; b < batch; b++)
      for (int64_t i = 0; i < chw; i++) {
        float mu = 5.0f * tanhf(h[(int64_t)b * 2 * chw + i] / 5.0f);
        mu = mu < -1.0f ? -1.0f : (mu > 1.0f ? 1.0f : mu);
        x_out[(int64_t)b * chw + i] = mu / 2.0f + 0.5f;
      }
    free(h);
    return;
  }
  img.data = m->ops->alloc(bytes);
  if (a->decoder == MODEL_DECODER_DMOL) {
    dmol_params dp = dmol_params_default(a->image_channels, a->num_mixture_dec,
                                         m->opt.num_x_bits > 0 ? m->opt.num_x_bits : 8);
    m->ops->dmol_mean(ctx, &dp, &lg, &img);
  } else {
    m->ops->bernoulli_mean(ctx, &lg, &img);
  }
  m->ops->to_host(ctx, x_out, img.data, bytes);
  m->ops->free(img.data);
}

/* One chunk of prior samples through the sampling plan. */
static void sample_chunk(model *m, op_ctx *ctx, int n, int first, float t, uint64_t seed,
                         uint32_t step) {
  const plan *p = &m->sample;
  uint32_t *keys = nvae_malloc((size_t)n * sizeof(uint32_t));
  for (int i = 0; i < n; i++)
    keys[i] = (uint32_t)(first + i);
  m->temperature = t;
  model_fill_eps(m, ctx, p, n, keys, seed, step);
  model_weight_norm_forward(m, ctx);
  model_plan_forward(m, ctx, p, n, 0);
  free(keys);
}

/* The displayed image: DMOL sample(t = 1) as evaluate.py, Bernoulli mean, Normal mean. */
static void sample_image(model *m, op_ctx *ctx, int n, int first, uint64_t seed, uint32_t step,
                         float *x_out) {
  const model_arch *a = &m->arch;
  const plan *p = &m->sample;
  if (a->decoder != MODEL_DECODER_DMOL) {
    model_decode_mean(m, ctx, p, n, x_out);
    return;
  }
  tensor lg = model_slot(m, p, p->logits, n);
  int M = a->num_mixture_dec, C = a->image_channels, hw = a->image_size * a->image_size;
  int64_t per = (int64_t)(M + C) * hw; /* one image's uniforms: [M·hw mixture | C·hw logistic] */
  float *buf = m->ops->alloc((size_t)(n * (M + 2 * C) * hw + per) * sizeof(float));
  tensor um = tensor_on(tensor_4d(buf, n, M, a->image_size, a->image_size), m->device);
  tensor ul = tensor_on(tensor_4d(buf + (int64_t)n * M * hw, n, C, a->image_size, a->image_size),
                        m->device);
  tensor img = tensor_on(
      tensor_4d(buf + (int64_t)n * (M + C) * hw, n, C, a->image_size, a->image_size), m->device);
  float *one = buf + (int64_t)n * (M + 2 * C) * hw;
  philox_stream st = {seed, PHILOX_DMOL_SAMPLE, step};
  for (int i = 0; i < n; i++) { /* one call per image, keyed by its index in the whole request */
    m->ops->philox_fill_uniform(ctx, &st, (uint32_t)(first + i), 1, per, one);
    m->ops->copy(ctx, (float *)um.data + (int64_t)i * M * hw, one, (size_t)M * hw * sizeof(float));
    m->ops->copy(ctx, (float *)ul.data + (int64_t)i * C * hw, one + (int64_t)M * hw,
                 (size_t)C * hw * sizeof(float));
  }
  dmol_params dp = dmol_params_default(C, M, m->opt.num_x_bits > 0 ? m->opt.num_x_bits : 8);
  m->ops->dmol_sample(ctx, &dp, 1.0f, &lg, &um, &ul, &img);
  m->ops->to_host(ctx, x_out, img.data, (size_t)n * C * hw * sizeof(float));
  m->ops->free(buf);
}

void model_sample(model *m, op_ctx *ctx, int n, float t, uint64_t seed, uint32_t step,
                  float *x_out) {
  const model_arch *a = &m->arch;
  int64_t per = (int64_t)a->image_channels * a->image_size * a->image_size;
  m->bn_train = 0;
  for (int first = 0; first < n; first += m->opt.max_batch) {
    int c = n - first < m->opt.max_batch ? n - first : m->opt.max_batch;
    sample_chunk(m, ctx, c, first, t, seed, step);
    sample_image(m, ctx, c, first, seed, step, x_out + first * per);
  }
  m->temperature = 1.0f;
}

void model_readjust_bn(model *m, op_ctx *ctx, int iterations, int n, float t, uint64_t seed) {
  if (n > m->opt.max_batch) n = m->opt.max_batch;
  m->bn_train = 1; /* running statistics of the generative path follow samples at t */
  for (int it = 0; it < iterations; it++)
    sample_chunk(m, ctx, n, 0, t, seed, (uint32_t)it);
  m->bn_train = 0;
  m->temperature = 1.0f;
}
