/* Op cases for the op table's Philox fills (kernels/random.h): the backend's entry against the
 * CPU generator. ip[] = {n_samples, n_per_sample, normal, first_sample}. The reference is
 * philox_fill_*_cpu itself (the generator's own bits are checked against published vectors in
 * tests/unit); what these cases add is that every backend's table entry gives the same numbers
 * (uniforms bit-identical, normals within a few ulps: libm vs CUDA logf/sincosf), including a
 * sample length that is not a multiple of the 4 lanes of a Philox block. */
#include "kernels/random.h"
#include "tests/ops/op_case.h"

static const philox_stream CASE_STREAM = {0x0123456789abcdefull, PHILOX_TEST, 41};

static void fill_describe(const op_case *c, opcase_io *io) {
  opcase_add_out(io, "out", 2, OPCASE_SHAPE(c->ip[0], c->ip[1]));
}

static void fill_fwd(const op_case *c, op_ctx *ctx, const opcase_io *io, float *const *in,
                     float *const *out) {
  (c->ip[2] ? ctx->ops->philox_fill_normal : ctx->ops->philox_fill_uniform)(
      ctx, &CASE_STREAM, (uint32_t)c->ip[3], c->ip[0], c->ip[1], out[0]);
}

static void fill_ref(const op_case *c, const opcase_io *io, double *const *in, double *const *out) {
  int64_t n = (int64_t)c->ip[0] * c->ip[1];
  float *f = nvae_malloc((size_t)n * sizeof(float));
  (c->ip[2] ? philox_fill_normal_cpu : philox_fill_uniform_cpu)(&CASE_STREAM, (uint32_t)c->ip[3],
                                                                c->ip[0], c->ip[1], f);
  for (int64_t i = 0; i < n; i++)
    out[0][i] = f[i];
  nvae_free(f);
}

// clang-format off
static const op_case cases[] = {
    {"philox_fill", "uniform 3x1001 from sample 7", 0, {3, 1001, 0, 7}, {0}, fill_describe,
     fill_fwd, NULL, fill_ref},
    {"philox_fill", "normal 5x258 from sample 0", 0, {5, 258, 1, 0}, {0}, fill_describe, fill_fwd,
     NULL, fill_ref},
};
// clang-format on

const op_case *op_cases_random(int *count) {
  *count = (int)(sizeof cases / sizeof cases[0]);
  return cases;
}
