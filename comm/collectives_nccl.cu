/* The NCCL transport on device buffers (DESIGN.md §3, ECOSYSTEM.md §2), and the MPI transport's
 * staging of device buffers through pinned host memory.
 *
 * NOT RUN ON CPU CI: this file is compiled and linked wherever the CUDA toolkit and NCCL are
 * found, but it has only been run where a GPU is lent (see comm.h).
 *
 * NCCL: one communicator per process (gradient buckets and sync-BN sums share it, issued in the
 * same order on every rank), on a dedicated stream. Hand-off: an event recorded on the caller's
 * compute stream is waited on by the comm stream before the collective; an event recorded on the
 * comm stream after it is waited on by the compute stream. The done event is what the watchdog
 * polls (with ncclCommGetAsyncError): NCCL reports a dead peer only that way, and a kernel waiting
 * on one never completes, so on error or timeout the watchdog calls ncclCommAbort (never
 * ncclCommDestroy, which can block forever) and then MPI_Abort. */
#include "comm/comm_internal.h"
#include "kernels/cuda/cuda_check.h"

#include <cuda_runtime.h>
#include <nccl.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct comm_cuda {
  int have_nccl;
  ncclComm_t nc;
  cudaStream_t stream;                 /* the comm stream (NCCL only) */
  cudaEvent_t ready;                   /* recorded on the caller's stream, reused per op */
  cudaEvent_t done[COMM_MAX_INFLIGHT]; /* one per watchdog slot: reused only once complete */
  void *pinned;                        /* MPI staging buffer (cudaMallocHost), grows */
  size_t pinned_bytes;
} comm_cuda;

static comm_cuda *comm_cuda_state(comm *c) {
  if (!c->nccl) c->nccl = nvae_calloc(1, sizeof(comm_cuda));
  return (comm_cuda *)c->nccl;
}

/* ---- transport hooks (the watchdog thread calls poll and abort) ---- */

static int comm_nccl_poll(comm *c, comm_op *op, char *msg, int len) {
  comm_cuda *s = (comm_cuda *)c->nccl;
  if (!op->event) return 0; /* blocking op or still being enqueued: the deadline alone decides */
  cudaSetDevice(c->device); /* the current device is per thread */
  ncclResult_t async = ncclSuccess;
  if (ncclCommGetAsyncError(s->nc, &async) == ncclSuccess && async != ncclSuccess &&
      async != ncclInProgress) {
    snprintf(msg, (size_t)len, "NCCL async error: %s (%s)", ncclGetErrorString(async),
             ncclGetLastError(s->nc));
    return -1;
  }
  cudaError_t q = cudaEventQuery((cudaEvent_t)op->event);
  if (q == cudaSuccess) return 1;
  if (q == cudaErrorNotReady) return 0;
  snprintf(msg, (size_t)len, "CUDA error %s: %s", cudaGetErrorName(q), cudaGetErrorString(q));
  return -1;
}

static void comm_nccl_abort(comm *c) {
  comm_cuda *s = (comm_cuda *)c->nccl;
  if (s && s->have_nccl) {
    s->have_nccl = 0;
    ncclCommAbort(s->nc); /* frees any kernel stuck waiting for a peer */
  }
}

static void comm_cuda_destroy(comm *c) {
  comm_cuda *s = (comm_cuda *)c->nccl;
  if (!s) return;
  if (s->have_nccl) {
    CUDA_CHECK(cudaStreamSynchronize(s->stream));
    NCCL_CHECK(ncclCommDestroy(s->nc));
    for (int i = 0; i < COMM_MAX_INFLIGHT; i++)
      CUDA_CHECK(cudaEventDestroy(s->done[i]));
    CUDA_CHECK(cudaEventDestroy(s->ready));
    CUDA_CHECK(cudaStreamDestroy(s->stream));
  }
  if (s->pinned) CUDA_CHECK(cudaFreeHost(s->pinned));
  free(s);
  c->nccl = NULL;
}

/* ---- set-up ---- */

extern "C" int comm_select_device(comm *c, int exclusive, nvae_err *e) {
  int ndev = 0;
  if (cudaGetDeviceCount(&ndev) != cudaSuccess) ndev = 0;
  int dev = comm_pick_device(c->local_rank, c->local_size, ndev, exclusive);
  /* decided together: a rank that returned alone would leave the others in the next collective */
  int mine = dev == COMM_NO_DEVICE ? 1 : dev == COMM_SHARED_DEVICE ? 2 : 0;
  int worst = comm_allreduce_max_int(c, mine);
  if (worst != 0 && mine != worst)
    return nvae_errf(e, NVAE_EXIT_USAGE, "%s on another host (see its message)",
                     worst == 1 ? "no CUDA device visible" : "more ranks than GPUs");
  if (worst == 1)
    return nvae_errf(e, NVAE_EXIT_USAGE, "no CUDA device visible on host %s (device: cuda)",
                     c->host);
  if (worst == 2)
    return nvae_errf(e, NVAE_EXIT_USAGE,
                     "%d ranks on host %s but %d visible GPU(s): NCCL cannot put two ranks on one "
                     "GPU; start at most one rank per GPU or use comm.transport=mpi",
                     c->local_size, c->host, ndev);
  c->device = dev;
  CUDA_CHECK(cudaSetDevice(c->device)); /* must precede ncclCommInitRank */
  c->destroy_transport = comm_cuda_destroy;
  return 0;
}

extern "C" int comm_nccl_init(comm *c, nvae_err *e) {
  int rc = comm_select_device(c, 1, e);
  if (rc) return rc;
  comm_cuda *s = comm_cuda_state(c);
  ncclUniqueId id;
  if (c->rank == 0) NCCL_CHECK(ncclGetUniqueId(&id));
  comm_broadcast_bytes(c, &id, (int64_t)sizeof id, 0);
  /* ncclCommInitRank synchronises with every rank: watched like a collective */
  int slot = comm_op_begin(c, "nccl_init", 0, NULL);
  NCCL_CHECK(ncclCommInitRank(&s->nc, c->size, id, c->rank));
  comm_op_end(c, slot, 1);
  CUDA_CHECK(cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking));
  CUDA_CHECK(cudaEventCreateWithFlags(&s->ready, cudaEventDisableTiming));
  for (int i = 0; i < COMM_MAX_INFLIGHT; i++)
    CUDA_CHECK(cudaEventCreateWithFlags(&s->done[i], cudaEventDisableTiming));
  pthread_mutex_lock(&c->mu);
  s->have_nccl = 1;
  c->poll_op = comm_nccl_poll;
  c->abort_transport = comm_nccl_abort;
  c->transport = COMM_TRANSPORT_NCCL;
  pthread_mutex_unlock(&c->mu);
  return 0;
}

extern "C" int comm_device(const comm *c) { return c->device; }

/* ---- NCCL collectives ---- */

/* Frees the watchdog slots of ops whose done event has fired, so the table does not fill up when
 * the watchdog is off (timeout 0). */
static void comm_nccl_retire(comm *c) {
  pthread_mutex_lock(&c->mu);
  for (int i = 0; i < COMM_MAX_INFLIGHT; i++) {
    comm_op *op = &c->ops[i];
    if (op->active && op->event && cudaEventQuery((cudaEvent_t)op->event) == cudaSuccess)
      op->active = 0;
  }
  pthread_mutex_unlock(&c->mu);
}

typedef enum { COMM_NCCL_ALLREDUCE, COMM_NCCL_BROADCAST } comm_nccl_kind;

static void comm_nccl_run(comm *c, const char *name, comm_nccl_kind kind, void *dbuf, int64_t count,
                          ncclDataType_t t, size_t esize, ncclRedOp_t op, int root, void *stream) {
  comm_cuda *s = (comm_cuda *)c->nccl;
  cudaStream_t cs = (cudaStream_t)stream;
  comm_nccl_retire(c);
  int slot = comm_op_begin(c, name, count * (int64_t)esize, NULL);
  CUDA_CHECK(cudaEventRecord(s->ready, cs)); /* inputs are written on the caller's stream */
  CUDA_CHECK(cudaStreamWaitEvent(s->stream, s->ready, 0));
  if (kind == COMM_NCCL_ALLREDUCE)
    NCCL_CHECK(ncclAllReduce(dbuf, dbuf, (size_t)count, t, op, s->nc, s->stream));
  else
    NCCL_CHECK(ncclBroadcast(dbuf, dbuf, (size_t)count, t, root, s->nc, s->stream));
  CUDA_CHECK(cudaEventRecord(s->done[slot], s->stream));
  CUDA_CHECK(
      cudaStreamWaitEvent(cs, s->done[slot], 0)); /* results are read on the caller's stream */
  pthread_mutex_lock(&c->mu);
  c->ops[slot].event = (void *)s->done[slot]; /* from now on the watchdog polls it */
  pthread_mutex_unlock(&c->mu);
}

/* ---- MPI staging of device buffers through pinned host memory ---- */

static void *comm_pinned(comm *c, size_t bytes) {
  comm_cuda *s = comm_cuda_state(c);
  if (bytes > s->pinned_bytes) {
    if (s->pinned) CUDA_CHECK(cudaFreeHost(s->pinned));
    CUDA_CHECK(cudaMallocHost(&s->pinned, bytes));
    s->pinned_bytes = bytes;
  }
  c->destroy_transport = comm_cuda_destroy;
  return s->pinned;
}

typedef enum {
  COMM_STAGE_SUM_F32,
  COMM_STAGE_AVG_F32,
  COMM_STAGE_SUM_F64,
  COMM_STAGE_BCAST_F32
} comm_stage_kind;

static void comm_mpi_staged(comm *c, comm_stage_kind kind, void *dbuf, int64_t count, size_t esize,
                            int root, void *stream) {
  cudaStream_t cs = (cudaStream_t)stream;
  size_t bytes = (size_t)count * esize;
  void *h = comm_pinned(c, bytes ? bytes : esize);
  CUDA_CHECK(cudaMemcpyAsync(h, dbuf, bytes, cudaMemcpyDeviceToHost, cs));
  CUDA_CHECK(cudaStreamSynchronize(cs));
  switch (kind) {
  case COMM_STAGE_SUM_F32: comm_allreduce_sum_f32(c, (float *)h, count); break;
  case COMM_STAGE_AVG_F32: comm_allreduce_avg_f32(c, (float *)h, count); break;
  case COMM_STAGE_SUM_F64: comm_allreduce_sum_f64(c, (double *)h, count); break;
  case COMM_STAGE_BCAST_F32: comm_broadcast_f32(c, (float *)h, count, root); break;
  }
  CUDA_CHECK(cudaMemcpyAsync(dbuf, h, bytes, cudaMemcpyHostToDevice, cs));
  /* the pinned buffer is reused by the next call: the copy must be done before we return */
  CUDA_CHECK(cudaStreamSynchronize(cs));
}

/* ---- the public device collectives ---- */

extern "C" void comm_allreduce_sum_f32_dev(comm *c, float *dbuf, int64_t count, void *stream) {
  if (c->transport == COMM_TRANSPORT_NCCL)
    comm_nccl_run(c, "nccl_allreduce_sum_f32", COMM_NCCL_ALLREDUCE, dbuf, count, ncclFloat32,
                  sizeof(float), ncclSum, 0, stream);
  else
    comm_mpi_staged(c, COMM_STAGE_SUM_F32, dbuf, count, sizeof(float), 0, stream);
}

extern "C" void comm_allreduce_avg_f32_dev(comm *c, float *dbuf, int64_t count, void *stream) {
  if (c->transport == COMM_TRANSPORT_NCCL)
    comm_nccl_run(c, "nccl_allreduce_avg_f32", COMM_NCCL_ALLREDUCE, dbuf, count, ncclFloat32,
                  sizeof(float), ncclAvg, 0, stream);
  else
    comm_mpi_staged(c, COMM_STAGE_AVG_F32, dbuf, count, sizeof(float), 0, stream);
}

extern "C" void comm_allreduce_sum_f64_dev(comm *c, double *dbuf, int64_t count, void *stream) {
  if (c->transport == COMM_TRANSPORT_NCCL)
    comm_nccl_run(c, "nccl_allreduce_sum_f64", COMM_NCCL_ALLREDUCE, dbuf, count, ncclFloat64,
                  sizeof(double), ncclSum, 0, stream);
  else
    comm_mpi_staged(c, COMM_STAGE_SUM_F64, dbuf, count, sizeof(double), 0, stream);
}

extern "C" void comm_broadcast_f32_dev(comm *c, float *dbuf, int64_t count, int root,
                                       void *stream) {
  if (c->transport == COMM_TRANSPORT_NCCL)
    comm_nccl_run(c, "nccl_broadcast_f32", COMM_NCCL_BROADCAST, dbuf, count, ncclFloat32,
                  sizeof(float), ncclSum, root, stream);
  else
    comm_mpi_staged(c, COMM_STAGE_BCAST_F32, dbuf, count, sizeof(float), root, stream);
}
