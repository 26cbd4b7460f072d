/* MPI start-up and shut-down: rank, world size, local rank, hostname, and the world-size
 * cross-check against the launcher (ECOSYSTEM.md §1.1-1.2). */
#define _POSIX_C_SOURCE 200809L
#include "comm/comm_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A launcher variable that holds a positive integer, or 0 when unset or not a number. */
static long comm_env_long(const char *name) {
  const char *s = getenv(name);
  if (!s || !*s) return 0;
  char *end = NULL;
  long v = strtol(s, &end, 10);
  return (*end == '\0' && v > 0) ? v : -1;
}

/* The world size MPI gave us must be what the launcher started. The trap it catches: srun
 * without working PMIx starts N singletons, each "rank 0 of 1" with no error, which would train
 * N independent copies (ECOSYSTEM.md §1.2). mpirun's own variable is trusted first because
 * ranks started by mpirun inside sbatch inherit the Slurm variables of mpirun's daemon step. */
static int comm_check_world_size(int size, nvae_err *e) {
  long expect = comm_env_long("NVAE_EXPECT_WORLD_SIZE");
  if (expect != 0) {
    if (expect != size)
      return nvae_errf(e, NVAE_EXIT_USAGE,
                       "world size %d but NVAE_EXPECT_WORLD_SIZE=%s: the launcher did not start "
                       "the ranks as one MPI job",
                       size, getenv("NVAE_EXPECT_WORLD_SIZE"));
    return 0; /* an explicit expectation overrides the launcher variables */
  }
  static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "SLURM_STEP_NUM_TASKS", "SLURM_NTASKS"};
  for (int i = 0; i < 3; i++) {
    long n = comm_env_long(vars[i]);
    if (n == 0) continue;
    if (n != size)
      return nvae_errf(e, NVAE_EXIT_USAGE,
                       "world size %d but %s=%s: the ranks did not join one MPI job (under Slurm "
                       "use srun --mpi=pmix or mpirun inside sbatch; set NVAE_EXPECT_WORLD_SIZE=%d "
                       "to run this way on purpose)",
                       size, vars[i], getenv(vars[i]), size);
    return 0; /* the first variable that is set decides */
  }
  return 0;
}

/* The local rank from MPI itself (MPI_COMM_TYPE_SHARED = same node); the launcher's variable is
 * only compared, since SLURM_LOCALID is 0 on every rank under mpirun inside sbatch. */
static void comm_find_local_rank(comm *c) {
  COMM_MPI_CHECK(c, MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, c->rank,
                                        MPI_INFO_NULL, &c->node_comm));
  COMM_MPI_CHECK(c, MPI_Comm_set_errhandler(c->node_comm, MPI_ERRORS_RETURN));
  COMM_MPI_CHECK(c, MPI_Comm_rank(c->node_comm, &c->local_rank));
  COMM_MPI_CHECK(c, MPI_Comm_size(c->node_comm, &c->local_size));
  const char *env = getenv("OMPI_COMM_WORLD_LOCAL_RANK");
  if (env && atoi(env) != c->local_rank)
    fprintf(stderr,
            "[rank %d/%d %s] warning: OMPI_COMM_WORLD_LOCAL_RANK=%s but MPI_Comm_split_type "
            "says local rank %d; using %d\n",
            c->rank, c->size, c->host, env, c->local_rank, c->local_rank);
}

int comm_init(int *argc, char ***argv, comm **out, nvae_err *e) {
  *out = NULL;
  int inited = 0, provided = 0;
  MPI_Initialized(&inited);
  if (!inited) {
    if (MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS)
      return nvae_errf(e, NVAE_EXIT_RUNTIME, "MPI_Init_thread failed");
  } else {
    MPI_Query_thread(&provided);
  }
  /* Errors come back to COMM_MPI_CHECK, which prints MPI's text with file:line, then aborts. */
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);

  comm *c = nvae_calloc(1, sizeof *c);
  c->transport = COMM_TRANSPORT_MPI;
  c->thread_multiple = provided >= MPI_THREAD_MULTIPLE;
  c->device = -1;
  c->node_comm = MPI_COMM_NULL;
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->cv, NULL);
  if (gethostname(c->host, sizeof c->host - 1) != 0) snprintf(c->host, sizeof c->host, "?");
  COMM_MPI_CHECK(c, MPI_Comm_rank(MPI_COMM_WORLD, &c->rank));
  COMM_MPI_CHECK(c, MPI_Comm_size(MPI_COMM_WORLD, &c->size));

  /* Same answer on every rank (same environment), so returning instead of aborting is safe:
   * every rank finalizes and exits 2 together. */
  int rc = comm_check_world_size(c->size, e);
  if (rc) {
    free(c);
    MPI_Finalize();
    return rc;
  }
  comm_find_local_rank(c);
  *out = c;
  return 0;
}

void comm_finalize(comm *c) {
  if (!c) return;
  comm_watchdog_stop(c);
  if (c->destroy_transport) c->destroy_transport(c);
  if (c->node_comm != MPI_COMM_NULL) MPI_Comm_free(&c->node_comm);
  pthread_mutex_destroy(&c->mu);
  pthread_cond_destroy(&c->cv);
  free(c);
  MPI_Finalize();
}

int comm_rank(const comm *c) { return c->rank; }
int comm_size(const comm *c) { return c->size; }
int comm_local_rank(const comm *c) { return c->local_rank; }
int comm_local_size(const comm *c) { return c->local_size; }
const char *comm_hostname(const comm *c) { return c->host; }
comm_transport comm_get_transport(const comm *c) { return c->transport; }

void comm_describe(const comm *c, char *buf, int len) {
  char dev[32] = "";
  if (c->device >= 0) snprintf(dev, sizeof dev, " device %d", c->device);
  snprintf(buf, (size_t)len, "rank %d/%d local %d/%d host %s%s transport %s timeout %g s", c->rank,
           c->size, c->local_rank, c->local_size, c->host, dev,
           c->transport == COMM_TRANSPORT_NCCL ? "nccl" : "mpi", c->timeout_s);
}

int comm_pick_device(int local_rank, int local_size, int ndev, int exclusive) {
  if (ndev <= 0) return COMM_NO_DEVICE;
  if (exclusive && local_size > ndev) return COMM_SHARED_DEVICE;
  return local_rank % ndev;
}

uint64_t comm_stats_collectives(const comm *c) { return c->seq; }
uint64_t comm_stats_bytes(const comm *c) { return c->bytes; }
double comm_stats_seconds(const comm *c) { return c->seconds; }
