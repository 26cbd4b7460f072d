/* Progress display: see progress.h. */
#define _POSIX_C_SOURCE 200809L
#include "dataset/progress.h"

#include <time.h>
#include <unistd.h>

double progress_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void progress_start(progress *p, FILE *out, int64_t total) {
  p->out = out;
  p->tty = isatty(fileno(out));
  p->total = total;
  p->start = p->last = progress_now();
  p->drawn = 0;
}

static void draw(progress *p, int64_t done, double t) {
  double el = t - p->start;
  double rate = el > 0 ? (double)done / el : 0;
  double eta = rate > 0 ? (double)(p->total - done) / rate : 0;
  double frac = p->total > 0 ? (double)done / (double)p->total : 1;
  if (p->tty) {
    enum { W = 30 };
    char bar[W + 1];
    for (int i = 0; i < W; i++)
      bar[i] = i < (int)(frac * W) ? '#' : '.';
    bar[W] = '\0';
    fprintf(p->out, "\r[%s] %5.1f%% %lld/%lld  %.0f images/s  ETA %d:%02d   ", bar, 100 * frac,
            (long long)done, (long long)p->total, rate, (int)eta / 60, (int)eta % 60);
    p->drawn = 1;
  } else {
    fprintf(p->out, "nvae-prep: %lld/%lld images (%.1f%%), %.0f images/s, ETA %d:%02d\n",
            (long long)done, (long long)p->total, 100 * frac, rate, (int)eta / 60, (int)eta % 60);
  }
  fflush(p->out);
}

void progress_update(progress *p, int64_t done) {
  double t = progress_now();
  if (t - p->last < (p->tty ? 0.2 : 10.0)) return;
  p->last = t;
  draw(p, done, t);
}

void progress_clear_line(progress *p) {
  if (p->tty && p->drawn) {
    fprintf(p->out, "\r\033[K");
    p->drawn = 0;
  }
}

void progress_finish(progress *p, int64_t done) {
  if (p->tty) {
    draw(p, done, progress_now());
    fputc('\n', p->out);
    p->drawn = 0;
  }
}
