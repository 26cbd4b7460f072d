#!/bin/sh
# Data-parallel equivalence of nvae-train (label mpi): on a tiny Fashion-MNIST dataset, 2 ranks
# x train.batch_size=4 under mpirun and 1 process x train.batch_size=8, same seed, 5 steps
# (the config's learning-rate warm-up: lr 0, 1e-4, ..., 4e-4), must give the same model after
# EVERY step (a checkpoint per step: checkpoints/step-*/model.h5) and the same final/model.h5:
# every parameter, BN statistic and SR vector within 1e-5 relative (tests/train/compare_model_h5.py;
# the float32 all-reduce sums in another order). comm.param_check_every_steps=1 makes the 2 ranks
# check every step that they hold bit-identical parameters (a difference ends the run). The
# gradient buckets are small (comm.bucket_mb=0.25: 8 buckets) so several overlap backward. Sync-BN and global KL balancing are on (the
# config's defaults), so the 2 ranks see the global batch of 8 as one process does; the sampler
# gives rank r the r-th slice of the same global batch and the Philox keys are global positions.
# Then the failure policy under mpirun: a config error exits 2 on every rank with one message; a
# set-up error on rank 0 only (an uncreatable run directory) ends the job with "[rank 0/2".
#   test_train_mpi_equiv.sh BIN_DIR SOURCE_DIR MPIEXEC
set -u
BIN=$1 SRC=$2 MPIEXEC=$3
T=$(mktemp -d /tmp/trainer-mpi-equiv-XXXXXX)
trap 'rm -rf "$T"' EXIT
. "$SRC/tests/train/tiny_data.sh"
/usr/bin/python3 -c "import h5py" 2>/dev/null || { echo "skipped: no h5py"; exit 77; }
tiny_fmnist_data "$T"
CFG="$SRC/configs/fmnist-small.yaml"
set -- --config "$CFG" data.path="$T/data" train.max_steps=5 train.seed=3 \
  train.deterministic=true log.every_steps=1 eval.every_steps=5 eval.max_images=8 \
  eval.iw_samples=1 log.image_every_steps=0 log.tensorboard=false checkpoint.every_steps=1 \
  checkpoint.keep_last=5 checkpoint.every_minutes=0 comm.param_check_every_steps=1 \
  comm.bucket_mb=0.25
fail=0

"$BIN/nvae-train" "$@" --run-dir "$T/one" train.batch_size=8 > "$T/one.log" 2>&1 ||
  { cat "$T/one.log"; echo "FAIL: 1 process"; exit 1; }
"$MPIEXEC" -np 2 --oversubscribe "$BIN/nvae-train" "$@" --run-dir "$T/two" train.batch_size=4 \
  > "$T/two.log" 2>&1 || { cat "$T/two.log"; echo "FAIL: 2 ranks"; exit 1; }
echo "--- 1 process, batch 8"; grep -E "^(step|validation|done)" "$T/one.log"
echo "--- 2 ranks, batch 4"; grep -E "^(comm|schedule|step|validation|done)" "$T/two.log"
grep -q "global batch 8 on 2 rank(s)" "$T/two.log" || { echo "FAIL: not 2 ranks"; fail=1; }
[ "$(grep -c '^step [0-9]*/' "$T/two.log")" -eq 5 ] || { echo "FAIL: want 5 progress lines (rank 0 only)"; fail=1; }
for k in 1 2 3 4 5; do
  ck=checkpoints/step-$(printf %08d $k)/model.h5
  [ -f "$T/one/$ck" ] && [ -f "$T/two/$ck" ] || { echo "FAIL: $ck missing"; fail=1; continue; }
  printf "after step %d: " $k
  /usr/bin/python3 "$SRC/tests/train/compare_model_h5.py" "$T/one/$ck" "$T/two/$ck" 1e-5 1e-7 ||
    fail=1
done
printf "final: "
/usr/bin/python3 "$SRC/tests/train/compare_model_h5.py" "$T/one/final/model.h5" \
  "$T/two/final/model.h5" 1e-5 1e-7 || fail=1
# logged metrics averaged over ranks and validation summed over ranks: the same rows (1e-5)
/usr/bin/python3 - "$T/one/metrics.jsonl" "$T/two/metrics.jsonl" <<'PY' || fail=1
import json, sys
a, b = ([json.loads(l) for l in open(p)] for p in sys.argv[1:3])
assert len(a) == len(b), (len(a), len(b))
worst = 0.0
for ra, rb in zip(a, b):
    assert sorted(ra) == sorted(rb), (ra, rb)
    for k in ra:
        if k in ("images_per_s",) or not isinstance(ra[k], (int, float)):
            continue
        d = abs(ra[k] - rb[k]) / max(abs(ra[k]), abs(rb[k]), 1e-12)
        worst = max(worst, d)
        assert d <= 1e-5, (k, ra[k], rb[k], ra.get("step"))
print("metrics.jsonl: %d rows agree, max relative difference %.3g" % (len(a), worst))
PY

# failure policy under mpirun
"$MPIEXEC" -np 2 --oversubscribe "$BIN/nvae-train" "$@" train.batch_sise=4 > "$T/o" 2> "$T/e"
rc=$?
n=$(grep -c "did you mean" "$T/e")
if [ $rc -ne 2 ] || [ "$n" -ne 1 ]; then
  echo "FAIL: config error under mpirun: exit $rc (want 2), $n messages (want 1)"; cat "$T/e"; fail=1
else echo "ok: config error: exit 2, one message"; fi
"$MPIEXEC" -np 2 --oversubscribe "$BIN/nvae-train" "$@" --run-dir /proc/nvae-no-such-dir \
  > "$T/o" 2> "$T/e"
rc=$?
if [ $rc -eq 0 ] || ! grep -q "^\[rank 0/2 .*cannot create" "$T/e"; then
  echo "FAIL: rank-0-only error: exit $rc"; cat "$T/e"; fail=1
else echo "ok: rank-0-only error: exit $rc, $(grep '^\[rank 0/2' "$T/e")"; fi
exit $fail
