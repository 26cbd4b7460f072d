/* The tensor registry against the official state_dict lists (tests/data/state_dict/): for each of
 * the four configurations the exact sequence of (kind, name, shape), the totals (parameters,
 * conv / BN layers, latent groups), and the registry's own invariants (offsets, flags, lookup,
 * layer lists). Plus model_arch: groups per scale, head channels, validation messages.
 *
 * The lists are read from $NVAE_SOURCE_DIR/tests/data/state_dict (set by ctest), or from the
 * directory given as argv[1]. */
#include "tests/test_util.h"
#include "trainer/model_arch.h"
#include "trainer/model_registry.h"
#include "trainer/registry.h"

#include <stdlib.h>
#include <string.h>

typedef struct ref_entry {
  char kind;
  char name[REG_NAME_MAX];
  char shape[64];
} ref_entry;

typedef struct ref_list {
  ref_entry *e;
  int n;
  long long hdr_params, hdr_tensors, hdr_entries; /* from the second header line */
} ref_list;

static int read_list(const char *path, ref_list *out) {
  memset(out, 0, sizeof *out);
  FILE *f = fopen(path, "r");
  if (!f) {
    test_fail_at(__FILE__, __LINE__, "cannot open %s (is NVAE_SOURCE_DIR set?)", path);
    return -1;
  }
  char line[512];
  int cap = 0;
  while (fgets(line, sizeof line, f)) {
    if (line[0] == '#') {
      long long p, t, e;
      if (sscanf(line, "# %lld parameters in %lld tensors; %lld state_dict entries", &p, &t, &e) ==
          3) {
        out->hdr_params = p;
        out->hdr_tensors = t;
        out->hdr_entries = e;
      }
      continue;
    }
    if (line[0] == '\n') continue;
    if (out->n == cap) {
      cap = cap ? 2 * cap : 1024;
      out->e = realloc(out->e, (size_t)cap * sizeof *out->e);
    }
    ref_entry *r = &out->e[out->n];
    char kind[8];
    if (sscanf(line, "%7s %95s %63s", kind, r->name, r->shape) != 3 || strlen(kind) != 1) {
      test_fail_at(__FILE__, __LINE__, "%s: cannot parse line '%s'", path, line);
      break;
    }
    r->kind = kind[0];
    out->n++;
  }
  fclose(f);
  return 0;
}

/* Same sequence of (kind, name, shape); on a mismatch print the first differing line. */
static void compare_with_list(const char *cfg, const registry *r, const ref_list *ref) {
  int n = ref->n > r->n_tensors ? ref->n : r->n_tensors;
  for (int i = 0; i < n; i++) {
    char ours[256] = "(nothing)", theirs[256] = "(nothing)", shape[64];
    if (i < r->n_tensors)
      snprintf(ours, sizeof ours, "%c %s %s", (char)r->tensors[i].kind, r->tensors[i].name,
               reg_shape_str(&r->tensors[i], shape, sizeof shape));
    if (i < ref->n)
      snprintf(theirs, sizeof theirs, "%c %s %s", ref->e[i].kind, ref->e[i].name, ref->e[i].shape);
    if (strcmp(ours, theirs) != 0) {
      CHECK(0, "%s: first difference at entry %d:\n  official: %s\n  ours:     %s", cfg, i, theirs,
            ours);
      return;
    }
  }
  CHECK(1, "%s: same sequence", cfg);
}

/* Invariants every registry must satisfy, whatever the architecture. */
static void check_invariants(const char *cfg, const registry *r) {
  int64_t pcount = 0, last_p_end = 0, last_b_end = 0, last_c_end = 0;
  int np = 0, nb = 0, na = 0, n_sr = 0, n_bnreg = 0;
  for (int i = 0; i < r->n_tensors; i++) {
    const reg_tensor *t = &r->tensors[i];
    CHECK(registry_find(r, t->name) == i, "%s: lookup of %s", cfg, t->name);
    int64_t numel = 1;
    for (int d = 0; d < TENSOR_MAX_DIMS; d++)
      numel *= t->shape[d];
    CHECK(numel == t->numel, "%s: %s numel", cfg, t->name);
    if (t->flags & REG_F_SR) n_sr++;
    if (t->flags & REG_F_BNREG) n_bnreg++;
    if (t->kind == REG_PARAM) {
      np++;
      pcount += t->numel;
      /* State_dict order = arena order, aligned, no overlap: all-reduce buckets and checkpoint
       * slices rely on this. */
      CHECK(t->offset >= last_p_end && t->offset % REG_ALIGN_ELEMS == 0, "%s: %s offset %lld", cfg,
            t->name, (long long)t->offset);
      last_p_end = t->offset + t->numel;
      CHECK(t->flags & REG_F_DECAY, "%s: parameter %s without weight decay", cfg, t->name);
    } else if (t->kind == REG_BUFFER) {
      nb++;
      CHECK(!(t->flags & REG_F_DECAY), "%s: buffer %s with decay", cfg, t->name);
      if (t->flags & REG_F_I64) {
        CHECK(t->ndim == 0 && t->role == REG_ROLE_BN_NUM_BATCHES && t->offset == last_c_end,
              "%s: counter %s", cfg, t->name);
        last_c_end = t->offset + 1;
      } else {
        CHECK(t->offset >= last_b_end && t->offset % REG_ALIGN_ELEMS == 0, "%s: %s offset", cfg,
              t->name);
        last_b_end = t->offset + t->numel;
      }
    } else {
      na++;
      CHECK(t->target >= 0 && t->target < i && r->tensors[t->target].kind == REG_PARAM &&
                t->offset == r->tensors[t->target].offset &&
                t->numel == r->tensors[t->target].numel,
            "%s: alias %s", cfg, t->name);
      CHECK(!(t->flags & REG_F_DECAY), "%s: alias %s with decay (counted twice)", cfg, t->name);
    }
  }
  CHECK(np == r->n_params && nb == r->n_buffers && na == r->n_aliases, "%s: kind counts", cfg);
  CHECK(pcount == r->param_count, "%s: parameter count", cfg);
  CHECK(last_p_end <= r->param_arena_numel && r->param_arena_numel % REG_ALIGN_ELEMS == 0 &&
            r->param_arena_numel < r->param_count + (int64_t)REG_ALIGN_ELEMS * r->n_params,
        "%s: parameter arena %lld for %lld parameters", cfg, (long long)r->param_arena_numel,
        (long long)r->param_count);
  CHECK(last_b_end <= r->buffer_arena_numel && last_c_end == r->counter_arena_numel,
        "%s: buffer arenas", cfg);
  CHECK(n_sr == r->n_convs, "%s: %d SR weights for %d convs", cfg, n_sr, r->n_convs);
  CHECK(n_bnreg == r->n_bns, "%s: %d BN-reg weights for %d BN layers", cfg, n_bnreg, r->n_bns);
  CHECK(r->counter_arena_numel == r->n_bns, "%s: one num_batches_tracked per BN", cfg);

  int64_t sr = 0;
  for (int i = 0; i < r->n_convs; i++) {
    const reg_conv *c = &r->convs[i];
    const reg_tensor *w = &r->tensors[c->weight];
    CHECK(w->shape[0] == c->cout && w->shape[1] == c->cin / c->groups && w->shape[2] == c->k &&
              w->shape[3] == c->k && w->layer == i,
          "%s: conv %s weight shape", cfg, c->name);
    CHECK(c->sr_rows == c->cout && c->sr_cols == c->cin / c->groups * c->k * c->k,
          "%s: conv %s SR matrix", cfg, c->name);
    CHECK((c->kind == REG_CONV_PLAIN) == (c->log_norm < 0) &&
              (c->kind == REG_CONV_PLAIN) == (c->alias >= 0),
          "%s: conv %s WN tensors", cfg, c->name);
    CHECK((c->kind == REG_CONV_AR) == ((w->flags & REG_F_MASKED) != 0), "%s: conv %s mask flag",
          cfg, c->name);
    CHECK(strncmp(w->name, c->name, strlen(c->name)) == 0, "%s: conv %s names %s", cfg, c->name,
          w->name);
    sr += c->sr_rows + c->sr_cols;
  }
  CHECK(sr == r->sr_vector_numel, "%s: SR vector total", cfg);
  for (int i = 0; i < r->n_bns; i++) {
    const reg_bn *b = &r->bns[i];
    int idx[5] = {b->weight, b->bias, b->running_mean, b->running_var, b->num_batches};
    for (int j = 0; j < 5; j++)
      CHECK(r->tensors[idx[j]].layer == i &&
                (int)r->tensors[idx[j]].role == (int)REG_ROLE_BN_WEIGHT + j,
            "%s: BN %s tensor %d", cfg, b->name, j);
    CHECK(r->tensors[b->weight].numel == b->channels, "%s: BN %s channels", cfg, b->name);
  }
  for (int k = 0; k < r->n_groups; k++) {
    const reg_group *g = &r->groups[k];
    CHECK(g->index == k && r->convs[g->enc_sampler].cout == 2 * g->c &&
              r->convs[g->dec_combiner].cin == r->convs[g->dec_combiner].cout + g->c,
          "%s: group %d", cfg, k);
    CHECK((k == 0) == (g->dec_sampler < 0) && (k == 0) == (g->enc_combiner < 0),
          "%s: group %d prior/combiner", cfg, k);
    if (k > 0)
      CHECK(r->convs[g->dec_sampler].cout == 2 * g->c &&
                r->convs[g->enc_combiner].cout == r->convs[g->enc_sampler].cin,
            "%s: group %d sampler shapes", cfg, k);
  }
}

typedef struct expect {
  const char *cfg;
  long long params;
  int p_tensors, entries, convs, bns, groups; /* -1: not checked */
} expect;

static void check_config(const char *dir, const expect *x) {
  model_arch a;
  nvae_err err = {0};
  CHECK(model_arch_preset(x->cfg, &a, &err) == 0, "preset %s: %s", x->cfg, err.msg);
  registry r;
  int rc = model_registry_build(&a, &r, &err);
  CHECK(rc == 0, "%s: build failed: %s", x->cfg, err.msg);
  if (rc) return;

  char path[1200];
  snprintf(path, sizeof path, "%s/%s.txt", dir, x->cfg);
  ref_list ref;
  if (read_list(path, &ref) == 0) {
    compare_with_list(x->cfg, &r, &ref);
    CHECK(ref.hdr_params == r.param_count && ref.hdr_tensors == r.n_params &&
              ref.hdr_entries == r.n_tensors,
          "%s: header says %lld parameters in %lld tensors, %lld entries; we have %lld in %d, %d",
          x->cfg, ref.hdr_params, ref.hdr_tensors, ref.hdr_entries, (long long)r.param_count,
          r.n_params, r.n_tensors);
  }
  free(ref.e);

  CHECK(r.param_count == x->params, "%s: %lld parameters, want %lld", x->cfg,
        (long long)r.param_count, x->params);
  CHECK(r.n_params == x->p_tensors, "%s: %d parameter tensors, want %d", x->cfg, r.n_params,
        x->p_tensors);
  if (x->entries >= 0)
    CHECK(r.n_tensors == x->entries, "%s: %d entries, want %d", x->cfg, r.n_tensors, x->entries);
  if (x->convs >= 0)
    CHECK(r.n_convs == x->convs, "%s: %d conv layers, want %d", x->cfg, r.n_convs, x->convs);
  if (x->bns >= 0) CHECK(r.n_bns == x->bns, "%s: %d BN layers, want %d", x->cfg, r.n_bns, x->bns);
  if (x->groups >= 0)
    CHECK(r.n_groups == x->groups, "%s: %d groups, want %d", x->cfg, r.n_groups, x->groups);
  check_invariants(x->cfg, &r);
  registry_free(&r);
}

/* CelebA-64 in detail: the breakdown of NVAE.md §5.3. */
static void check_celeba_layers(void) {
  model_arch a;
  registry r;
  nvae_err err = {0};
  model_arch_preset("celeba64", &a, &err);
  CHECK(model_registry_build(&a, &r, &err) == 0, "celeba64: %s", err.msg);
  int wn3 = 0, wn1 = 0, skip_up = 0, plain1 = 0, dw5 = 0, ar[3] = {0, 0, 0}, fused = 0, se = 0;
  for (int i = 0; i < r.n_convs; i++) {
    const reg_conv *c = &r.convs[i];
    if (c->kind == REG_CONV_WN && c->k == 3 && c->bias >= 0) wn3++;
    if (c->kind == REG_CONV_WN && c->k == 1 && c->bias >= 0) wn1++;
    if (c->kind == REG_CONV_WN && c->k == 1 && c->bias < 0) skip_up++;
    if (c->kind == REG_CONV_PLAIN && c->k == 1) plain1++;
    if (c->kind == REG_CONV_PLAIN && c->k == 5 && c->groups == c->cin) dw5++;
    if (c->kind == REG_CONV_AR) ar[c->k == 3 ? 0 : c->k == 5 ? 1 : 2]++;
  }
  CHECK(wn3 == 185 && wn1 == 116 && skip_up == 3 && plain1 == 144 && dw5 == 72,
        "celeba64 ordinary convs: %d 3x3, %d 1x1, %d up-skips, %d plain 1x1, %d dw5x5", wn3, wn1,
        skip_up, plain1, dw5);
  CHECK(ar[0] == 70 && ar[1] == 70 && ar[2] == 70, "celeba64 AR convs %d %d %d", ar[0], ar[1],
        ar[2]);
  for (int i = 0; i < r.n_bns; i++)
    fused += r.bns[i].fused_swish;
  CHECK(fused == 292, "celeba64: %d fused BN+Swish, want 292", fused);
  for (int i = 0; i < r.n_tensors; i++)
    se += r.tensors[i].role == REG_ROLE_SE_WEIGHT;
  CHECK(se == 292, "celeba64: %d SE linear layers, want 292", se);

  /* Groups in decoder order: 5 × (20,8,8), 10 × (20,16,16), 20 × (20,32,32). */
  int64_t latents = 0;
  for (int k = 0; k < r.n_groups; k++) {
    const reg_group *g = &r.groups[k];
    int s = k < 5 ? 0 : k < 15 ? 1 : 2;
    CHECK(g->scale == s && g->c == 20 && g->h == (8 << s) && g->w == (8 << s),
          "celeba64 group %d: scale %d [%d,%d,%d]", k, g->scale, g->c, g->h, g->w);
    latents += (int64_t)g->c * g->h * g->w;
  }
  CHECK(latents == 467200, "celeba64: %lld latent variables", (long long)latents);
  /* Pairing (NVAE.md §1.5): group 1 reads the slot after encoder group N−2 = 33, the last slot;
   * the last decoder group reads the first slot, enc_tower.2.conv. */
  CHECK(strcmp(r.convs[r.groups[34].enc_combiner].name, "enc_tower.2.conv") == 0,
        "celeba64: last group reads %s", r.convs[r.groups[34].enc_combiner].name);
  CHECK(strcmp(r.convs[r.groups[0].nf_first].name, "nf_cells.0.cell1.conv.convz.0") == 0 &&
            strcmp(r.convs[r.groups[34].nf_first].name, "nf_cells.34.cell1.conv.convz.0") == 0,
        "celeba64: flow cells of groups");
  int mu = registry_find(&r, "nf_cells.3.cell2.mu.conv_0.weight");
  CHECK(mu >= 0 && r.convs[r.tensors[mu].layer].mirror == 1 &&
            r.convs[r.tensors[mu].layer].zero_diag == 0 &&
            r.convs[r.tensors[mu].layer].log_norm_init_scale == 0.1f,
        "celeba64: AR mu conv flags");
  int z0 = registry_find(&r, "nf_cells.3.cell1.conv.convz.0.weight");
  CHECK(z0 >= 0 && r.convs[r.tensors[z0].layer].mirror == 0 &&
            r.convs[r.tensors[z0].layer].zero_diag == 1,
        "celeba64: AR first conv flags");

  /* Lookup and views. */
  CHECK(registry_find(&r, "prior_ftr0") == 0 && registry_find(&r, "stem.weight") == 1,
        "celeba64: first entries");
  CHECK(registry_find(&r, "no.such.tensor") == -1 && registry_find(&r, "") == -1,
        "celeba64: unknown names");
  int al = registry_find(&r, "dec_tower.1._ops.0.conv.3.weight_normalized");
  CHECK(al >= 0 && r.tensors[al].kind == REG_ALIAS &&
            r.tensors[al].target == registry_find(&r, "dec_tower.1._ops.0.conv.3.weight"),
        "celeba64: alias target");
  float *arena = calloc((size_t)r.param_arena_numel, sizeof(float));
  int sw = registry_find(&r, "stem.weight");
  tensor v = registry_view(&r, sw, arena);
  CHECK(v.ndim == 4 && v.shape[0] == 64 && v.shape[1] == 3 && v.shape[2] == 3 && v.shape[3] == 3 &&
            (float *)v.data == arena + r.tensors[sw].offset,
        "celeba64: view of stem.weight");
  free(arena);

  /* The start-up table mentions the totals. */
  FILE *f = tmpfile();
  registry_print_summary(&r, &a, f);
  rewind(f);
  char buf[8192];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  CHECK(strstr(buf, "153281364") && strstr(buf, " 730 ") && strstr(buf, " 436 ") &&
            strstr(buf, "5 x [20, 8, 8]"),
        "celeba64 summary:\n%s", buf);
  registry_free(&r);
}

/* CIFAR-10 (NVAE.md §5.4, verified there by instantiation): not in the lists, counts only. */
static void check_cifar10_counts(void) {
  model_arch a;
  nvae_err err = {0};
  model_arch_preset("celeba64", &a, &err);
  a.num_channels_enc = a.num_channels_dec = 128;
  a.num_latent_scales = 1;
  a.num_groups_per_scale = 30;
  a.image_size = 32;
  registry r;
  CHECK(model_registry_build(&a, &r, &err) == 0, "cifar10: %s", err.msg);
  CHECK(r.param_count == 130852480 && r.n_convs == 610 && r.n_bns == 364 && r.n_groups == 30,
        "cifar10: %lld params, %d convs, %d BN, %d groups", (long long)r.param_count, r.n_convs,
        r.n_bns, r.n_groups);
  check_invariants("cifar10", &r);
  registry_free(&r);
}

static void check_arch(void) {
  model_arch a;
  nvae_err err = {0};
  int g[MODEL_ARCH_MAX_SCALES];
  model_arch_preset("celeba64", &a, &err);
  CHECK(model_arch_groups_per_scale(&a, g) == 35 && g[0] == 20 && g[1] == 10 && g[2] == 5,
        "celeba64 groups [%d,%d,%d]", g[0], g[1], g[2]);
  CHECK(model_arch_head_channels(&a) == 100, "celeba64 head");
  /* CelebA-HQ-256: S=5, G=16, ada, min 4 -> [16,8,4,4,4]. */
  a.num_latent_scales = 5;
  a.num_groups_per_scale = 16;
  a.min_groups_per_scale = 4;
  CHECK(model_arch_groups_per_scale(&a, g) == 36 && g[0] == 16 && g[1] == 8 && g[2] == 4 &&
            g[3] == 4 && g[4] == 4,
        "celeba256 groups [%d,%d,%d,%d,%d]", g[0], g[1], g[2], g[3], g[4]);
  a.ada_groups = 0;
  CHECK(model_arch_groups_per_scale(&a, g) == 80 && g[4] == 16, "no ada groups");

  model_arch_preset("mnist", &a, &err);
  CHECK(model_arch_groups_per_scale(&a, g) == 15 && g[0] == 10 && g[1] == 5, "mnist groups");
  CHECK(model_arch_head_channels(&a) == 1, "mnist head (Bernoulli)");
  a.decoder = MODEL_DECODER_DMOL;
  CHECK(model_arch_head_channels(&a) == 30, "gray DMOL head: 3M");
  a.decoder = MODEL_DECODER_NORMAL;
  CHECK(model_arch_head_channels(&a) == 2, "gray Normal head");
  a.image_channels = 3;
  CHECK(model_arch_head_channels(&a) == 6, "RGB Normal head");

  /* Every preset validates; each broken field is named in the message. */
  for (int i = 0; model_arch_preset_names[i]; i++) {
    CHECK(model_arch_preset(model_arch_preset_names[i], &a, &err) == 0 &&
              model_arch_validate(&a, &err) == 0,
          "preset %s: %s", model_arch_preset_names[i], err.msg);
  }
  CHECK(model_arch_preset("cifar", &a, &err) == NVAE_EXIT_USAGE && strstr(err.msg, "cifar"),
        "unknown preset: %s", err.msg);

  model_arch_preset("celeba64", &a, &err);
  a.image_size = 60; /* not divisible by 2^(1+3-1) = 8 */
  CHECK(model_arch_validate(&a, &err) == NVAE_EXIT_USAGE && strstr(err.msg, "divisible by"),
        "image size 60: %s", err.msg);
  registry r;
  CHECK(model_registry_build(&a, &r, &err) == NVAE_EXIT_USAGE && r.n_tensors == 0,
        "build refuses an invalid arch");
  registry_free(&r);
  model_arch_preset("celeba64", &a, &err);
  a.num_postprocess_blocks = 2;
  CHECK(model_arch_validate(&a, &err) == NVAE_EXIT_USAGE &&
            strstr(err.msg, "num_postprocess_blocks"),
        "post != pre: %s", err.msg);
  model_arch_preset("celeba64", &a, &err);
  a.num_latent_scales = 1;
  a.num_groups_per_scale = 1;
  CHECK(model_arch_validate(&a, &err) == NVAE_EXIT_USAGE && strstr(err.msg, "vanilla"),
        "vanilla VAE: %s", err.msg);
  model_arch_preset("mnist", &a, &err);
  a.image_channels = 2;
  CHECK(model_arch_validate(&a, &err) == NVAE_EXIT_USAGE && strstr(err.msg, "channels"),
        "2 channels: %s", err.msg);
  model_arch_preset("mnist", &a, &err);
  a.num_cell_per_cond_enc = 0;
  CHECK(model_arch_validate(&a, &err) == NVAE_EXIT_USAGE &&
            strstr(err.msg, "model.num_cell_per_cond_enc"),
        "0 cells: %s", err.msg);

  model_decoder d;
  CHECK(model_decoder_parse("bernoulli", &d, &err) == 0 && d == MODEL_DECODER_BERNOULLI,
        "parse bernoulli");
  CHECK(model_decoder_parse("logistic", &d, &err) == NVAE_EXIT_USAGE, "parse unknown decoder");
}

/* registry_finish refuses a duplicate name; shapes print like the lists. */
static void check_registry_basics(void) {
  registry r;
  nvae_err err = {0};
  registry_init(&r);
  registry_add_param(&r, "a.weight", REG_ROLE_WN_WEIGHT, 4, (const int64_t[]){8, 3, 3, 3}, 0);
  registry_add_buffer(&r, "a.n", REG_ROLE_BN_NUM_BATCHES, 0, NULL, REG_F_I64);
  registry_add_param(&r, "a.bias", REG_ROLE_CONV_BIAS, 1, (const int64_t[]){8}, 0);
  CHECK(registry_finish(&r, &err) == 0, "finish: %s", err.msg);
  char s[64];
  CHECK(strcmp(reg_shape_str(&r.tensors[0], s, sizeof s), "8x3x3x3") == 0, "shape str %s", s);
  CHECK(strcmp(reg_shape_str(&r.tensors[1], s, sizeof s), "scalar") == 0, "scalar str %s", s);
  CHECK(r.tensors[2].offset == 224 && r.param_arena_numel == 240 && r.param_count == 224,
        "aligned offsets: bias at %lld, arena %lld", (long long)r.tensors[2].offset,
        (long long)r.param_arena_numel);
  CHECK(registry_find(&r, "a.bias") == 2 && registry_find(&r, "a.n") == 1, "find");
  registry_add_param(&r, "a.bias", REG_ROLE_CONV_BIAS, 1, (const int64_t[]){8}, 0);
  CHECK(registry_finish(&r, &err) == NVAE_EXIT_USAGE && strstr(err.msg, "a.bias"), "duplicate: %s",
        err.msg);
  registry_free(&r);
}

int main(int argc, char **argv) {
  char dir[1024];
  const char *src = getenv("NVAE_SOURCE_DIR");
  if (argc > 1)
    snprintf(dir, sizeof dir, "%s", argv[1]);
  else
    snprintf(dir, sizeof dir, "%s/tests/data/state_dict", src ? src : ".");

  const expect configs[] = {
      {"tiny", 98724, 227, 338, -1, -1, 3},
      {"tiny-nf", 108420, 269, 380, -1, -1, 3},
      {"mnist", 33363134, 1269, 2016, 255, 214, 15},
      {"celeba64", 153281364, 3072, 4596, 730, 436, 35},
  };
  for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++)
    check_config(dir, &configs[i]);
  check_celeba_layers();
  check_cifar10_counts();
  check_arch();
  check_registry_basics();
  return test_finish("test_registry");
}
