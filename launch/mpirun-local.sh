#!/bin/sh
# Runs an MPI program on this machine with sensible local defaults:
#   launch/mpirun-local.sh -n 4 build/tools/nvae-train --config configs/celeba64.yaml [key=value ...]
# - OMP_NUM_THREADS = cores / ranks (at least 1), unless already set, so ranks do not fight over
#   the cores;
# - --oversubscribe only when there are more ranks than cores (Open MPI refuses otherwise);
# - --allow-run-as-root only when running as root (containers; Open MPI refuses otherwise);
# - --bind-to none: a rank's loader and OpenMP threads need more than one core.
# Extra mpirun options go before the program after "--mpi": -n 2 --mpi -x NCCL_DEBUG=INFO -- prog
set -eu

usage() {
  echo "usage: $0 -n RANKS [--mpi MPIRUN_OPTION ... --] PROGRAM [ARGS ...]" >&2
  exit 2
}

ranks=""
extra=""
while [ $# -gt 0 ]; do
  case "$1" in
    -n|-np) [ $# -ge 2 ] || usage; ranks="$2"; shift 2 ;;
    --mpi)
      shift
      while [ $# -gt 0 ] && [ "$1" != "--" ]; do extra="$extra $1"; shift; done
      [ $# -gt 0 ] || usage
      shift ;;
    -h|--help) usage ;;
    *) break ;;
  esac
done
if [ -z "$ranks" ] || [ $# -lt 1 ]; then usage; fi
case "$ranks" in ''|*[!0-9]*|0) echo "$0: -n wants a positive integer, got '$ranks'" >&2; exit 2 ;; esac

cores=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
if [ -z "${OMP_NUM_THREADS:-}" ]; then
  threads=$((cores / ranks))
  [ "$threads" -ge 1 ] || threads=1
  OMP_NUM_THREADS=$threads
  export OMP_NUM_THREADS
fi

flags="--bind-to none -x OMP_NUM_THREADS"
[ "$ranks" -gt "$cores" ] && flags="$flags --oversubscribe"
[ "$(id -u)" -eq 0 ] && flags="$flags --allow-run-as-root"

# shellcheck disable=SC2086  # flags and extra are word lists on purpose
exec mpirun -np "$ranks" $flags $extra "$@"
