/* The preemption flag (ckpt_signal.h). */
#define _POSIX_C_SOURCE 200809L
#include "trainer/ckpt_signal.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t received;

static void on_signal(int signo) { received = signo; }

int ckpt_signal_install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGUSR1, &sa, NULL) != 0) return -1;
  return 0;
}

int ckpt_signal_pending(void) { return (int)received; }

const char *ckpt_signal_name(int signo) {
  return signo == SIGTERM ? "SIGTERM" : signo == SIGUSR1 ? "SIGUSR1" : "a signal";
}
