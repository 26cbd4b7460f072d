/* The watchdog: a thread that aborts the job when a collective has not completed within
 * comm.timeout_s (DESIGN.md §3, RELIABILITY.md §2.1/S7). Without it a dead or stuck peer leaves
 * every other rank waiting inside MPI or NCCL forever.
 *
 * Every collective registers itself in c->ops (comm_op_begin) with its sequence number, name and
 * size, and leaves (comm_op_end) when it completes. The thread wakes a few times per timeout,
 * asks the transport about device-side ops (NCCL events and async errors), and when the oldest op
 * is past its deadline prints one line naming this rank, the op, its sequence number and size,
 * then aborts the job. The rank that prints is a waiting one; comparing the sequence numbers the
 * ranks print tells which rank is out of step. */
#define _POSIX_C_SOURCE 200809L
#include "comm/comm_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

double comm_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int comm_op_begin(comm *c, const char *name, int64_t bytes, void *event) {
  pthread_mutex_lock(&c->mu);
  int slot = -1;
  for (int i = 0; i < COMM_MAX_INFLIGHT; i++)
    if (!c->ops[i].active) {
      slot = i;
      break;
    }
  if (slot < 0) {
    pthread_mutex_unlock(&c->mu);
    comm_abort(c, NVAE_EXIT_RUNTIME,
               "%s: more than %d collectives in flight; wait for older buckets first "
               "(or raise comm.bucket_mb)",
               name, COMM_MAX_INFLIGHT);
  }
  comm_op *op = &c->ops[slot];
  op->active = 1;
  op->seq = ++c->seq;
  op->name = name;
  op->bytes = bytes;
  op->event = event;
  op->t_start = comm_now();
  c->bytes += (uint64_t)(bytes > 0 ? bytes : 0);
  pthread_mutex_unlock(&c->mu);
  return slot;
}

void comm_op_end(comm *c, int slot, int timed) {
  double t = comm_now();
  pthread_mutex_lock(&c->mu);
  if (timed) c->seconds += t - c->ops[slot].t_start;
  c->ops[slot].active = 0;
  pthread_mutex_unlock(&c->mu);
}

/* Called with c->mu held; returns with it released only when it aborts (never returns then). */
static void comm_watchdog_fire(comm *c, const comm_op *op, double now, const char *why) {
  comm_op o = *op;
  double timeout = c->timeout_s;
  pthread_mutex_unlock(&c->mu);
  if (why)
    comm_abort(c, NVAE_EXIT_RUNTIME, "comm error: %s seq %llu (%lld bytes) failed: %s; aborting",
               o.name, (unsigned long long)o.seq, (long long)o.bytes, why);
  comm_abort(c, NVAE_EXIT_RUNTIME,
             "comm timeout: %s seq %llu (%lld bytes) not complete after %.1f s "
             "(comm.timeout_s = %g): a rank is dead, stuck or out of step; aborting the job",
             o.name, (unsigned long long)o.seq, (long long)o.bytes, now - o.t_start, timeout);
}

static void *comm_watchdog_main(void *arg) {
  comm *c = arg;
  pthread_mutex_lock(&c->mu);
  while (!c->stop) {
    /* Wake ~20 times per timeout (at most once a second, at least every 50 ms): the abort then
     * comes within 5% of the deadline. */
    double period = c->timeout_s > 0 ? c->timeout_s / 20 : 1.0;
    if (period > 1.0) period = 1.0;
    if (period < 0.05) period = 0.05;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts); /* pthread_cond_timedwait's default clock */
    double wake = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec + period;
    ts.tv_sec = (time_t)wake;
    ts.tv_nsec = (long)((wake - (double)ts.tv_sec) * 1e9);
    int rc = pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    if (c->stop) break;
    if (rc != 0 && rc != ETIMEDOUT) continue;
    double now = comm_now();
    for (int i = 0; i < COMM_MAX_INFLIGHT; i++) {
      comm_op *op = &c->ops[i];
      if (!op->active) continue;
      if (c->poll_op) {
        char msg[512] = "";
        int st = c->poll_op(c, op, msg, sizeof msg);
        if (st == 1) {
          op->active = 0;
          continue;
        }
        if (st < 0) comm_watchdog_fire(c, op, now, msg);
      }
      if (c->timeout_s > 0 && now - op->t_start > c->timeout_s)
        comm_watchdog_fire(c, op, now, NULL);
    }
  }
  pthread_mutex_unlock(&c->mu);
  return NULL;
}

void comm_set_timeout(comm *c, double seconds) {
  pthread_mutex_lock(&c->mu);
  c->timeout_s = seconds > 0 ? seconds : 0;
  int start = c->timeout_s > 0 && !c->thread_started;
  if (start) c->thread_started = 1;
  pthread_cond_signal(&c->cv); /* a shorter timeout takes effect now */
  pthread_mutex_unlock(&c->mu);
  if (start) {
    int rc = pthread_create(&c->thread, NULL, comm_watchdog_main, c);
    if (rc != 0)
      comm_abort(c, NVAE_EXIT_RUNTIME, "cannot start the comm watchdog thread: %s", strerror(rc));
  }
}

double comm_get_timeout(const comm *c) { return c->timeout_s; }

void comm_watchdog_stop(comm *c) {
  pthread_mutex_lock(&c->mu);
  c->stop = 1;
  int started = c->thread_started;
  pthread_cond_signal(&c->cv);
  pthread_mutex_unlock(&c->mu);
  if (started) pthread_join(c->thread, NULL);
  c->thread_started = 0;
}
