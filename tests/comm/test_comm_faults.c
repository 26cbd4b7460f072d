/* Fault trials for comm/ (RELIABILITY.md §6 S6/S7): runs comm_fault_worker under mpirun in its
 * own process group, and checks the launcher's exit status, the message, the elapsed time, and
 * that no process of the trial is left.
 *   usage: test_comm_faults WORKER MPIEXEC NUMPROC_FLAG
 * Trials: the watchdog (one rank sleeps past a 2 s timeout), comm_abort on one rank, exit(3) on
 * one rank, SIGKILL on one rank, a singleton without mpirun, and the world-size cross-check
 * (OMPI_COMM_WORLD_SIZE=5 on a singleton: one line, exit 2). */
#define _POSIX_C_SOURCE 200809L
#include "tests/test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HARD_LIMIT_S 90.0 /* a trial still running then has hung: kill its group, fail */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct trial {
  int status;      /* waitpid status */
  double seconds;  /* until the launcher exited */
  int leftovers;   /* processes of the trial's group still alive afterwards */
  char out[65536]; /* stdout + stderr */
} trial;

/* Runs argv (NULL-terminated) with stdout+stderr to a temporary file; env_set "NAME=VALUE" or
 * NULL. The child leads its own process group, so every rank mpirun starts can be found. */
static void run(char *const argv[], const char *env_set, trial *t) {
  char path[] = "/tmp/comm-helper-trial-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) {
    perror("mkstemp");
    exit(1);
  }
  double t0 = now_s();
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    if (env_set) {
      char name[128];
      const char *eq = strchr(env_set, '=');
      snprintf(name, sizeof name, "%.*s", (int)(eq - env_set), env_set);
      setenv(name, eq + 1, 1);
    }
    execv(argv[0], argv);
    perror("execv");
    _exit(127);
  }
  setpgid(pid, pid);
  t->status = -1;
  for (;;) {
    pid_t w = waitpid(pid, &t->status, WNOHANG);
    if (w == pid) break;
    if (now_s() - t0 > HARD_LIMIT_S) {
      kill(-pid, SIGKILL); /* our own trial's group, by id */
      waitpid(pid, &t->status, 0);
      t->status = -1;
      break;
    }
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL);
  }
  t->seconds = now_s() - t0;
  /* give the launcher's teardown a moment, then see whether anything of the group survived */
  t->leftovers = 0;
  for (int i = 0; i < 50; i++) {
    if (kill(-pid, 0) != 0 && errno == ESRCH) break;
    struct timespec ts = {0, 100000000};
    nanosleep(&ts, NULL);
    if (i == 49) {
      t->leftovers = 1;
      kill(-pid, SIGKILL);
    }
  }
  ssize_t n = pread(fd, t->out, sizeof t->out - 1, 0);
  t->out[n > 0 ? n : 0] = '\0';
  close(fd);
  unlink(path);
}

static int exit_code(const trial *t) {
  if (t->status == -1) return -1;
  if (WIFEXITED(t->status)) return WEXITSTATUS(t->status);
  return 128 + WTERMSIG(t->status);
}

static void show(const char *name, const trial *t) {
  printf("---- %s: exit %d after %.2f s, leftovers %d; output:\n%s----\n", name, exit_code(t),
         t->seconds, t->leftovers, t->out);
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s WORKER MPIEXEC NUMPROC_FLAG\n", argv[0]);
    return 2;
  }
  char *worker = argv[1], *mpiexec = argv[2], *npflag = argv[3];
  static trial t;

  /* 1. watchdog: rank 1 of 3 sleeps 60 s before seq 3; ranks 0 and 2 wait there with a 2 s
   *    timeout. Every rank must be gone within timeout + 30 s, the message names rank, op, seq. */
  {
    char *a[] = {mpiexec, npflag, "3", "--oversubscribe", worker, "hang", "1", "60", NULL};
    run(a, NULL, &t);
    show("hang (timeout 2 s)", &t);
    CHECK(exit_code(&t) != 0, "hang: launcher exit 0");
    CHECK(t.seconds >= 2.0 && t.seconds < 2.0 + 30.0, "hang: %.2f s, expected 2..32 s", t.seconds);
    CHECK(strstr(t.out, "comm timeout: allreduce_sum_f32 seq 3 (4000 bytes)") != NULL,
          "hang: no timeout message naming op/seq/size");
    CHECK(strstr(t.out, "[rank 0/3 ") != NULL || strstr(t.out, "[rank 2/3 ") != NULL,
          "hang: the message does not name a waiting rank");
    CHECK(strstr(t.out, "survived") == NULL, "hang: a rank went on");
    CHECK(!t.leftovers, "hang: processes left after the launcher exited");
  }
  /* 2. comm_abort on rank 2 of 3 while the others wait (no watchdog) */
  {
    char *a[] = {mpiexec, npflag, "3", "--oversubscribe", worker, "abort", "2", NULL};
    run(a, NULL, &t);
    show("abort", &t);
    CHECK(exit_code(&t) != 0, "abort: launcher exit 0");
    CHECK(t.seconds < 15.0, "abort: %.2f s", t.seconds);
    CHECK(strstr(t.out, "[rank 2/3 ") && strstr(t.out, "injected fatal error"),
          "abort: no '[rank 2/3 host] injected fatal error' line");
    CHECK(strstr(t.out, "survived") == NULL, "abort: a rank went on");
    CHECK(!t.leftovers, "abort: processes left");
  }
  /* 3./4. a rank dies: exit(3) and SIGKILL in the middle (no watchdog) */
  const char *deaths[] = {"exit", "kill"};
  for (int i = 0; i < 2; i++) {
    char *a[] = {mpiexec, npflag, "3", "--oversubscribe", worker, (char *)deaths[i], "1", NULL};
    run(a, NULL, &t);
    show(deaths[i], &t);
    CHECK(exit_code(&t) != 0, "%s: launcher exit 0", deaths[i]);
    CHECK(t.seconds < 15.0, "%s: %.2f s", deaths[i], t.seconds);
    CHECK(strstr(t.out, "survived") == NULL, "%s: a rank went on", deaths[i]);
    CHECK(!t.leftovers, "%s: processes left", deaths[i]);
  }
  /* 5. a singleton without mpirun works (world size 1) */
  {
    char *a[] = {worker, "init", NULL};
    run(a, NULL, &t);
    show("singleton", &t);
    CHECK(exit_code(&t) == 0, "singleton: exit %d", exit_code(&t));
    CHECK(strstr(t.out, "rank 0/1 local 0/1") != NULL, "singleton: no 'rank 0/1 local 0/1'");
  }
  /* 6. the cross-check: a singleton told by the launcher's variable that the world is 5 */
  {
    char *a[] = {worker, "init", NULL};
    run(a, "OMPI_COMM_WORLD_SIZE=5", &t);
    show("OMPI_COMM_WORLD_SIZE=5 singleton", &t);
    CHECK(exit_code(&t) == 2, "env check: exit %d, expected 2", exit_code(&t));
    CHECK(strstr(t.out, "world size 1 but OMPI_COMM_WORLD_SIZE=5") != NULL, "env check: message");
    const char *nl = strchr(t.out, '\n');
    CHECK(nl && nl[1] == '\0', "env check: not exactly one line");
  }
  return test_finish("test_comm_faults");
}
