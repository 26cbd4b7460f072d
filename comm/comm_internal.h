/* What the files of comm/ share: the comm struct, the table of collectives in flight that the
 * watchdog scans, and the checked MPI call. Not part of the public interface (comm.h). */
#ifndef NVAE_COMM_COMM_INTERNAL_H
#define NVAE_COMM_COMM_INTERNAL_H

#include "comm/comm.h"

#include <mpi.h>
#include <pthread.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Gradient buckets in flight at once, plus a few blocking ops; a model with more buckets must
 * wait for older ones first (comm_op_begin says so). */
#define COMM_MAX_INFLIGHT 256

/* One collective between its start and its completion. Written under comm.mu. */
typedef struct comm_op {
  int active;
  uint64_t seq;     /* the same on every rank for the same collective */
  const char *name; /* a string literal: "allreduce_sum_f32", ... */
  int64_t bytes;    /* payload on this rank */
  double t_start;   /* comm_now() when issued */
  void *event;      /* NCCL: a cudaEvent_t recorded after the collective; NULL for MPI */
} comm_op;

struct comm {
  int rank, size, local_rank, local_size;
  char host[256];
  comm_transport transport;
  int thread_multiple; /* MPI gave MPI_THREAD_MULTIPLE: the watchdog may call MPI_Abort */
  MPI_Comm node_comm;  /* the ranks on this node (MPI_COMM_TYPE_SHARED) */

  /* statistics and sequence numbers (main thread writes, under mu) */
  uint64_t seq; /* last sequence number issued */
  uint64_t bytes;
  double seconds;

  /* watchdog (watchdog.c) */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t thread;
  int thread_started, stop;
  double timeout_s;
  comm_op ops[COMM_MAX_INFLIGHT];
  comm_request *inflight[COMM_MAX_INFLIGHT]; /* MPI start/wait handles by slot; main thread only */

  /* transport hooks, set by the NCCL transport (NULL for MPI):
   * poll: 1 = the op is complete, 0 = not yet, -1 = the transport reported an error (msg filled);
   * abort: tears the transport down before MPI_Abort so no kernel keeps a GPU busy. */
  int (*poll_op)(struct comm *c, comm_op *op, char *msg, int len);
  void (*abort_transport)(struct comm *c);
  void (*destroy_transport)(struct comm *c);
  void *nccl; /* transport state (collectives_nccl.cu) */
  int device;
};

struct comm_request {
  MPI_Request req;
  float *buf;
  int64_t count;
  int avg;
  int slot;
};

/* Seconds on a monotonic clock. */
double comm_now(void);

/* Registers a collective with the watchdog and returns its slot; counts it in the statistics. */
int comm_op_begin(comm *c, const char *name, int64_t bytes, void *event);
/* The collective completed: frees the slot; adds the time since begin to the statistics when
 * `timed` (blocking calls and waits; not NCCL ops that finish on the device). */
void comm_op_end(comm *c, int slot, int timed);
/* Stops and joins the watchdog thread (comm_finalize). */
void comm_watchdog_stop(comm *c);

/* The CUDA device of a rank: local_rank % ndev (with --gpus-per-task=1 each rank sees one
 * device numbered 0, and the formula still holds). COMM_NO_DEVICE when ndev <= 0,
 * COMM_SHARED_DEVICE when exclusive (NCCL) and the local ranks outnumber the devices. */
#define COMM_NO_DEVICE (-1)
#define COMM_SHARED_DEVICE (-2)
int comm_pick_device(int local_rank, int local_size, int ndev, int exclusive);

/* "[rank r/N host] " (or "[rank ?] " without a comm) into buf. */
void comm_msg_prefix(const comm *c, char *buf, int len);

/* Checked MPI call: MPI_COMM_WORLD returns errors (comm_init sets MPI_ERRORS_RETURN), so a
 * failed call prints MPI's own error text with file:line and aborts the job. */
void comm_mpi_fail(const comm *c, int rc, const char *call, const char *file, int line)
    __attribute__((noreturn));
#define COMM_MPI_CHECK(c, call)                                                                    \
  do {                                                                                             \
    int rc_ = (call);                                                                              \
    if (rc_ != MPI_SUCCESS) comm_mpi_fail((c), rc_, #call, __FILE__, __LINE__);                    \
  } while (0)

#ifdef __cplusplus
}
#endif

#endif
