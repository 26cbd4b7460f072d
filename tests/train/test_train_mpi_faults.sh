#!/bin/sh
# Failure handling of nvae-train under mpirun (label mpi; RELIABILITY.md §5), with faults injected
# through NVAE_FAULT (trainer/train_fault.h) on a tiny Fashion-MNIST run of 2 ranks:
#  (c) a rank SIGKILLed mid-step, and a rank that stalls mid-step with comm.timeout_s=5: every rank
#      exits non-zero within timeout + 30 s, and stderr names the failed rank (kill: the launcher's
#      "rank 1 ... Killed"/"signal 9"), or the collective (stall: "comm timeout: <op> seq S (B
#      bytes)" from the watchdog);
#  (d) a NaN injected on one rank in the last step (in its gradient before the all-reduce, or in
#      its loss after it, which no other rank sees): every rank skips that step, and the final
#      parameters equal those of a run one step shorter (a constant learning rate, KL weight and
#      regulariser weight make the schedules of the two runs the same).
# Also: comm.param_check_every_steps=1 checks every step that the ranks hold identical parameters.
#   test_train_mpi_faults.sh BIN_DIR SOURCE_DIR MPIEXEC
set -u
BIN=$1 SRC=$2 MPIEXEC=$3
T=$(mktemp -d /tmp/trainer-mpi-faults-XXXXXX)
trap 'rm -rf "$T"' EXIT
. "$SRC/tests/train/tiny_data.sh"
/usr/bin/python3 -c "import h5py" 2>/dev/null || { echo "skipped: no h5py"; exit 77; }
tiny_fmnist_data "$T"
set -- --config "$SRC/configs/fmnist-small.yaml" data.path="$T/data" train.seed=5 \
  train.batch_size=4 train.deterministic=true log.every_steps=1 eval.max_images=8 \
  eval.iw_samples=1 log.image_every_steps=0 log.tensorboard=false \
  optim.warmup_steps=0 train.kl_beta=1.0 comm.param_check_every_steps=1
fail=0
mpirun2() { "$MPIEXEC" -np 2 --oversubscribe "$BIN/nvae-train" "$@"; }

# ---- (c) a killed rank, a stalled rank ----
for kind in kill stall; do
  t0=$(date +%s)
  NVAE_FAULT="$kind@1:3" mpirun2 "$@" train.max_steps=6 comm.timeout_s=5 --run-dir "$T/$kind" \
    > "$T/$kind.out" 2> "$T/$kind.err"
  rc=$? dt=$(($(date +%s) - t0))
  case $kind in
    kill) want='rank 1.*(signal 9|Killed|killed)|(signal 9|Killed).*rank 1' ;;
    stall) want='comm timeout: [a-z_0-9]+ seq [0-9]+ \([0-9]+ bytes\)' ;;
  esac
  if [ $rc -eq 0 ] || [ $dt -gt 35 ] || ! grep -Eq "$want" "$T/$kind.err"; then
    echo "FAIL: $kind: exit $rc after $dt s (want non-zero within 35 s and /$want/)"
    cat "$T/$kind.err"; fail=1
  else
    echo "ok: $kind of rank 1 at step 3: exit $rc after $dt s: $(grep -Em1 "$want" "$T/$kind.err")"
  fi
  # rank 0 must not have written a final model for a job that failed
  [ ! -e "$T/$kind/final/model.h5" ] || { echo "FAIL: $kind: final/model.h5 written"; fail=1; }
done

# ---- (d) NaN on one rank in step 4 of 4 = 3 updates ----
mpirun2 "$@" train.max_steps=3 --run-dir "$T/three" > "$T/three.log" 2>&1 ||
  { cat "$T/three.log"; echo "FAIL: reference run of 3 steps"; exit 1; }
for kind in nan nanloss; do
  NVAE_FAULT="$kind@1:4" mpirun2 "$@" train.max_steps=4 --run-dir "$T/$kind" > "$T/$kind.log" 2>&1 ||
    { cat "$T/$kind.log"; echo "FAIL: $kind run"; fail=1; continue; }
  grep -q "^step 4: non-finite loss or gradients .* update skipped" "$T/$kind.log" &&
    grep -q "^done: 4 steps, .* 1 skipped" "$T/$kind.log" ||
    { echo "FAIL: $kind: no agreed skip logged"; grep -E "^(step|done)" "$T/$kind.log"; fail=1; }
  # every parameter equal to the 3-update run's (BN statistics and SR vectors move in the skipped
  # step's forward, as in PyTorch, so only parameters are compared)
  /usr/bin/python3 - "$T/three/final/model.h5" "$T/$kind/final/model.h5" <<'PY' ||
import sys, h5py, numpy as np
names = []
with h5py.File(sys.argv[1], "r") as a, h5py.File(sys.argv[2], "r") as b:
    a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    params = [n for n in names if not n.startswith("sr/") and not any(
        n.endswith(s) for s in ("running_mean", "running_var", "num_batches_tracked"))]
    diff = [n for n in params if n in b and not np.array_equal(a[n][()], b[n][()])]
    moved = [n for n in names if n not in params and n in b and not np.array_equal(a[n][()], b[n][()])]
print("  %d parameter datasets compared, %d differ; %d statistics/SR datasets moved" % (len(params), len(diff), len(moved)))
sys.exit(1 if diff or not params else 0)
PY
    { echo "FAIL: $kind: parameters changed in the skipped step"; fail=1; continue; }
  echo "ok: $kind on rank 1 in step 4: every rank skipped, parameters unchanged"
done
exit $fail
