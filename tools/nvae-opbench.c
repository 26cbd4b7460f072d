/* nvae-opbench: times every op case flagged OPCASE_BENCH in the op-case table (tests/ops/op_case.h,
 * all families), forward and forward+backward, and with --torch PyTorch CPU on the same shapes
 * (tools/opbench_torch.py, run in the same invocation with the same thread count); prints one
 * table. A workbench, not a test: it checks nothing (test_ops_fd checks these cases).
 *
 *   nvae-opbench [--threads N] [--reps R] [--warmup W] [--torch] [FAMILY-SUBSTRING]
 *
 * --threads sets OpenMP's and OpenBLAS's thread counts (and torch.set_num_threads). Each time is
 * the median of R repetitions after W warm-up runs. Gradient buffers keep accumulating across
 * repetitions, as they would across a real backward's ops.
 */
#define _POSIX_C_SOURCE 200809L /* mkstemp, popen */

#include <cblas.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels/base/error.h"
#include "tests/ops/op_case.h"
#include "tests/test_util.h"

#ifndef NVAE_SOURCE_DIR
#define NVAE_SOURCE_DIR "."
#endif
#ifndef NVAE_TORCH_PYTHON
#define NVAE_TORCH_PYTHON "/usr/bin/python3"
#endif

typedef struct bench_opts {
  int threads, reps, warmup, torch;
  const char *only;
} bench_opts;

typedef struct bench_row {
  const op_case *c;
  double ours_fwd, ours_both; /* ms; < 0: not measured */
  double torch_fwd, torch_both;
} bench_row;

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The buffers of one case, filled as the op-case harness fills them. */
typedef struct bench_bufs {
  opcase_io io;
  float *in[OPCASE_MAX_IO], *out[OPCASE_MAX_IO], *dout[OPCASE_MAX_IO], *din[OPCASE_MAX_IO];
} bench_bufs;

static void bufs_make(const op_case *c, bench_bufs *b) {
  memset(b, 0, sizeof *b);
  c->describe(c, &b->io);
  for (int i = 0; i < b->io.n_in; i++) {
    const opcase_tensor *t = &b->io.in[i];
    int64_t n = opcase_numel(t);
    float lo = t->lo, hi = t->hi;
    if (lo == 0 && hi == 0) lo = -1, hi = 1;
    b->in[i] = nvae_aligned_alloc((size_t)n * sizeof(float));
    test_fill_uniform(b->in[i], n, lo, hi, 1234u, 100u + (uint32_t)i);
    if (t->integer)
      for (int64_t j = 0; j < n; j++)
        b->in[i][j] = floorf(b->in[i][j] + 0.5f);
    if (t->diff) b->din[i] = nvae_calloc((size_t)n, sizeof(float));
  }
  if (b->io.fixup_f32) b->io.fixup_f32(&b->io, b->in);
  for (int o = 0; o < b->io.n_out; o++) {
    int64_t n = opcase_numel(&b->io.out[o]);
    b->out[o] = nvae_calloc((size_t)n, sizeof(float));
    b->dout[o] = nvae_aligned_alloc((size_t)n * sizeof(float));
    test_fill_uniform(b->dout[o], n, -1, 1, 1234u, 200u + (uint32_t)o);
    if (!b->io.out[o].diff) memset(b->dout[o], 0, (size_t)n * sizeof(float));
  }
}

static void bufs_free(bench_bufs *b) {
  for (int i = 0; i < OPCASE_MAX_IO; i++) {
    nvae_free(b->in[i]);
    nvae_free(b->din[i]);
    nvae_free(b->out[i]);
    nvae_free(b->dout[i]);
  }
}

/* Median ms of forward (backward = 0) or forward + backward (backward = 1). */
static double time_case(const op_case *c, op_ctx *ctx, bench_bufs *b, int backward,
                        const bench_opts *o) {
  double *t = nvae_malloc((size_t)o->reps * sizeof(double));
  for (int r = -o->warmup; r < o->reps; r++) {
    double t0 = now_ms();
    c->forward(c, ctx, &b->io, b->in, b->out);
    if (backward) c->backward(c, ctx, &b->io, b->in, b->out, b->dout, b->din);
    if (r >= 0) t[r] = now_ms() - t0;
  }
  double m = median(t, o->reps);
  nvae_free(t);
  return m;
}

/* The cases for opbench_torch.py, one JSON object per line: index, family, label, ip, fp, and the
 * tensors describe() lists (shape, diff, init range). */
static void write_spec(FILE *f, const bench_row *rows, int n) {
  for (int k = 0; k < n; k++) {
    const op_case *c = rows[k].c;
    opcase_io io;
    memset(&io, 0, sizeof io);
    c->describe(c, &io);
    fprintf(f, "{\"index\": %d, \"family\": \"%s\", \"label\": \"%s\", \"ip\": [", k, c->family,
            c->label);
    for (int i = 0; i < 12; i++)
      fprintf(f, i ? ", %d" : "%d", c->ip[i]);
    fprintf(f, "], \"fp\": [");
    for (int i = 0; i < 4; i++)
      fprintf(f, i ? ", %.17g" : "%.17g", c->fp[i]);
    for (int side = 0; side < 2; side++) {
      const opcase_tensor *ts = side ? io.out : io.in;
      int nt = side ? io.n_out : io.n_in;
      fprintf(f, "], \"%s\": [", side ? "outputs" : "inputs");
      for (int i = 0; i < nt; i++) {
        const opcase_tensor *t = &ts[i];
        fprintf(f, "%s{\"name\": \"%s\", \"shape\": [", i ? ", " : "", t->name);
        for (int d = 0; d < t->ndim; d++)
          fprintf(f, d ? ", %lld" : "%lld", (long long)t->shape[d]);
        fprintf(f, "], \"diff\": %d, \"lo\": %g, \"hi\": %g, \"integer\": %d}", t->diff, t->lo,
                t->hi, t->integer);
      }
    }
    fprintf(f, "]}\n");
  }
}

/* Runs opbench_torch.py on the cases; fills torch_fwd / torch_both (negative where the script has
 * no PyTorch equivalent for a family). Returns 0 on success. */
static int run_torch(bench_row *rows, int n, const bench_opts *o) {
  char spec[] = "/tmp/nvae-opbench-XXXXXX";
  int fd = mkstemp(spec);
  if (fd < 0) return 1;
  FILE *f = fdopen(fd, "w");
  write_spec(f, rows, n);
  fclose(f);
  const char *py = getenv("NVAE_TORCH_PYTHON");
  const char *src = getenv("NVAE_SOURCE_DIR");
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "'%s' '%s/tools/opbench_torch.py' --threads %d --reps %d --warmup %d '%s'",
           py ? py : NVAE_TORCH_PYTHON, src ? src : NVAE_SOURCE_DIR, o->threads, o->reps, o->warmup,
           spec);
  fflush(stdout);
  FILE *p = popen(cmd, "r");
  if (!p) {
    remove(spec);
    return 1;
  }
  char line[256];
  while (fgets(line, sizeof line, p)) {
    int k;
    double fwd, both;
    if (sscanf(line, "%d %lf %lf", &k, &fwd, &both) == 3 && k >= 0 && k < n)
      rows[k].torch_fwd = fwd, rows[k].torch_both = both;
  }
  int st = pclose(p);
  remove(spec);
  if (st != 0) fprintf(stderr, "nvae-opbench: %s failed (status %d)\n", cmd, st);
  return st != 0;
}

static void print_ms(double ms) {
  if (ms < 0)
    printf(" %12s", "-");
  else
    printf(" %12.3f", ms);
}

static void print_table(const bench_row *rows, int n, const bench_opts *o) {
  printf("nvae-opbench: %d thread(s), median of %d after %d warm-up; ratio = ours/torch fwd+bwd\n",
         o->threads, o->reps, o->warmup);
  printf("%-50s %12s %12s %12s %12s %7s\n", "case", "ours fwd ms", "torch fwd ms", "ours f+b ms",
         "torch f+b ms", "ratio");
  for (int k = 0; k < n; k++) {
    char name[128];
    snprintf(name, sizeof name, "%s %s", rows[k].c->family, rows[k].c->label);
    printf("%-50.50s", name);
    print_ms(rows[k].ours_fwd);
    print_ms(rows[k].torch_fwd);
    print_ms(rows[k].ours_both);
    print_ms(rows[k].torch_both);
    if (rows[k].ours_both > 0 && rows[k].torch_both > 0)
      printf(" %7.2f\n", rows[k].ours_both / rows[k].torch_both);
    else
      printf(" %7s\n", "-");
  }
}

static void usage(FILE *f) {
  fprintf(f, "usage: nvae-opbench [--threads N] [--reps R] [--warmup W] [--torch] [FAMILY]\n"
             "  Times the OPCASE_BENCH op cases (whose family contains FAMILY, if given).\n"
             "  --threads N  OpenMP, OpenBLAS and torch threads (default 1)\n"
             "  --reps R     timed repetitions, the median is shown (default 10)\n"
             "  --warmup W   untimed runs first (default 2)\n"
             "  --torch      also time PyTorch CPU (tools/opbench_torch.py) on the same shapes\n");
}

static int parse_args(int argc, char **argv, bench_opts *o) {
  static const struct option longopts[] = {
      {"threads", required_argument, NULL, 't'}, {"reps", required_argument, NULL, 'r'},
      {"warmup", required_argument, NULL, 'w'},  {"torch", no_argument, NULL, 'T'},
      {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
  *o = (bench_opts){1, 10, 2, 0, NULL};
  int ch;
  while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    switch (ch) {
    case 't': o->threads = atoi(optarg); break;
    case 'r': o->reps = atoi(optarg); break;
    case 'w': o->warmup = atoi(optarg); break;
    case 'T': o->torch = 1; break;
    case 'h': usage(stdout); exit(NVAE_EXIT_OK);
    default: usage(stderr); return NVAE_EXIT_USAGE;
    }
  }
  if (optind < argc) o->only = argv[optind++];
  if (optind < argc || o->threads < 1 || o->reps < 1 || o->warmup < 0) {
    usage(stderr);
    return NVAE_EXIT_USAGE;
  }
  return 0;
}

int main(int argc, char **argv) {
  bench_opts o;
  int rc = parse_args(argc, argv, &o);
  if (rc) return rc;
#ifdef _OPENMP
  omp_set_num_threads(o.threads);
#endif
  openblas_set_num_threads(o.threads);

  int total = op_case_count(), n = 0;
  bench_row *rows = nvae_calloc((size_t)total, sizeof *rows);
  for (int k = 0; k < total; k++) {
    const op_case *c = op_case_get(k);
    if (!(c->flags & OPCASE_BENCH) || (o.only && !strstr(c->family, o.only))) continue;
    rows[n++] = (bench_row){c, -1, -1, -1, -1};
  }
  if (n == 0) {
    fprintf(stderr, "nvae-opbench: no OPCASE_BENCH case%s%s\n", o.only ? " in family " : "",
            o.only ? o.only : "");
    return NVAE_EXIT_USAGE;
  }
  op_ctx ctx = op_ctx_cpu();
  for (int k = 0; k < n; k++) {
    bench_bufs b;
    bufs_make(rows[k].c, &b);
    rows[k].ours_fwd = time_case(rows[k].c, &ctx, &b, 0, &o);
    if (rows[k].c->backward) rows[k].ours_both = time_case(rows[k].c, &ctx, &b, 1, &o);
    bufs_free(&b);
  }
  op_ctx_free(&ctx);
  if (o.torch) rc = run_torch(rows, n, &o) ? NVAE_EXIT_RUNTIME : 0;
  print_table(rows, n, &o);
  nvae_free(rows);
  return rc;
}
