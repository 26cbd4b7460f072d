/* The monotonic clock every timer of the project reads (step timing, checkpoints, benchmarks). */
#ifndef NVAE_KERNELS_BASE_CLOCK_H
#define NVAE_KERNELS_BASE_CLOCK_H

/* Seconds of CLOCK_MONOTONIC (an arbitrary origin: use differences). */
double nvae_now_s(void);

#endif
