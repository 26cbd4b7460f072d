/* The tensor registry: storage of the tables, offsets, lookup by name and the start-up table. */
#include "trainer/registry.h"

#include <stdlib.h>
#include <string.h>

void registry_init(registry *r) { memset(r, 0, sizeof *r); }

void registry_free(registry *r) {
  free(r->tensors);
  free(r->convs);
  free(r->bns);
  free(r->groups);
  free(r->by_name);
  memset(r, 0, sizeof *r);
}

/* Grows an array of `size`-byte items so that index *n is valid; doubles to keep appends O(1). */
static void *grow(void *p, int *cap, int n, size_t size) {
  if (n < *cap) return p;
  *cap = *cap ? 2 * *cap : 64;
  return nvae_realloc(p, (size_t)*cap * size);
}

static int64_t align_up(int64_t x) {
  return (x + REG_ALIGN_ELEMS - 1) / REG_ALIGN_ELEMS * REG_ALIGN_ELEMS;
}

static int add_tensor(registry *r, reg_kind kind, const char *name, reg_role role, int ndim,
                      const int64_t *shape, unsigned flags) {
  NVAE_ASSERT(ndim >= 0 && ndim <= TENSOR_MAX_DIMS, "%s: ndim %d", name, ndim);
  NVAE_ASSERT(strlen(name) < REG_NAME_MAX, "tensor name too long (%zu chars): %s", strlen(name),
              name);
  r->tensors = grow(r->tensors, &r->cap_tensors, r->n_tensors, sizeof *r->tensors);
  reg_tensor *t = &r->tensors[r->n_tensors];
  memset(t, 0, sizeof *t);
  strcpy(t->name, name);
  t->kind = kind;
  t->role = role;
  t->ndim = ndim;
  t->numel = 1;
  for (int d = 0; d < TENSOR_MAX_DIMS; d++) {
    t->shape[d] = d < ndim ? shape[d] : 1;
    NVAE_ASSERT(t->shape[d] >= 1, "%s: dim %d is %lld", name, d, (long long)t->shape[d]);
    t->numel *= t->shape[d];
  }
  t->target = -1;
  t->layer = -1;
  t->flags = flags;
  return r->n_tensors++;
}

int registry_add_param(registry *r, const char *name, reg_role role, int ndim, const int64_t *shape,
                       unsigned flags) {
  int i = add_tensor(r, REG_PARAM, name, role, ndim, shape, flags);
  reg_tensor *t = &r->tensors[i];
  t->offset = r->param_arena_numel;
  r->param_arena_numel = align_up(r->param_arena_numel + t->numel);
  r->param_count += t->numel;
  r->n_params++;
  return i;
}

int registry_add_buffer(registry *r, const char *name, reg_role role, int ndim,
                        const int64_t *shape, unsigned flags) {
  int i = add_tensor(r, REG_BUFFER, name, role, ndim, shape, flags);
  reg_tensor *t = &r->tensors[i];
  /* int64 counters are packed (8-byte items need no padding for alignment). */
  int64_t *arena = (flags & REG_F_I64) ? &r->counter_arena_numel : &r->buffer_arena_numel;
  t->offset = *arena;
  *arena = (flags & REG_F_I64) ? *arena + t->numel : align_up(*arena + t->numel);
  r->n_buffers++;
  return i;
}

int registry_add_alias(registry *r, const char *name, reg_role role, int target) {
  NVAE_ASSERT(target >= 0 && target < r->n_tensors && r->tensors[target].kind == REG_PARAM,
              "alias %s: target %d is not a parameter", name, target);
  reg_tensor tgt = r->tensors[target]; /* copy: add_tensor may move the array */
  int i = add_tensor(r, REG_ALIAS, name, role, tgt.ndim, tgt.shape, 0);
  r->tensors[i].target = target;
  r->tensors[i].offset = tgt.offset;
  r->tensors[i].layer = tgt.layer;
  r->n_aliases++;
  return i;
}

int registry_add_conv(registry *r, const reg_conv *c) {
  r->convs = grow(r->convs, &r->cap_convs, r->n_convs, sizeof *r->convs);
  r->convs[r->n_convs] = *c;
  r->sr_vector_numel += c->sr_rows + c->sr_cols;
  return r->n_convs++;
}

int registry_add_bn(registry *r, const reg_bn *b) {
  r->bns = grow(r->bns, &r->cap_bns, r->n_bns, sizeof *r->bns);
  r->bns[r->n_bns] = *b;
  return r->n_bns++;
}

int registry_add_group(registry *r, const reg_group *g) {
  r->groups = grow(r->groups, &r->cap_groups, r->n_groups, sizeof *r->groups);
  r->groups[r->n_groups] = *g;
  return r->n_groups++;
}

/* qsort has no context argument in C11: the comparator reads the table through this pointer,
 * which is set only for the duration of one registry_finish call. */
static const reg_tensor *sort_tensors;

static int cmp_by_name(const void *a, const void *b) {
  return strcmp(sort_tensors[*(const int *)a].name, sort_tensors[*(const int *)b].name);
}

int registry_finish(registry *r, nvae_err *err) {
  free(r->by_name);
  r->by_name = nvae_malloc((size_t)(r->n_tensors ? r->n_tensors : 1) * sizeof *r->by_name);
  for (int i = 0; i < r->n_tensors; i++)
    r->by_name[i] = i;
  sort_tensors = r->tensors;
  qsort(r->by_name, (size_t)r->n_tensors, sizeof *r->by_name, cmp_by_name);
  sort_tensors = NULL;
  for (int i = 1; i < r->n_tensors; i++) {
    const char *prev = r->tensors[r->by_name[i - 1]].name, *cur = r->tensors[r->by_name[i]].name;
    if (strcmp(prev, cur) == 0)
      return nvae_errf(err, NVAE_EXIT_USAGE, "tensor name '%s' is registered twice", cur);
  }
  return 0;
}

int registry_find(const registry *r, const char *name) {
  NVAE_ASSERT(r->by_name || r->n_tensors == 0, "registry_find before registry_finish");
  int lo = 0, hi = r->n_tensors - 1;
  while (lo <= hi) {
    int mid = lo + (hi - lo) / 2;
    int c = strcmp(name, r->tensors[r->by_name[mid]].name);
    if (c == 0) return r->by_name[mid];
    if (c < 0)
      hi = mid - 1;
    else
      lo = mid + 1;
  }
  return -1;
}

tensor registry_view(const registry *r, int i, float *base) {
  NVAE_ASSERT(i >= 0 && i < r->n_tensors, "tensor index %d of %d", i, r->n_tensors);
  const reg_tensor *t = &r->tensors[i];
  NVAE_ASSERT(!(t->flags & REG_F_I64), "%s is an int64 counter, not a float tensor", t->name);
  tensor v = tensor_1d(base + t->offset, t->numel);
  v.ndim = t->ndim ? t->ndim : 1;
  for (int d = 0; d < TENSOR_MAX_DIMS; d++)
    v.shape[d] = t->shape[d];
  return v;
}

char *reg_shape_str(const reg_tensor *t, char *buf, size_t len) {
  if (t->ndim == 0) {
    snprintf(buf, len, "scalar");
    return buf;
  }
  size_t used = 0;
  buf[0] = '\0';
  for (int d = 0; d < t->ndim && used < len; d++)
    used += (size_t)snprintf(buf + used, len - used, d ? "x%lld" : "%lld", (long long)t->shape[d]);
  return buf;
}

const char *reg_role_name(reg_role role) {
  static const char *const names[REG_ROLE_COUNT] = {
      "wn_weight", "wn_log_norm",     "conv_bias",        "conv_weight",    "bn_weight",
      "bn_bias",   "bn_running_mean", "bn_running_var",   "bn_num_batches", "se_weight",
      "se_bias",   "prior_ftr0",      "weight_normalized"};
  return (role >= 0 && role < REG_ROLE_COUNT) ? names[role] : "?";
}

static double mib(int64_t elems, size_t bytes_per) {
  return (double)elems * (double)bytes_per / (1024.0 * 1024.0);
}

static void count_convs(const registry *r, int *wn, int *plain, int *ar) {
  *wn = *plain = *ar = 0;
  for (int i = 0; i < r->n_convs; i++) {
    if (r->convs[i].kind == REG_CONV_WN)
      (*wn)++;
    else if (r->convs[i].kind == REG_CONV_PLAIN)
      (*plain)++;
    else
      (*ar)++;
  }
}

void registry_print_summary(const registry *r, const model_arch *a, FILE *f) {
  int wn, plain, ar, fused = 0;
  count_convs(r, &wn, &plain, &ar);
  for (int i = 0; i < r->n_bns; i++)
    fused += r->bns[i].fused_swish;
  int64_t latents = 0;
  for (int i = 0; i < r->n_groups; i++)
    latents += (int64_t)r->groups[i].c * r->groups[i].h * r->groups[i].w;

  fprintf(f, "model: %dx%dx%d %s", a->image_channels, a->image_size, a->image_size,
          model_decoder_name(a->decoder));
  if (a->decoder == MODEL_DECODER_DMOL) fprintf(f, " (M=%d)", a->num_mixture_dec);
  fprintf(f, ", C_enc %d, C_dec %d, %d scales, num_nf %d\n", a->num_channels_enc,
          a->num_channels_dec, a->num_latent_scales, a->num_nf);
  fprintf(f, "  parameters       %13lld in %d tensors (+ %d buffers, %d aliases)\n",
          (long long)r->param_count, r->n_params, r->n_buffers, r->n_aliases);
  fprintf(f, "  conv layers      %13d (%d weight-normalised, %d plain, %d autoregressive)\n",
          r->n_convs, wn, plain, ar);
  fprintf(f, "  BN layers        %13d (%d fused with Swish)\n", r->n_bns, fused);
  fprintf(f, "  latent groups    %13d (%lld latent variables per image)\n", r->n_groups,
          (long long)latents);
  /* Groups per scale, coarsest first (decoder order). */
  for (int i = 0; i < r->n_groups;) {
    int j = i;
    while (j < r->n_groups && r->groups[j].scale == r->groups[i].scale)
      j++;
    fprintf(f, "    scale %d: %3d x [%d, %d, %d]\n", r->groups[i].scale, j - i, r->groups[i].c,
            r->groups[i].h, r->groups[i].w);
    i = j;
  }
  double p = mib(r->param_arena_numel, sizeof(float));
  fprintf(f, "  memory (MiB)\n");
  fprintf(f, "    parameters     %13.2f\n", p);
  fprintf(f, "    gradients      %13.2f\n", p);
  fprintf(f, "    optimizer      %13.2f (Adamax: 2 states per parameter)\n", 2 * p);
  fprintf(f, "    buffers        %13.2f (BN running statistics)\n",
          mib(r->buffer_arena_numel, sizeof(float)) + mib(r->counter_arena_numel, sizeof(int64_t)));
  fprintf(f, "    SR vectors     %13.2f (u, v per conv layer)\n",
          mib(r->sr_vector_numel, sizeof(float)));
  fprintf(f, "    total          %13.2f\n",
          4 * p + mib(r->buffer_arena_numel, sizeof(float)) +
              mib(r->counter_arena_numel, sizeof(int64_t)) +
              mib(r->sr_vector_numel, sizeof(float)));
}
