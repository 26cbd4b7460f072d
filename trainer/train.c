/* The training loop (train.h): set-up (data, model, optimizer, run directory), the steps,
 * validation, images and the final model.h5. */
#define _POSIX_C_SOURCE 200809L
#include "trainer/train.h"
#include "kernels/base/clock.h"

#include "dataset/loader.h"
#include "kernels/backend.h"
#include "trainer/batch_prep.h"
#include "trainer/ckpt.h"
#include "trainer/crc32c.h"
#include "trainer/evaluate.h"
#include "trainer/grad_buckets.h"
#include "trainer/model_io.h"
#include "trainer/model_registry.h"
#include "trainer/run_dir.h"
#include "trainer/schedule.h"
#include "trainer/train_progress.h"
#include "trainer/train_fault.h"
#include "trainer/train_log.h"
#include "trainer/train_optim.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const double MIB = 1.0 / (1024.0 * 1024.0);

int train_uses_cuda(const nvae_config *cfg) {
  if (cfg->device == NVAE_DEVICE_CUDA) return 1;
  return cfg->device == NVAE_DEVICE_AUTO && op_device_count(DEVICE_CUDA) > 0;
}

int train_make_ctx(const nvae_config *cfg, int gpu, op_ctx *ctx, nvae_err *e) {
  char msg[256];
  if (op_ctx_for_device(train_uses_cuda(cfg) ? DEVICE_CUDA : DEVICE_CPU, gpu, ctx, msg,
                        sizeof msg))
    return nvae_errf(e, NVAE_EXIT_USAGE, "%s", msg);
  ctx->deterministic = cfg->train.deterministic;
  return 0;
}

/* The training loader; its errors (missing or invalid dataset, too small for one global batch)
 * are usage errors naming the dataset. */
static void *pinned_alloc(size_t bytes, void *ops) {
  return ((const op_backend *)ops)->host_alloc(bytes);
}
static void pinned_free(void *p, void *ops) { ((const op_backend *)ops)->host_free(p); }

/* ctx: NULL, or the context whose backend's pinned memory holds the batches (their upload is then
 * a queued copy). */
static int open_train_loader(const nvae_config *cfg, const train_comm *c, const op_ctx *ctx,
                             loader **l, nvae_err *e) {
  if (!cfg->data.path_set)
    return nvae_errf(e, NVAE_EXIT_USAGE,
                     "data.path is not set: give the dataset directory written by nvae-prep "
                     "(data.path=DIR)");
  loader_opts lo;
  loader_opts_default(&lo);
  lo.path = cfg->data.path;
  lo.split = cfg->data.split_train;
  lo.rank = c->rank;
  lo.world_size = c->world;
  lo.batch_size = cfg->train.batch_size;
  lo.seed = (uint64_t)cfg->train.seed;
  lo.shuffle = 1;
  lo.drop_last = 1;
  lo.pad_to = config_model_loader_pad(cfg);
  if (ctx) lo.allocator = (loader_allocator){pinned_alloc, pinned_free, (void *)ctx->ops};
  /* flips need the channel count, which only the dataset knows: open once to read it */
  lo.flip = 0;
  nvae_err le = {0};
  if (loader_open(l, &lo, &le))
    return nvae_errf(e, NVAE_EXIT_USAGE, "data.path: %s", le.msg);
  loader_info li = loader_get_info(*l);
  if (config_model_flip(cfg, li.channels)) {
    loader_close(*l);
    lo.flip = 1;
    if (loader_open(l, &lo, &le)) return nvae_errf(e, NVAE_EXIT_USAGE, "data.path: %s", le.msg);
  }
  return 0;
}

/* The collectives of one training step at world size > 1 (DESIGN.md §3), predicted from the
 * registry: sync-BN reduces 2C+1 doubles per BN layer in forward (Σx, Σx², count) and in backward
 * (Σdy, Σdy·x̂, count); the gradient arena goes in buckets of comm.bucket_mb; global KL balancing
 * reduces N+1 doubles while β < 1; the non-finite flag is one double. Log steps add a few small
 * ones, validation its own. perf.json reports what was measured. */
typedef struct comm_plan {
  int bn_layers, buckets, kl_groups;
  double collectives, bytes; /* with KL balancing on (the warm-up) */
} comm_plan;

static comm_plan comm_plan_of(const nvae_config *cfg, const registry *r, const train_comm *c) {
  comm_plan p = {0};
  double bn_bytes = 0;
  if (cfg->train.sync_bn) {
    p.bn_layers = r->n_bns;
    for (int i = 0; i < r->n_bns; i++)
      bn_bytes += 2.0 * (2 * r->bns[i].channels + 1) * sizeof(double);
  }
  grad_buckets gb;
  grad_buckets_init(&gb, r, NULL, cfg->comm.bucket_mb * 1024.0 * 1024.0, c);
  p.buckets = gb.n;
  grad_buckets_free(&gb);
  const int kl = cfg->train.kl_balance && cfg->train.kl_balance_scope == NVAE_KL_SCOPE_GLOBAL &&
                 (!cfg->train.kl_beta_set || cfg->train.kl_beta < 1.0);
  p.kl_groups = kl ? r->n_groups : 0;
  p.collectives = 2.0 * p.bn_layers + p.buckets + (kl ? 1 : 0) + 1;
  p.bytes = bn_bytes + (double)r->param_arena_numel * sizeof(float) +
            (kl ? (r->n_groups + 1.0) * sizeof(double) : 0) + sizeof(double);
  return p;
}

static void comm_plan_print(const comm_plan *p, double bucket_mb, int world) {
  printf("collectives      per step at world size %d%s: %.0f = 2 x %d sync-BN layers + %d "
         "gradient buckets (~%.0f MiB) + %d KL balancing (while beta < 1) + 1 non-finite flag; %.1f MB per rank\n",
         world, world > 1 ? "" : " (when run with more ranks)", p->collectives, p->bn_layers,
         p->buckets, bucket_mb, p->kl_groups ? 1 : 0, p->bytes / 1e6);
}

/* --dry-run: the plan and the start-up table, without allocating any arena: the registry gives
 * the parameter, gradient, buffer and optimizer sizes, and the plan (built without memory) the
 * activation arena for the batch. That is how the CelebA-64 model is inspected on a CPU machine. */
static int dry_run(const nvae_config *cfg, const train_opts *o, nvae_err *e) {
  if (o->comm.rank != 0) return 0; /* under mpirun: one table, from rank 0 */
  loader *l = NULL;
  data_shape d;
  int64_t ipe = 0;
  nvae_err le = {0};
  if (open_train_loader(cfg, &o->comm, NULL, &l, &le) == 0) {
    loader_info li = loader_get_info(l);
    d = (data_shape){li.channels, li.src_height, li.src_width};
    ipe = li.batches_per_epoch;
    printf("dataset          %s split %s: %lld images %dx%dx%d, %lld steps per epoch\n",
           cfg->data.path, cfg->data.split_train, (long long)li.n, li.channels, li.src_height,
           li.src_width, (long long)ipe);
    loader_close(l);
  } else {
    d = config_model_assumed_shape(cfg);
    printf("dataset          not opened (%s)\n                 assuming %dx%dx%d images\n",
           le.msg, d.channels, d.height, d.width);
  }
  model_geometry g;
  model_arch arch;
  if (config_model_geometry(cfg, &d, &g, e) || config_model_arch(cfg, &g, &arch, e))
    return e->code;
  registry reg;
  if (model_registry_build(&arch, &reg, e)) {
    registry_free(&reg);
    return e->code;
  }
  const registry *r = &reg;
  registry_print_summary(r, &arch, stdout);
  comm_plan cp = comm_plan_of(cfg, r, &o->comm);
  comm_plan_print(&cp, cfg->comm.bucket_mb, o->comm.world);
  double ff, fb;
  if (model_estimate_flops(&arch, &ff, &fb) == 0)
    printf("conv FLOPs       %.2f GFLOP per image forward, %.2f forward + backward (plan count; "
           "other ops not counted)\n",
           ff / 1e9, (ff + fb) / 1e9);
  const int B = cfg->train.batch_size;
  const double per_image =
      (double)model_estimate_activation_bytes(&arch, B) * MIB / (B > 0 ? B : 1);
  const double params = (double)r->param_arena_numel * sizeof(float) * MIB;
  const double optim = (double)train_optim_bytes(r->param_arena_numel) * MIB;
  const double bufs = (double)(r->buffer_arena_numel * 4 + r->counter_arena_numel * 8 +
                               r->sr_vector_numel * 4) *
                      MIB;
  printf("optimizer state  %10.1f MiB (%s: 2 x parameters)\n", optim,
         cfg->optim.name == NVAE_OPTIM_ADAM ? "adam" : "adamax");
  printf("per rank, batch %d: parameters %.1f + gradients %.1f + optimizer %.1f + buffers %.1f + "
         "activations ~%.1f (%d x %.2f per image) = ~%.1f MiB\n",
         B, params, params, optim, bufs, per_image * B, B, per_image,
         2 * params + optim + bufs + per_image * B);
  if (ipe > 0) {
    sched s;
    sched_init(&s, cfg, ipe);
    printf("schedule         %lld steps (%lld epochs x %lld), warm-up %lld steps, global batch "
           "%d\n",
           (long long)s.total_steps, (long long)s.epochs, (long long)ipe,
           (long long)s.warmup_steps, B * o->comm.world);
  }
  registry_free(&reg);
  return 0;
}

/* Rank 0's values of an arena on every rank. Device arenas go through host memory: this runs
 * once, at start-up, so the staging costs nothing that matters. */
static void bcast_arena(const train_comm *c, op_ctx *ctx, float *arena, int64_t n) {
  if (c->world <= 1 || !c->broadcast_f32 || n <= 0) return;
  if (ctx->device == DEVICE_CPU) {
    train_comm_bcast(c, arena, (long long)n);
    return;
  }
  float *h = nvae_malloc((size_t)n * sizeof(float));
  ctx->ops->to_host(ctx, h, arena, (size_t)n * sizeof(float));
  train_comm_bcast(c, h, (long long)n);
  ctx->ops->from_host(ctx, arena, h, (size_t)n * sizeof(float));
  free(h);
}

/* Adapter: the model's cross-rank hooks are the trainer's (the device one for device memory). */
static void model_hooks_from_comm(const train_comm *c, const op_ctx *ctx, model_options *mo) {
  if (c->world > 1 && c->allreduce_sum) {
    mo->hooks.allreduce_sum = c->allreduce_sum;
    mo->hooks.arg = c->arg;
    if (ctx->device != DEVICE_CPU) mo->hooks.allreduce_sum_dev = c->allreduce_sum_dev;
  }
}

/* An error on this rank only (I/O on rank 0, a read error in one rank's loader, ...): the other
 * ranks would wait in their next collective, so with world > 1 the job ends here through the
 * abort hook ("[rank r/N host] msg", exit code rc on every rank). Returns rc at world size 1. */
static int fail_alone(const train_comm *c, int rc, const nvae_err *e) {
  if (c->world > 1 && c->abort) c->abort(c->arg, rc ? rc : NVAE_EXIT_RUNTIME, e->msg);
  return rc;
}

/* Set-up checks (before the first step): every rank learns whether any rank failed, with one
 * collective per check that every rank issues in the same order. When every rank failed (the same
 * config and dataset: the usual case) each returns its error; nvae-train prints it once (rank 0)
 * and every rank exits with its code. When only some failed, those end the job through the abort
 * hook with their message, and the others wait for that abort (and abort themselves after 60 s).
 * So a nonzero return always means this rank failed. */
static int setup_agree(const train_comm *c, int rc, nvae_err *e) {
  if (c->world <= 1 || !c->allreduce_sum) return rc;
  double failed = rc != 0;
  c->allreduce_sum(c->arg, &failed, 1);
  if (failed == 0) return 0;
  if (failed == (double)c->world) return rc;
  if (rc) return fail_alone(c, rc, e);
  sleep(60); /* the failing rank's abort ends this process first */
  nvae_errf(e, NVAE_EXIT_RUNTIME, "set-up failed on another rank, which did not end the job");
  return fail_alone(c, NVAE_EXIT_RUNTIME, e);
}

static int validate(const nvae_config *cfg, const train_opts *o, model *m, op_ctx *ctx,
                    const model_geometry *g, run_dir *rd, int64_t step, int64_t epoch,
                    nvae_err *e) {
  evaluate_opts eo = {cfg->data.path,
                      cfg->data.split_valid,
                      cfg->train.batch_size,
                      cfg->eval.iw_samples,
                      cfg->eval.max_images,
                      (uint64_t)cfg->train.seed,
                      (uint32_t)step,
                      config_model_loader_pad(cfg),
                      cfg->model.num_x_bits,
                      cfg->data.binarize == NVAE_BINARIZE_DYNAMIC};
  evaluate_result r;
  if (evaluate_run(m, ctx, &eo, g, &o->comm, &r, e)) return e->code;
  return train_log_validation(rd, step, epoch, &r, cfg->model.decoder == NVAE_DECODER_BERNOULLI,
                              e);
}

/* model_hooks.grad_ready → the gradient buckets, with the NVAE_FAULT "nan" injection on the way:
 * the first tensor reported in the step gets a NaN before its bucket is averaged. */
typedef struct grad_ready_relay {
  grad_buckets *gb;
  float *grads;
  op_ctx *ctx;
  int poison;
} grad_ready_relay;

static void grad_poison(op_ctx *ctx, float *at, grad_ready_relay *r) {
  const float nan = NAN;
  ctx->ops->from_host(ctx, at, &nan, sizeof nan);
  r->poison = 0;
}

static void grad_ready_forward(void *arg, int64_t offset, int64_t numel) {
  grad_ready_relay *r = arg;
  if (r->poison) grad_poison(r->ctx, r->grads + offset, r);
  grad_buckets_ready(r->gb, offset, numel);
}

/* Where a step's time goes (DESIGN.md §3; the scaling study reads perf.json): data = loader and
 * batch preparation, compute = forward + backward (the gradient average overlaps it; the part of
 * the communication it could not hide is the wait at its end), optimizer = check, clip, update;
 * comm = seconds blocked in collectives (sync-BN, bucket waits, flags). The first
 * TIMING_WARMUP_STEPS steps are left out (first-touch allocation, the 40 power iterations). */
enum { TIMING_WARMUP_STEPS = 2 };
typedef struct step_timing {
  int64_t steps;
  double wall, data, compute, optim, comm, collectives, bytes;
} step_timing;

static void step_timing_add(step_timing *t, int64_t step, double data, double compute,
                            double optim, double comm, double collectives, double bytes) {
  if (step < TIMING_WARMUP_STEPS) return;
  t->steps++;
  t->wall += data + compute + optim;
  t->data += data;
  t->compute += compute;
  t->optim += optim;
  t->comm += comm;
  t->collectives += collectives;
  t->bytes += bytes;
}

/* <run_dir>/perf.json from rank 0: per-step means over the timed steps, averaged over the ranks
 * (the wall time is the slowest rank's), the collectives and bytes per step, and images/s. */
static int write_perf(const train_comm *c, const step_timing *t, const char *run_dir, int batch,
                      nvae_err *e) {
  double v[6] = {t->data, t->compute, t->optim, t->comm, t->collectives, t->bytes};
  train_comm_sum(c, v, 6); /* the wall time stays rank 0's: the collectives pace every rank */
  if (c->rank != 0 || t->steps == 0) return 0;
  const double n = (double)t->steps, W = c->world;
  char path[NVAE_CFG_PATH_LEN + 32];
  snprintf(path, sizeof path, "%s/perf.json", run_dir);
  FILE *f = fopen(path, "w");
  if (!f) return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: cannot create: %s", path, strerror(errno));
  fprintf(f,
          "{\"world_size\": %d, \"batch_per_rank\": %d, \"timed_steps\": %lld, "
          "\"images_per_s\": %.3f, \"step_ms\": %.3f, \"data_ms\": %.3f, \"compute_ms\": %.3f, "
          "\"optimizer_ms\": %.3f, \"comm_ms\": %.3f, \"collectives_per_step\": %.2f, "
          "\"comm_bytes_per_step\": %.0f}\n",
          c->world, batch, (long long)t->steps, n * batch * W / t->wall, 1e3 * t->wall / n,
          1e3 * v[0] / (n * W), 1e3 * v[1] / (n * W), 1e3 * v[2] / (n * W), 1e3 * v[3] / (n * W),
          v[4] / (n * W), v[5] / (n * W));
  if (fclose(f) != 0)
    return nvae_errf(e, NVAE_EXIT_RUNTIME, "%s: write failed: %s", path, strerror(errno));
  printf("timing           %.1f ms per step over %lld steps: data %.1f, compute %.1f (comm "
         "blocked %.1f), optimizer %.1f; %.0f collectives and %.2f MB per step per rank; "
         "%.1f images/s\n",
         1e3 * t->wall / n, (long long)t->steps, 1e3 * v[0] / (n * W), 1e3 * v[1] / (n * W),
         1e3 * v[3] / (n * W), 1e3 * v[2] / (n * W), v[4] / (n * W), v[5] / (n * W) / 1e6,
         n * batch * W / t->wall);
  return 0;
}

/* An in-place sum across ranks of n doubles in device memory, queued on ctx's stream (NCCL) or,
 * for host memory (the CPU backend), through the host hook. */
static void sum_dev(const train_comm *c, op_ctx *ctx, double *dev, int n) {
  if (c->world <= 1) return;
  if (ctx->device != DEVICE_CPU) {
    NVAE_ASSERT(c->allreduce_sum_dev, "device sums at world size %d need allreduce_sum_dev",
                c->world);
    c->allreduce_sum_dev(c->arg, dev, n, ctx->stream);
  } else {
    train_comm_sum(c, dev, n);
  }
}

/* NVAE_FAULT nanloss: this rank's loss becomes NaN after the step, and counts as non-finite
 * (test only; waits for the device). */
static void loss_poison(op_ctx *ctx, double *v) {
  double h[STEPV_BAD + 1];
  ctx->ops->to_host(ctx, h, v, sizeof h);
  h[STEPV_LOSS] = NAN;
  h[STEPV_BAD] += 1.0;
  ctx->ops->from_host(ctx, v, h, sizeof h);
}

/* Every comm.param_check_every_steps: all ranks must hold bit-identical parameters (they start
 * from rank 0's and apply the same averaged update). Each rank contributes the CRC-32C of its
 * parameter arena in its own slot of a W-vector summed across ranks, so every rank learns every
 * hash and the error names the first rank that differs from rank 0. Agreed: all ranks fail
 * together. */
static int check_params_agree(const train_comm *c, op_ctx *ctx, model *m, int64_t step,
                              nvae_err *e) {
  if (c->world <= 1 || !c->allreduce_sum) return 0;
  const registry *r = model_registry(m);
  size_t bytes = (size_t)r->param_arena_numel * sizeof(float);
  float *host = nvae_malloc(bytes ? bytes : 1);
  ctx->ops->to_host(ctx, host, model_params(m), bytes);
  const uint32_t h = crc32c(host, bytes);
  free(host);
  double *all = nvae_calloc((size_t)c->world, sizeof(double));
  all[c->rank] = (double)h;
  c->allreduce_sum(c->arg, all, c->world);
  int rc = 0;
  for (int k = 1; k < c->world && !rc; k++)
    if (all[k] != all[0])
      rc = nvae_errf(e, NVAE_EXIT_RUNTIME,
                     "parameters differ across ranks at step %lld: rank %d has crc32c %08x, rank "
                     "0 has %08x (a rank diverged: non-deterministic reduction or memory fault)",
                     (long long)step, k, (uint32_t)all[k], (uint32_t)all[0]);
  free(all);
  return rc;
}

int train_run(const nvae_config *cfg, const train_opts *o, nvae_err *e) {
  if (o->dry_run) return dry_run(cfg, o, e);
  const train_comm *comm = &o->comm;
  const int rank0 = comm->rank == 0;

  /* ---- bad input, all before the first step ---- */
  op_ctx ctx;
  if (setup_agree(comm, train_make_ctx(cfg, o->gpu, &ctx, e) ? NVAE_EXIT_USAGE : 0, e))
    return NVAE_EXIT_USAGE;
  loader *tl = NULL;
  if (setup_agree(comm, open_train_loader(cfg, comm, &ctx, &tl, e), e)) {
    op_ctx_free(&ctx);
    return e->code;
  }
  loader_info li = loader_get_info(tl);
  char vsplit[64];
  nvae_err ve = {0};
  int vrc = evaluate_pick_split(cfg->data.path, cfg->data.split_valid, vsplit, sizeof vsplit, &ve);
  if (vrc) nvae_errf(e, NVAE_EXIT_USAGE, "data.split_valid: %s", ve.msg);
  if (setup_agree(comm, vrc, e)) {
    loader_close(tl);
    op_ctx_free(&ctx);
    return e->code;
  }
  data_shape d = {li.channels, li.src_height, li.src_width};
  model_geometry g;
  model_arch arch;
  if (setup_agree(comm,
                  (config_model_geometry(cfg, &d, &g, e) || config_model_arch(cfg, &g, &arch, e))
                      ? NVAE_EXIT_USAGE
                      : 0,
                  e)) {
    loader_close(tl);
    op_ctx_free(&ctx);
    return NVAE_EXIT_USAGE;
  }
  const int B = cfg->train.batch_size;
  model_options mo;
  config_model_options(cfg, &g, B, &mo);
  model_hooks_from_comm(comm, &ctx, &mo);
  /* Gradient buckets all-reduced while backward runs (grad_buckets.h); world size 1: none. */
  grad_buckets gb = {0};
  /* host gradients: non-blocking MPI; device gradients: grads_dev on the compute stream */
  const int on_device = ctx.device != DEVICE_CPU;
  const int bucketed =
      comm->world > 1 && (on_device ? comm->grads_dev != NULL : comm->grads_start != NULL);
  NVAE_ASSERT(comm->world <= 1 || !on_device || bucketed,
              "device gradients at world size %d need train_comm.grads_dev", comm->world);
  grad_ready_relay relay = {&gb, NULL, &ctx, 0};
  if (bucketed) {
    mo.hooks.grad_ready = grad_ready_forward;
    mo.hooks.grad_ready_arg = &relay;
  }
  train_fault faults;
  if (setup_agree(comm, train_fault_parse(getenv("NVAE_FAULT"), &faults, e), e)) {
    loader_close(tl);
    op_ctx_free(&ctx);
    return e->code;
  }
  model *m = NULL;
  if (setup_agree(comm, model_create(&arch, &mo, &ctx, &m, e), e)) {
    loader_close(tl);
    op_ctx_free(&ctx);
    return e->code;
  }
  model_init_params(m, (uint64_t)cfg->train.seed);
  const registry *reg = model_registry(m);
  relay.grads = model_grads(m);
  if (bucketed) {
    grad_buckets_init(&gb, reg, model_grads(m), cfg->comm.bucket_mb * 1024.0 * 1024.0, comm);
    gb.device = on_device;
    gb.stream = ctx.stream;
  }
  /* Every rank starts from rank 0's parameters, BN statistics and SR vectors (the same seed gives
   * the same values anyway; this makes it so whatever initialisation did). Host arenas: the CPU
   * backend is the only one the trainer runs today. */
  bcast_arena(comm, &ctx, model_params(m), reg->param_arena_numel);
  bcast_arena(comm, &ctx, model_buffers(m), reg->buffer_arena_numel);
  bcast_arena(comm, &ctx, model_sr_vectors(m), reg->sr_vector_numel);
  train_optim opt;
  train_optim_init(&opt, cfg, &ctx, reg->param_arena_numel);
  sched s;
  sched_init(&s, cfg, li.batches_per_epoch);
  const int binary = cfg->model.decoder == NVAE_DECODER_BERNOULLI;

  run_dir rd;
  /* rank 0 alone creates and writes the run directory (run_dir.writer) */
  int rc = setup_agree(comm, run_dir_open(&rd, o->run_dir, cfg, comm->rank, e), e);
  if (rank0 && !rc) {
    printf("run directory    %s\n", o->run_dir);
    printf("dataset          %s split %s: %lld images %dx%dx%d (padded to %d), validation on "
           "'%s'\n",
           cfg->data.path, cfg->data.split_train, (long long)li.n, li.channels, li.src_height,
           li.src_width, g.size, vsplit);
    model_print_summary(m, stdout);
    printf("optimizer state  %10.1f MiB (%s)\n",
           (double)train_optim_bytes(reg->param_arena_numel) * MIB,
           cfg->optim.name == NVAE_OPTIM_ADAM ? "adam" : "adamax");
    printf("schedule         %lld steps (%lld per epoch), warm-up %lld steps, global batch %d "
           "on %d rank(s)\n",
           (long long)s.total_steps, (long long)li.batches_per_epoch, (long long)s.warmup_steps,
           B * comm->world, comm->world);
    if (bucketed) {
      printf("gradient buckets %d of about %.1f MiB (comm.bucket_mb), all-reduced during "
             "backward\n",
             gb.n, cfg->comm.bucket_mb);
      comm_plan cp = comm_plan_of(cfg, reg, comm);
      comm_plan_print(&cp, cfg->comm.bucket_mb, comm->world);
    }
    fflush(stdout);
  }

  const int64_t per = (int64_t)g.channels * g.size * g.size;
  float *x = nvae_malloc(sizeof(float) * (size_t)(per * B));
  uint32_t *keys = nvae_malloc(sizeof(uint32_t) * (size_t)B);
  batch_prep bp = {cfg->model.num_x_bits, cfg->data.binarize == NVAE_BINARIZE_DYNAMIC,
                   (uint64_t)cfg->train.seed};
  const uint64_t seed = (uint64_t)cfg->train.seed;
  const int64_t total = s.total_steps, ipe = li.batches_per_epoch;
  int64_t eval_every_epochs = cfg->eval.every_epochs_set ? cfg->eval.every_epochs
                                                          : (cfg->train.epochs <= 50 ? 1 : 20);
  const int n_img = B < 16 ? B : 16;
  train_progress L = {.cfg = cfg, .comm = comm, .m = m, .ctx = &ctx, .opt = &opt, .rd = &rd,
                  .total = total, .log_every = cfg->log.every_steps,
                  .group_every = cfg->log.every_steps * 10, /* per-group KL, less often */
                  .batch = B, .binary = binary, .rank0 = rank0};
  train_progress_reset_interval(&L);
  step_outcome_init(&L.outcome, &ctx, model_step_values_len(m));
  int64_t step = 0, last_eval = -1;
  int agreed = 0; /* rc is an error every rank took together (non-finite streak, set-up) */
  if (rc) agreed = 1;

  /* ---- checkpoints (ckpt.h): resume here, one call per step, one at the end ---- */
  ckpt_session *cks = NULL;
  const ckpt_refs ckr = {.cfg = cfg, .run_dir = o->run_dir, .comm = comm, .ctx = &ctx, .m = m,
                         .optim = &opt, .train_loader = tl, .geom = &g, .step = &step,
                         .skipped = &L.skipped, .streak = &L.streak, .last_eval = &last_eval,
                         .interval_sums = L.iv.sums,
                         .n_interval_sums = (int)(sizeof L.iv.sums / sizeof L.iv.sums[0]),
                         .interval_steps = &L.iv.steps, .interval_seconds = &L.iv.step_seconds,
                         .flush = train_progress_flush, .flush_arg = &L};
  if (!rc && (rc = ckpt_start(&cks, &ckr, o->resume, o->reshard, e))) agreed = 1;
  /* ---- end checkpoints ---- */

  /* One iteration queues step k on the device (forward, backward, gradient average, non-finite
   * count, gated update) and reads step k−1's outcome while step k runs; nothing in between waits
   * for the device (docs/gpu.md "One step on the device"). On the CPU every op is done when
   * queued, with the same decisions in the same order. */
  step_timing tm = {0};
  for (; step < total && !rc; step++) {
    if ((rc = ckpt_step(cks, e))) { /* checkpoint due, or a signal: 75 (ckpt.h) */
      agreed = L.flush_rc ? L.flush_agreed : 1;
      break;
    }
    const double t_step = nvae_now_s();
    double cs0[3], cs1[3];
    train_comm_stats(comm, cs0);
    const loader_batch *b = loader_next(tl, e);
    if (!b) {
      rc = e->code ? e->code : nvae_errf(e, NVAE_EXIT_RUNTIME, "the loader ended early");
      break;
    }
    const int64_t epoch = step / ipe;
    batch_prep_run(&bp, b, (uint32_t)step, 0, x, keys);
    const double t_data = nvae_now_s();
    const double beta = sched_kl_beta(&s, step), lambda = sched_lambda(&s, beta);
    const double lr = sched_lr(&s, step);
    const int64_t done_after = step + 1; /* per-group statistics only where they are logged */
    const int group_step = done_after % L.log_every == 0 &&
                           (done_after % L.group_every == 0 || done_after == L.log_every);
    model_objective ob = {beta, cfg->train.kl_balance, lambda, 4, !group_step};
    /* keys = the samples' positions in the GLOBAL batch (global_offset + j): rank r of W with
     * batch B holds positions [r·B, (r+1)·B) of the global batch of W·B */
    model_batch mb = {x, b->n, keys, seed, (uint32_t)step};
    step_info info = {.step = step, .epoch = epoch, .lr = lr, .beta = beta, .lambda = lambda,
                      .group_step = group_step};
    /* The local gradients are of the mean over the local batch; their average over the ranks is
     * the gradient of the mean over the global batch (sync-BN and global KL balancing make the
     * forward pass the global batch's). With buckets the averaging starts inside backward. */
    const fault_kind fault = train_fault_at(&faults, comm->rank, step + 1);
    relay.poison = fault == FAULT_NAN; /* into the first bucket, before it is averaged */
    if (bucketed) grad_buckets_begin_step(&gb);
    /* the losses are read back (a wait) only where per-group statistics are logged */
    model_train_step(m, &ctx, &mb, &ob, group_step ? &info.group : NULL);
    float *grads = model_grads(m);
    double *v = model_step_values(m);
    if (relay.poison) grad_poison(&ctx, grads, &relay); /* not bucketed: before the average */
    train_fault_act(fault, comm->rank, step + 1); /* kill, stall: test-only (NVAE_FAULT) */
    if (bucketed) grad_buckets_finish(&gb);
    else train_comm_grads(comm, grads, (long long)reg->param_arena_numel);
    if (fault == FAULT_NANLOSS) loss_poison(&ctx, v); /* after it: only this rank knows */
    /* Non-finite check: the same decision on every rank (counts summed across ranks). */
    train_optim_count_nonfinite(&ctx, grads, reg->param_arena_numel, v);
    sum_dev(comm, &ctx, v + STEPV_BAD, 1);
    const double t_backward = nvae_now_s();

    /* the previous step's outcome (the device finished it before this step's work) */
    if ((rc = train_progress_take(&L, e))) {
      agreed = L.flush_agreed;
      break;
    }
    train_optim_gate(&opt, &ctx, grads, v);
    train_optim_step(&opt, &ctx, model_params(m), grads, lr, v + STEPV_BAD);
    const double t_end = nvae_now_s();
    info.seconds = t_end - t_step;
    step_outcome_queue(&L.outcome, &ctx, v, &info);
    train_comm_stats(comm, cs1);
    step_timing_add(&tm, step, t_data - t_step, t_backward - t_data, t_end - t_backward,
                    cs1[0] - cs0[0], cs1[1] - cs0[1], cs1[2] - cs0[2]);
    if (cfg->comm.param_check_every_steps > 0 &&
        (step + 1) % cfg->comm.param_check_every_steps == 0 &&
        (rc = check_params_agree(comm, &ctx, m, step + 1, e))) {
      agreed = 1;
      break;
    }

    const int64_t done = step + 1;
    const int want_images = cfg->log.image_every_steps > 0 && done % cfg->log.image_every_steps == 0;
    const int epoch_end = done % ipe == 0;
    const int want_eval = done != total && (cfg->eval.every_steps_set
                                                ? done % cfg->eval.every_steps == 0
                                                : epoch_end && (done / ipe) % eval_every_epochs == 0);
    if ((want_images || want_eval) && (rc = train_progress_take(&L, e))) { /* log lines stay in order */
      agreed = L.flush_agreed;
      break;
    }
    if (!rc && want_images)
      rc = train_log_images(&rd, m, &ctx, &g, seed, done, x, keys, n_img, e);
    if (!rc && want_eval) {
      rc = validate(cfg, o, m, &ctx, &g, &rd, done, epoch, e);
      last_eval = done;
    }
  }
  if (!rc && (rc = train_progress_take(&L, e))) agreed = L.flush_agreed; /* the last step's outcome */

  /* ---- the end: validation, images, final/model.h5 ---- */
  if (!rc && (rc = ckpt_finish(cks, e))) agreed = 1; /* the final checkpoint */
  if (!rc && last_eval != step)
    rc = validate(cfg, o, m, &ctx, &g, &rd, step, (step - 1) / ipe, e);
  if (!rc && cfg->log.image_every_steps > 0 && step % cfg->log.image_every_steps != 0)
    rc = train_log_images(&rd, m, &ctx, &g, seed, step, x, keys, n_img, e);
  if (!rc) rc = write_perf(comm, &tm, o->run_dir, B, e);
  if (!rc && rank0) {
    char path[NVAE_CFG_PATH_LEN + 32];
    snprintf(path, sizeof path, "%s/final/model.h5", o->run_dir);
    model_state st = model_state_host(m, &ctx);
    model_io_info info = {step, (step - 1) / ipe, comm->world, g, MODEL_IO_FORMAT_VERSION};
    rc = model_io_save_state(path, &st, cfg, &info, e);
    model_state_host_free(&ctx, &st);
    if (!rc)
      printf("done: %lld steps, %.1f ms per step (training only), %lld skipped; model %s\n",
             (long long)step,
             step > L.skipped ? 1e3 * L.train_seconds / (double)(step - L.skipped) : 0.0,
             (long long)L.skipped, path);
  }
  if (rc && !agreed) fail_alone(comm, rc, e); /* never returns with world > 1 */
  free(x);
  free(keys);
  step_outcome_free(&L.outcome, &ctx);
  if (bucketed) grad_buckets_free(&gb);
  ckpt_close(cks);
  run_dir_close(&rd);
  train_optim_free(&opt, &ctx);
  loader_close(tl);
  model_free(m);
  op_ctx_free(&ctx);
  return rc;
}
