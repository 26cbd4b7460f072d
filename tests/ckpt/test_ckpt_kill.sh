#!/bin/sh
# Kill during a checkpoint write (RELIABILITY.md S3; DESIGN.md §5): 20 trials. Each starts from a
# committed checkpoint at step 2, trains to step 4 and is SIGKILLed while writing the step-4
# checkpoint: one rank or every rank (2 ranks under mpirun; some trials with 1 process), at a
# point drawn from the whole commit protocol (NVAE_CKPT_FAULT, trainer/ckpt_hooks.h): mid-file,
# files written, files durable, before/after MANIFEST, after the rename, LATEST.tmp written,
# LATEST replaced, mid-retention. Then a relaunch with --resume auto must resume from the newest
# committed checkpoint (the one LATEST names after the kill: step 2, or step 4 once the rename
# and LATEST were done), never from a partial one (the .tmp directory is removed), and finish
# with a final/model.h5 bit-identical to an uninterrupted run's.
#   test_ckpt_kill.sh BIN_DIR SOURCE_DIR MPIEXEC [SEED]
set -u
BIN=$1 SRC=$2 MPIEXEC=$3 SEED=${4:-6}
T=$(mktemp -d /tmp/ckpt-kill-XXXXXX)
trap 'rm -rf "$T"' EXIT
. "$SRC/tests/ckpt/ckpt_lib.sh"
ckpt_setup
S="train.max_steps=4 checkpoint.every_steps=2 checkpoint.keep_last=1"
run() { # RANKS ARGS...
  n=$1
  shift
  if [ "$n" = 2 ]; then train2 "$@"; else train "$@"; fi
}
for n in 1 2; do
  run $n $S --run-dir "$T/ref$n" > "$T/ref$n.log" 2>&1 ||
    { cat "$T/ref$n.log"; echo "FAIL: reference run, $n rank(s)"; exit 1; }
  NVAE_CKPT_FAULT=sigusr1@0:2 run $n $S --run-dir "$T/base$n" > "$T/base$n.log" 2>&1
  [ $? -eq 75 ] || { cat "$T/base$n.log"; echo "FAIL: base run, $n rank(s)"; exit 1; }
done
# 20 trials (ranks point who), drawn with a fixed seed so a failure reproduces
$PY - "$SEED" > "$T/trials" <<'PY'
import random, sys
r = random.Random(int(sys.argv[1]))
every = ["optim_partial", "optim_written", "rank_written", "files_synced"]
rank0 = ["before_manifest", "manifest_written", "renamed", "latest_tmp", "latest_replaced",
         "retention"]
for i in range(20):
    n = 1 if i % 4 == 3 else 2
    point = r.choice(every + rank0)
    who = "0" if n == 1 else r.choice(["all", "0", "1"] if point in every else ["all", "0"])
    print(n, point, who)
PY
echo "seed $SEED"
i=0
while read -r n point who; do
  i=$((i + 1))
  R=$T/trial$i
  cp -r "$T/base$n" "$R"
  NVAE_CKPT_FAULT=$point@$who:4 run $n $S --run-dir "$R" --resume auto < /dev/null > "$R.kill.log" 2>&1
  rc=$?
  want=$(latest "$R")
  killed=$(grep -c "NVAE_CKPT_FAULT: killed at" "$R.kill.log")
  left=$(ls -d "$R"/checkpoints/step-*.tmp "$R"/checkpoints/step-*.del 2>/dev/null | wc -l)
  run $n $S --run-dir "$R" --resume auto < /dev/null > "$R.resume.log" 2>&1
  rc2=$?
  got=$(sed -n 's/^resumed .*step-0*\([0-9][0-9]*\): step .*/\1/p' "$R.resume.log")
  partial=$(ls -d "$R"/checkpoints/step-*.tmp 2>/dev/null | wc -l)
  same=1
  $PY "$SRC/tests/ckpt/compare_ckpt.py" models "$T/ref$n/final/model.h5" \
    "$R/final/model.h5" > "$R.cmp" 2>&1 || same=0
  if [ $rc -ne 0 ] && [ "$killed" -ge 1 ] && [ $rc2 -eq 0 ] && [ "$got" = "$want" ] &&
     [ "$partial" -eq 0 ] && [ $same -eq 1 ]; then
    echo "ok: trial $i: $n rank(s), kill $who at $point: exit $rc, LATEST step $want, $left partial dir(s) left; resumed from step $got; final model bit-identical"
  else
    echo "FAIL: trial $i: $n rank(s), kill $who at $point: exit $rc (killed $killed), LATEST $want, resumed from '$got' (exit $rc2), partial dirs after relaunch $partial, same final model $same"
    tail -5 "$R.kill.log"; tail -15 "$R.resume.log"; cat "$R.cmp"
    fail=1
  fi
  rm -rf "$R"
done < "$T/trials"
exit $fail
