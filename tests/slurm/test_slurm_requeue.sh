#!/usr/bin/env bash
# Preemption -> checkpoint -> requeue -> resume on a REAL Slurm (label slurm; DESIGN.md §5, §7).
# Starts a private single-node Slurm on localhost (tests/slurm/slurm_local.sh: own munged,
# slurmctld, slurmd, generated slurm.conf, daemons stopped by PID on every exit), then submits
# launch/sbatch-cpu.sh twice with the same tiny deterministic training (2 ranks, srun --mpi=pmix):
#   B: once it has made progress, 'scancel --signal=USR1 --batch' (what --signal=B:USR1@secs does
#      at the time limit) -> the template's trap passes USR1 to the ranks -> they checkpoint and
#      exit 75 -> the template runs 'scontrol requeue' -> Slurm restarts the job (same id,
#      SLURM_RESTART_COUNT=1, after AuthInfo cred_expire = 10 s) -> --resume auto continues from
#      the checkpoint -> the job completes;
#   A: the same run, uninterrupted (it runs while B waits for its restart).
# Checks: B went through every stage in its appended log, stopped mid-run, resumed at the
# checkpointed step (not from scratch), ended COMPLETED with Restarts=1; A's and B's
# final/model.h5 are bit-identical (every dataset's bytes) and so are their logged metrics after
# the resume point. Also: the body of every launch/sbatch-*.sh template is the same.
# Skips (77) only when Slurm cannot run here (packages missing, not root) or the test data is not
# installed; everything else that goes wrong is a failure.
#   test_slurm_requeue.sh BIN_DIR SOURCE_DIR
set -u
BIN=$1 SRC=$2
STEPS=${NVAE_SLURM_TEST_STEPS:-400} # 40-130 ms per step on a 2-core machine: 15-50 s per job
SIGNAL_AT=30                        # signal B once it has logged this step

# shellcheck source=tests/slurm/slurm_local.sh
. "$SRC/tests/slurm/slurm_local.sh"
why=$(slurm_local_check) || { echo "skipped: Slurm cannot run here: $why"; exit 77; }
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || {
  echo "skipped: Fashion-MNIST (dataset-fashion-mnist) is not installed"; exit 77; }
/usr/bin/python3 -c "import h5py" 2> /dev/null || { echo "skipped: no h5py"; exit 77; }

fail=0
bad() { echo "FAIL: $*"; fail=1; }
t0=$(date +%s)
say() { echo "[test +$(($(date +%s) - t0))s] $*"; }

# The three templates share one body (from '# ---- common body' on): the tested one is the shipped one.
body() { sed -n '/^# ---- common body/,$p' "$1"; }
for f in "$SRC"/launch/sbatch-1node-8gpu.sh "$SRC"/launch/sbatch-multinode.sh; do
  if ! cmp -s <(body "$SRC/launch/sbatch-cpu.sh") <(body "$f"); then
    bad "the body of $(basename "$f") differs from launch/sbatch-cpu.sh"
  fi
done

T=$(mktemp -d /tmp/slurm-requeue-XXXXXX)
chmod 755 "$T" # munged wants the directories above its socket searchable by all
# shellcheck disable=SC2317  # the EXIT trap
cleanup() {
  slurm_local_stop "$T/slurm"
  if [ "$fail" -ne 0 ] && [ -d "$T/slurm/log" ]; then
    for l in slurmctld slurmd; do echo "--- tail of $l.log"; tail -n 15 "$T/slurm/log/$l.log"; done
  fi
  rm -rf "$T"
}
trap cleanup EXIT
trap 'fail=1; exit 1' INT TERM HUP

/usr/bin/python3 "$SRC/tests/train/make_tiny_idx.py" "$T/idx" 256 64 || exit 1
"$BIN/nvae-prep" idx --train "$T/idx/train-idx3" --test "$T/idx/test-idx3" --out "$T/data" \
  > "$T/prep.log" 2>&1 || { cat "$T/prep.log"; exit 1; }

# Without checkpoint/resume in nvae-train the requeued job cannot resume: fail now, saying so.
if "$BIN/nvae-train" --config "$SRC/configs/fmnist-small.yaml" data.path="$T/data" \
     --run-dir "$T/probe" --resume "$T/no-such-checkpoint" --dry-run 2>&1 |
     grep "later issue"; then
  echo "FAIL: this nvae-train has no checkpoint/resume yet (see the line above)"
  fail=1
  exit 1
fi

slurm_local_start "$T/slurm" || { fail=1; echo "FAIL: the local Slurm did not start"; exit 1; }
say "local Slurm up: $(sinfo -h -N -o '%N %T %c CPUs') (SLURM_CONF=$SLURM_CONF)"

# srun --mpi=pmix is the template's default; Debian 12's Slurm has pmix_v4. Where it is missing,
# the template's documented fallback is Open MPI's mpirun inside the allocation.
if srun --mpi=list 2>&1 | grep -qw pmix; then
  export NVAE_LAUNCH=srun
else
  export NVAE_LAUNCH=mpirun
  say "srun --mpi=list has no pmix: using the template's NVAE_LAUNCH=mpirun"
  srun --mpi=list 2>&1
fi

# A tiny deterministic run: fmnist-small shrunk, 2 ranks x batch 4; only the preemption
# checkpoint and the final one (periodic checkpoints off), validation at the end only.
export NVAE_TRAIN="$BIN/nvae-train" NVAE_CONFIG="$SRC/configs/fmnist-small.yaml"
export OMP_NUM_THREADS=1
export NVAE_ARGS="data.path=$T/data train.max_steps=$STEPS train.batch_size=4 train.seed=5
  train.deterministic=true model.num_channels_enc=8 model.num_channels_dec=8
  model.num_groups_per_scale=2 model.num_latent_per_group=4 log.every_steps=10
  log.image_every_steps=0 log.tensorboard=false eval.every_steps=1000000 eval.max_images=8
  eval.iw_samples=1 checkpoint.every_steps=0 checkpoint.every_minutes=0 checkpoint.keep_last=5"

submit() { # submit NAME: prints the job id
  NVAE_RUN_DIR="$T/$1/run" sbatch --parsable --job-name="nvae-$1" --ntasks=2 --cpus-per-task=1 \
    --chdir="$T" --output="$T/$1.out" "$SRC/launch/sbatch-cpu.sh"
}
state() { scontrol show job "$1" 2> /dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }
last_step() { grep -o '^step [0-9]*/' "$1" 2> /dev/null | tail -n 1 | tr -dc 0-9; }

B=$(submit B) || { bad "sbatch failed"; exit 1; }
say "submitted job $B (to be preempted)"
n=0
until [ "$(last_step "$T/B.out")" -ge "$SIGNAL_AT" ] 2> /dev/null; do
  n=$((n + 1))
  if [ $n -gt 360 ] || [ "$(state "$B")" = FAILED ] || [ "$(state "$B")" = COMPLETED ]; then
    bad "job $B did not reach step $SIGNAL_AT in 180 s (state $(state "$B"))"
    cat "$T/B.out"
    exit 1
  fi
  sleep 0.5
done
scancel --signal=USR1 --batch "$B" || bad "scancel --signal=USR1 --batch $B"
say "sent USR1 to the batch shell of job $B at logged step $(last_step "$T/B.out")"

# Wait for the first run's end; note the LATEST checkpoint before the restart can write another.
latest=""
n=0
until grep -q "nvae-train exited with" "$T/B.out"; do
  n=$((n + 1))
  [ $n -le 240 ] || { bad "job $B did not stop within 120 s of USR1"; cat "$T/B.out"; exit 1; }
  sleep 0.5
done
[ -f "$T/B/run/checkpoints/LATEST" ] && latest=$(cat "$T/B/run/checkpoints/LATEST")
say "first run of $B: $(grep -o 'nvae-train exited with.*' "$T/B.out" | head -n 1), LATEST='$latest'"

A=$(submit A) || { bad "sbatch failed"; exit 1; }
say "submitted job $A (uninterrupted reference)"

# Both to their end (B: requeue delay + the rest of the run)
for j in "$B" "$A"; do
  n=0
  while :; do
    s=$(state "$j")
    case "$s" in COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE) break ;; esac
    n=$((n + 1))
    [ $n -le 600 ] || { bad "job $j not finished after 300 s more (state $s)"; break; }
    sleep 0.5
  done
done
say "job $B: $(scontrol show job "$B" | grep -o -E '(JobState|Restarts|ExitCode)=[^ ]*' | tr '\n' ' ')"
say "job $A: $(scontrol show job "$A" | grep -o -E '(JobState|Restarts|ExitCode)=[^ ]*' | tr '\n' ' ')"
echo "--- job $B log (progress lines elided)"
grep -v -E '^step [0-9]+/' "$T/B.out" | grep -v '^ ' | head -n 60

# B: the stages, in order, in its one appended log
info=$(scontrol show job "$B")
echo "$info" | grep -q 'JobState=COMPLETED' || bad "job $B did not complete"
echo "$info" | grep -q 'Restarts=1 ' || bad "job $B: want Restarts=1"
echo "$info" | grep -q 'ExitCode=0:0' || bad "job $B: want ExitCode=0:0"
scontrol show job "$A" | grep -q 'JobState=COMPLETED' || bad "job $A (reference) did not complete"
/usr/bin/python3 - "$T/B.out" << 'PY' || bad "job $B log: the stages are not all there in order"
import re, sys
log = open(sys.argv[1]).read()
stages = [r"\(restart 0\)", r"USR1: asking the ranks", r"nvae-train exited with 75",
          r"requeueing job", r"\(restart 1\)", r"nvae-train exited with 0"]
pos = 0
for s in stages:
    m = re.compile(s).search(log, pos)
    if not m:
        print("missing after offset %d: %s" % (pos, s))
        sys.exit(1)
    pos = m.end()
print("ok: job log has every stage in order:", " -> ".join(s.replace("\\", "") for s in stages))
PY

# the checkpoint of the signal: LATEST named it when the first run ended, mid-run
stop=$(echo "$latest" | sed -n 's/^step-0*\([0-9][0-9]*\)$/\1/p')
if [ -z "$stop" ] || [ "$stop" -le 0 ] || [ "$stop" -ge "$STEPS" ]; then
  bad "after the first run LATEST should name a mid-run checkpoint step-XXXXXXXX, found '$latest'"
  stop=0
else
  say "ok: checkpointed on the signal at step $stop of $STEPS"
  [ -d "$T/B/run/checkpoints/$latest" ] || bad "checkpoint $latest is gone"
fi
# the second run continued from it: its first progress line is the first multiple of 10 after it
first=$(sed -n '/(restart 1)/,$p' "$T/B.out" | grep -o '^step [0-9]*/' | head -n 1 | tr -dc 0-9)
if [ "$stop" -gt 0 ]; then
  if [ -z "$first" ] || [ "$first" -le "$stop" ] || [ "$first" -gt $((stop + 10)) ]; then
    bad "after the requeue the first progress line is step '${first}', want one in ($stop, $((stop + 10))]"
  else
    say "ok: the requeued run resumed (first progress line: step $first)"
    sed -n '/(restart 1)/,$p' "$T/B.out" | grep -m 1 '^resum' # the trainer's own words, if any
  fi
fi

# bit-identical final parameters (every dataset of final/model.h5) and logged metrics
/usr/bin/python3 - "$T/A/run" "$T/B/run" "$stop" << 'PY' || fail=1
import json, sys
import h5py
import numpy as np
a_dir, b_dir, stop = sys.argv[1], sys.argv[2], int(sys.argv[3])
def datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: out.__setitem__(n, np.asarray(o[()]))
                     if isinstance(o, h5py.Dataset) else None)
        attrs = {k: f.attrs[k] for k in ("step", "epoch") if k in f.attrs}
    return out, attrs
(da, aa), (db, ab) = (datasets(d + "/final/model.h5") for d in (a_dir, b_dir))
bad = 0
if sorted(da) != sorted(db):
    print("FAIL: final/model.h5 dataset names differ:", sorted(set(da) ^ set(db))[:10]); bad = 1
diff = [n for n in sorted(set(da) & set(db))
        if da[n].dtype != db[n].dtype or da[n].shape != db[n].shape
        or da[n].tobytes() != db[n].tobytes()]
nvals = sum(da[n].size for n in da)
if diff:
    n = diff[0]
    print("FAIL: %d of %d datasets of final/model.h5 differ, e.g. %s: max |a-b| %g" % (
        len(diff), len(da), n, float(np.max(np.abs(da[n].astype(np.float64) - db[n].astype(np.float64))))
        if da[n].shape == db[n].shape else -1))
    bad = 1
if str(aa) != str(ab):
    print("FAIL: final/model.h5 attributes differ:", aa, ab); bad = 1
if not bad:
    print("ok: final/model.h5 bit-identical to the uninterrupted run: %d datasets, %d values, %s"
          % (len(da), nvals, aa))
def rows(d):  # {(kind, step): row}: training, per-group KL and validation rows
    out = {}
    for line in open(d + "/metrics.jsonl"):
        r = json.loads(line)
        kind = r["split"] if "split" in r else "groups" if "active_total" in r else "train"
        out[(kind, r["step"])] = r   # the last row per step wins
    return out
ra, rb = rows(a_dir), rows(b_dir)
timing = {"images_per_s", "step_ms", "eta_s", "seconds", "time"}  # wall-clock: may differ
checked = 0
for k, r in sorted(rb.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    if k[1] <= stop:
        continue
    if k not in ra:
        print("FAIL: metrics row", k, "only in the preempted run"); bad = 1; continue
    if sorted(r) != sorted(ra[k]):
        print("FAIL: metrics row", k, "has other keys:", sorted(set(r) ^ set(ra[k]))); bad = 1
    for f in sorted(set(r) & set(ra[k]) - timing):
        if r[f] != ra[k][f]:
            print("FAIL: metrics", k, f, r[f], "vs", ra[k][f]); bad = 1
    checked += 1
missing = [k for k in ra if k[1] > stop and k not in rb]
if missing:
    print("FAIL: metrics rows missing after the resume:", missing[:5]); bad = 1
if checked == 0:
    print("FAIL: no metrics rows after the resume"); bad = 1
elif not bad:
    print("ok: %d metrics rows after step %d identical to the uninterrupted run" % (checked, stop))
sys.exit(bad)
PY

say "done: $([ $fail -eq 0 ] && echo PASSED || echo FAILED)"
exit $fail
