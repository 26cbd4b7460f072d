/* comm/: MPI bootstrap and typed collectives over MPI or NCCL (DESIGN.md §3).
 *
 * One process per GPU (or per CPU slot). comm_init() starts MPI (a process started without mpirun
 * is an MPI singleton: world size 1), finds the local rank with MPI_Comm_split_type (env vars are
 * only a cross-check, see ECOSYSTEM.md §1.1) and refuses a world size that disagrees with the
 * launcher (N independent singletons under a misconfigured srun train N copies silently).
 *
 * Collectives take counts in ELEMENTS, never bytes. Every rank must issue the same collectives in
 * the same order; each gets a sequence number (the same on every rank) that the watchdog names.
 *
 * Transports:
 *  - MPI (always built): host buffers; blocking and non-blocking (start/wait) all-reduce.
 *  - NCCL (built when NVAE_HAVE_CUDA): device buffers, one communicator per process on a dedicated
 *    stream with event hand-off (see the *_dev functions below). It compiles and links on the CPU
 *    CI machine but has not run there (no GPU); its tests are GPU-only.
 *
 * Failure policy (RELIABILITY.md §2): a collective that has not completed within comm.timeout_s
 * makes the watchdog thread print "[rank r/N host] comm timeout: <op> seq S (B bytes) ..." and
 * MPI_Abort the job, so every rank exits non-zero and none hangs. comm_abort() does the same for
 * a fatal error seen by one rank. Library errors of MPI itself stay fatal (MPI_ERRORS_ARE_FATAL).
 */
#ifndef NVAE_COMM_COMM_H
#define NVAE_COMM_COMM_H

#include "kernels/base/error.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { COMM_TRANSPORT_MPI = 0, COMM_TRANSPORT_NCCL = 1 } comm_transport;

typedef struct comm comm;                 /* one per process */
typedef struct comm_request comm_request; /* an all-reduce in flight (comm_*_start) */

/* ---- bootstrap (bootstrap.c) ---------------------------------------------------------------- */

/* MPI_Init_thread(MPI_THREAD_MULTIPLE: the watchdog thread may call MPI_Abort while the main
 * thread is inside a collective), rank/size/local rank, hostname, world-size cross-check.
 * Returns 0, or NVAE_EXIT_USAGE with e->msg one line (e.g. "world size 1 but
 * OMPI_COMM_WORLD_SIZE=5: ...") after finalizing MPI; main prints it and exits with the code.
 * Call once per process, before any other thread is started. */
int comm_init(int *argc, char ***argv, comm **out, nvae_err *e);
/* Joins the watchdog, frees everything, MPI_Finalize. Collective: every rank calls it. */
void comm_finalize(comm *c);

int comm_rank(const comm *c);
int comm_size(const comm *c);
int comm_local_rank(const comm *c); /* rank among the processes on this node */
int comm_local_size(const comm *c); /* processes on this node */
const char *comm_hostname(const comm *c);
comm_transport comm_get_transport(const comm *c);
/* One line for the start-up log: "rank 1/4 local 1/2 host node07 transport mpi timeout 600 s". */
void comm_describe(const comm *c, char *buf, int len);

/* ---- failure handling (watchdog.c, fault.c) ------------------------------------------------- */

/* Watchdog deadline for every later collective; <= 0 turns it off (the default). The first call
 * with a positive value starts the watchdog thread. */
void comm_set_timeout(comm *c, double seconds);
double comm_get_timeout(const comm *c);
/* Prints "[rank r/N host] <message>" to stderr and aborts the whole job (MPI_Abort) with `code`
 * (use NVAE_EXIT_RUNTIME): every rank exits non-zero within seconds. Never returns. c may be NULL
 * (before comm_init finished): then the prefix is "[rank ?]". */
void comm_abort(const comm *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

/* ---- collectives over MPI on host buffers (collectives_mpi.c) ------------------------------- */

/* All in place and blocking unless named *_start. count may be 0 (then they still synchronise as
 * the collective would, so every rank's sequence numbers stay equal). */
void comm_allreduce_sum_f32(comm *c, float *buf, int64_t count);
void comm_allreduce_avg_f32(comm *c, float *buf, int64_t count); /* sum, then / world size */
void comm_allreduce_sum_f64(comm *c, double *buf, int64_t count);
void comm_allreduce_avg_f64(comm *c, double *buf, int64_t count);
int comm_allreduce_max_int(comm *c, int value); /* stop / skip flags: any rank's 1 wins */
int comm_allreduce_sum_int(comm *c, int value);
void comm_broadcast_f32(comm *c, float *buf, int64_t count, int root);
void comm_broadcast_f64(comm *c, double *buf, int64_t count, int root);
void comm_broadcast_bytes(comm *c, void *buf, int64_t nbytes, int root); /* ids, small structs */
void comm_barrier(comm *c);

/* Non-blocking all-reduce of a gradient bucket: start returns a handle (never NULL); the buffer
 * must not be touched until comm_wait(), which frees the handle. With avg != 0 the result is
 * divided by the world size. Several may be in flight; wait in any order. comm_progress() lets
 * MPI advance the transfers between layers of backward (Open MPI progresses only inside calls). */
comm_request *comm_allreduce_f32_start(comm *c, float *buf, int64_t count, int avg);
void comm_wait(comm *c, comm_request *r);
void comm_progress(comm *c);

/* The bn_sync / train_comm hook (kernels/op_types.h): arg is a comm*. */
void comm_allreduce_sum_f64_hook(void *arg, double *buf, int n);
/* The train_comm gradient hook: average of the gradient arena over ranks (blocking). */
void comm_allreduce_avg_f32_hook(void *arg, float *buf, long long n);

/* ---- statistics, for the "collectives per step" report -------------------------------------- */
uint64_t comm_stats_collectives(const comm *c); /* collectives issued so far (= next seq - 1) */
uint64_t comm_stats_bytes(const comm *c);       /* payload bytes of those collectives */
double comm_stats_seconds(const comm *c);       /* time spent inside blocking calls and waits */

/* ---- NCCL transport on device buffers (collectives_nccl.cu; NVAE_HAVE_CUDA only) ---------------
 * Not run on CPU CI (no GPU): compiled and linked only. */
#ifdef NVAE_HAVE_CUDA
/* Chooses device local_rank % device_count (error, exit code 2, when local ranks outnumber the
 * devices: NCCL cannot put two ranks on one GPU), makes the unique id on rank 0, MPI_Bcast,
 * ncclCommInitRank, a dedicated stream, and switches the transport to NCCL. Collective. */
int comm_nccl_init(comm *c, nvae_err *e);
/* For the MPI transport with the CUDA backend: cudaSetDevice(local_rank % device_count); ranks may
 * share a GPU (exclusive = 0), which is how 2 ranks test device code on one GPU. With exclusive
 * it fails (exit code 2) when the local ranks outnumber the devices. Collective (all ranks get the
 * same answer). comm_nccl_init calls it with exclusive = 1. */
int comm_select_device(comm *c, int exclusive, nvae_err *e);
int comm_device(const comm *c); /* the CUDA device this rank uses; -1 before either call */
/* In place on device memory. NCCL transport: the collective waits for an event recorded on
 * `stream` (the caller's compute stream, a cudaStream_t), runs on the comm's own stream and
 * records an event there that `stream` then waits on: the caller needs no synchronisation of its
 * own, and the watchdog polls that event and ncclCommGetAsyncError (then ncclCommAbort on error
 * or timeout). MPI transport: staged through a pinned host buffer (copy on `stream`, synchronise,
 * MPI_Allreduce, copy back on `stream`), so it blocks the host. */
void comm_allreduce_sum_f32_dev(comm *c, float *dbuf, int64_t count, void *stream);
void comm_allreduce_avg_f32_dev(comm *c, float *dbuf, int64_t count, void *stream);
void comm_allreduce_sum_f64_dev(comm *c, double *dbuf, int64_t count, void *stream);
void comm_broadcast_f32_dev(comm *c, float *dbuf, int64_t count, int root, void *stream);
#endif

#ifdef __cplusplus
}
#endif

#endif
