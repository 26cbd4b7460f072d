#!/bin/bash
# nvae-train on several nodes with 8 GPUs each: one MPI rank per GPU, NCCL between them (the
# trainer picks local_rank % visible GPUs; local rank from MPI_Comm_split_type). Preemption-safe:
# USR1 before the time limit -> checkpoint -> requeue -> --resume auto. docs/slurm.md explains
# every line. The global batch is nodes x 8 x train.batch_size (per rank).
#   NVAE_CONFIG=configs/celeba64.yaml sbatch --nodes=4 launch/sbatch-multinode.sh
#SBATCH --job-name=nvae-celeba64
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=8          # one MPI rank per GPU
#SBATCH --gpus-per-node=8            # older sites: --gres=gpu:8
#SBATCH --cpus-per-task=8            # loader threads per rank: about cores / 8
#SBATCH --exclusive                  # whole nodes: NCCL and the loaders want them
#SBATCH --time=24:00:00
#SBATCH --output=%x-%j.out
#SBATCH --open-mode=append           # one log across requeues (a requeue reruns this script)
#SBATCH --signal=B:USR1@300          # USR1 to this script (B:) 300 s before the time limit
#SBATCH --requeue

# ---- common body of launch/sbatch-*.sh: keep it identical in every template (a test checks) ----
# Settings: the environment at submission time (sbatch exports it), else these defaults.
#   NVAE_TRAIN      the nvae-train binary            (default: build/tools/nvae-train, else PATH)
#   NVAE_CONFIG     the run's YAML config            (default: configs/celeba64.yaml)
#   NVAE_RUN_DIR    the run directory; a requeued or resubmitted job resumes from its
#                   checkpoints (default: runs/<job name>)
#   NVAE_ARGS       more nvae-train arguments, e.g. "train.batch_size=16 checkpoint.every_minutes=20"
#   NVAE_LAUNCH     srun (default: srun --mpi=$NVAE_SRUN_MPI) or mpirun (Open MPI's mpirun
#                   inside the allocation: for clusters whose Slurm lacks a working PMIx plugin)
#   NVAE_SRUN_MPI   srun's MPI plugin (default: pmix; 'srun --mpi=list' shows what exists)
#   NVAE_SRUN_ARGS  more srun (or mpirun) options
# Exit codes of nvae-train (DESIGN.md §6): 0 done, 1 runtime failure, 2 bad usage or input,
# 75 checkpointed on a signal: after USR1 this script requeues the job, which resumes with
# --resume auto; after SIGTERM (scancel, time limit) it does not: submit again to continue.
set -u
cd "${SLURM_SUBMIT_DIR:-.}" || exit 1
say() { echo "[sbatch $(date -u +%H:%M:%S)] $*"; }

if [ -z "${NVAE_TRAIN:-}" ]; then
  NVAE_TRAIN=nvae-train
  [ -x build/tools/nvae-train ] && NVAE_TRAIN=$PWD/build/tools/nvae-train
fi
NVAE_CONFIG=${NVAE_CONFIG:-configs/celeba64.yaml}
NVAE_RUN_DIR=${NVAE_RUN_DIR:-runs/${SLURM_JOB_NAME:-nvae}}
NVAE_ARGS=${NVAE_ARGS:-}
NVAE_LAUNCH=${NVAE_LAUNCH:-srun}
NVAE_SRUN_MPI=${NVAE_SRUN_MPI:-pmix}
NVAE_SRUN_ARGS=${NVAE_SRUN_ARGS:-}

# Slurm >= 22.05: srun no longer inherits --cpus-per-task from sbatch
[ -n "${SLURM_CPUS_PER_TASK:-}" ] && export SRUN_CPUS_PER_TASK=$SLURM_CPUS_PER_TASK
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}
# export NCCL_DEBUG=WARN NCCL_SOCKET_IFNAME=...      # site-specific: ask your admins

case "$NVAE_LAUNCH" in
  srun) launcher="srun --mpi=$NVAE_SRUN_MPI $NVAE_SRUN_ARGS" ;;
  mpirun) launcher="mpirun -np ${SLURM_NTASKS:-1} --bind-to none -x OMP_NUM_THREADS $NVAE_SRUN_ARGS" ;;
  *) say "NVAE_LAUNCH must be srun or mpirun, not '$NVAE_LAUNCH'"; exit 2 ;;
esac
say "job ${SLURM_JOB_ID:-?} start (restart ${SLURM_RESTART_COUNT:-0}) on ${SLURM_JOB_NODELIST:-$(hostname)}:" \
    "${SLURM_NTASKS:-?} ranks, run dir $NVAE_RUN_DIR"

# The signal (--signal=B:USR1@secs, or 'scancel --signal=USR1 --batch') reaches only this shell:
# pass it on to the ranks (srun and mpirun both relay USR1 to every task). The ranks agree at the
# next step boundary, write one checkpoint and exit 75. SIGTERM (time limit, scancel, preemption)
# reaches the ranks from Slurm itself; this shell only keeps waiting so that it sees their exit.
step=""
caught=0
terminated=0
requeueing=0
# shellcheck disable=SC2317  # trap handlers
on_usr1() {
  caught=1
  say "USR1: asking the ranks to checkpoint and stop"
  [ -n "$step" ] && kill -USR1 "$step" 2> /dev/null
}
# shellcheck disable=SC2317
on_term() {
  caught=1
  terminated=1
  if [ "$requeueing" -eq 1 ]; then
    say "TERM: Slurm stops this script for the requeue we asked for"
  else
    say "TERM: the ranks got it from Slurm too; waiting for them (the job ends, no requeue)"
  fi
}
trap on_usr1 USR1
trap on_term TERM

# shellcheck disable=SC2086  # launcher and NVAE_ARGS are word lists on purpose
$launcher "$NVAE_TRAIN" --config "$NVAE_CONFIG" --run-dir "$NVAE_RUN_DIR" --resume auto $NVAE_ARGS &
step=$!
# 'wait' returns early (status > 128) when a trapped signal arrives: wait again for the real status
while :; do
  wait "$step"
  rc=$?
  if [ "$rc" -gt 128 ] && [ "$caught" -eq 1 ]; then
    caught=0
    kill -0 "$step" 2> /dev/null && continue
    wait "$step" 2> /dev/null
    rc2=$?
    [ "$rc2" -ne 127 ] && rc=$rc2
  fi
  break
done
say "nvae-train exited with $rc"

if [ "$rc" -eq 75 ] && [ "$terminated" -eq 1 ]; then
  # SIGTERM: scancel, the time limit or Slurm's own preemption (which requeues by itself). Slurm
  # would even requeue a cancelled job on request, so don't: resubmit to continue.
  say "checkpointed after SIGTERM: not requeued (submit again to continue from the checkpoint)"
elif [ "$rc" -eq 75 ]; then
  # Checkpointed on USR1: put the job back in the queue (same job id; the script reruns from the
  # top and --resume auto continues from <run>/checkpoints/LATEST). Slurm starts a requeued job
  # after a delay (AuthInfo cred_expire, 120 s by default).
  # The requeue ends this script with SIGTERM, possibly before scontrol returns: say it first.
  requeueing=1
  say "requeueing job ${SLURM_JOB_ID:-none} (scontrol requeue)"
  if ! scontrol requeue "${SLURM_JOB_ID:-none}" && [ "$terminated" -eq 0 ]; then
    say "scontrol requeue failed: resubmit this script to continue from the checkpoint"
  fi
fi
exit "$rc"
