/* Preemption (DESIGN.md §5): SIGTERM and SIGUSR1 only set a flag (the handler does nothing else:
 * async-signal-safe); the training loop shares it across ranks at the next step boundary with one
 * all-reduce, every rank writes one checkpoint and the job exits with 75. A second signal, during
 * the write or at any other time, sets the same flag again: the write goes on untouched
 * (SA_RESTART, no longjmp, nothing torn down in the handler). Prefix ckpt_signal_. */
#ifndef NVAE_TRAINER_CKPT_SIGNAL_H
#define NVAE_TRAINER_CKPT_SIGNAL_H

#ifdef __cplusplus
extern "C" {
#endif

/* Installs the handler for SIGTERM and SIGUSR1 (sigaction, SA_RESTART). Returns 0 or -1 (errno). */
int ckpt_signal_install(void);
/* The last signal received (SIGTERM or SIGUSR1), 0 if none. */
int ckpt_signal_pending(void);
/* "SIGTERM" / "SIGUSR1" / "a signal". */
const char *ckpt_signal_name(int signo);

#ifdef __cplusplus
}
#endif

#endif
