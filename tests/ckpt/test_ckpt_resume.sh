#!/bin/sh
# Bit-exact resume, reshard and preemption (DESIGN.md §5):
#  1. one process: 6 steps straight == 3 steps, preempted (SIGUSR1 at the step-3 boundary, and a
#     second signal, SIGTERM, in the middle of the checkpoint write), exit 75, --resume auto, 3
#     more: final/model.h5, the step-6 checkpoint (parameters, BN statistics, SR vectors,
#     optimizer state), metrics.jsonl rows and the sample order, bit for bit;
#  2. the same with 2 ranks under mpirun, the signal on rank 1 only;
#  3. reshard 2 -> 1 rank: refused without --reshard (naming both sizes); with it, the
#     checkpoint re-written at once by 1 rank equals the 2-rank one bit for bit (parameters,
#     optimizer state assembled over the slices, BN statistics), and the run continues at the
#     same sample of the epoch: no sample repeated or skipped;
#  4. real signals: SIGUSR1 to one rank's process, SIGTERM to the other's in a second run: every
#     rank exits 75 with a checkpoint that verifies on resume.
#   test_ckpt_resume.sh BIN_DIR SOURCE_DIR MPIEXEC
set -u
BIN=$1 SRC=$2 MPIEXEC=$3
T=$(mktemp -d /tmp/ckpt-resume-XXXXXX)
trap 'rm -rf "$T"' EXIT
. "$SRC/tests/ckpt/ckpt_lib.sh"
ckpt_setup
S="train.max_steps=6 checkpoint.every_steps=2 checkpoint.keep_last=2"

# ---- 1. one process ----
NVAE_CKPT_TRACE=$T/a.trace train $S --run-dir "$T/a" > "$T/a.log" 2>&1 ||
  { cat "$T/a.log"; echo "FAIL: straight run"; exit 1; }
NVAE_CKPT_TRACE=$T/b.trace NVAE_CKPT_FAULT=sigusr1@0:3,sigwrite@0:3 train $S --run-dir "$T/b" \
  > "$T/b1.log" 2>&1
rc=$?
check "[ $rc -eq 75 ] && grep -q 'stopped on SIG[A-Z0-9]* at step 3' '$T/b1.log'" \
  "1 rank: preempted at step 3, exit $rc (want 75)"
check "[ \$(latest '$T/b') = 3 ]" "1 rank: LATEST names step 3 (SIGTERM arrived during its write)"
NVAE_CKPT_TRACE=$T/b.trace train $S --run-dir "$T/b" --resume auto > "$T/b2.log" 2>&1 ||
  { cat "$T/b2.log"; echo "FAIL: resumed run"; exit 1; }
check "grep -q 'resumed .*step-00000003: step 3' '$T/b2.log'" "1 rank: resumed from step 3"
$PY "$SRC/tests/ckpt/compare_ckpt.py" models "$T/a/final/model.h5" "$T/b/final/model.h5" || fail=1
$PY "$SRC/tests/ckpt/compare_ckpt.py" ckpts "$T/a/checkpoints/step-00000006" \
  "$T/b/checkpoints/step-00000006" || fail=1
$PY "$SRC/tests/ckpt/compare_ckpt.py" metrics "$T/a/metrics.jsonl" "$T/b/metrics.jsonl" || fail=1
$PY "$SRC/tests/ckpt/compare_ckpt.py" traces "$T/a.trace" "$T/b.trace" || fail=1

# ---- 2. two ranks, the signal on rank 1 ----
NVAE_CKPT_TRACE=$T/c.trace train2 $S --run-dir "$T/c" > "$T/c.log" 2>&1 ||
  { cat "$T/c.log"; echo "FAIL: straight 2-rank run"; exit 1; }
NVAE_CKPT_TRACE=$T/d.trace NVAE_CKPT_FAULT=sigusr1@1:3 train2 $S --run-dir "$T/d" \
  > "$T/d1.log" 2>&1
rc=$?
check "[ $rc -eq 75 ] && [ \$(grep -c 'stopped on a signal to another rank at step 3' '$T/d1.log') -eq 1 ]" \
  "2 ranks: SIGUSR1 on rank 1 stops both at step 3, mpirun exit $rc (want 75), one message"
cp -r "$T/d" "$T/e" # for the reshard below
NVAE_CKPT_TRACE=$T/d.trace train2 $S --run-dir "$T/d" --resume auto > "$T/d2.log" 2>&1 ||
  { cat "$T/d2.log"; echo "FAIL: resumed 2-rank run"; exit 1; }
$PY "$SRC/tests/ckpt/compare_ckpt.py" ckpts "$T/c/checkpoints/step-00000006" \
  "$T/d/checkpoints/step-00000006" || fail=1
$PY "$SRC/tests/ckpt/compare_ckpt.py" models "$T/c/final/model.h5" "$T/d/final/model.h5" || fail=1
$PY "$SRC/tests/ckpt/compare_ckpt.py" metrics "$T/c/metrics.jsonl" "$T/d/metrics.jsonl" || fail=1
$PY "$SRC/tests/ckpt/compare_ckpt.py" traces "$T/c.trace" "$T/d.trace" || fail=1

# ---- 3. reshard 2 -> 1 (global batch 8 -> 4) ----
cp -r "$T/e/checkpoints/step-00000003" "$T/orig3"
train $S --run-dir "$T/e" --resume auto > "$T/e0.log" 2> "$T/e0.err"
rc=$?
check "[ $rc -eq 2 ] && grep -q 'written by 2 rank(s), this run has 1: resume with --reshard' '$T/e0.err' && [ \$(wc -l < '$T/e0.err') -eq 1 ]" \
  "1 rank without --reshard: exit $rc (want 2): $(cat "$T/e0.err")"
NVAE_CKPT_FAULT=sigusr1@0:3 train $S --run-dir "$T/e" --resume auto --reshard > "$T/e1.log" 2>&1
rc=$?
check "[ $rc -eq 75 ] && grep -q 'written by 2 rank(s), resharded' '$T/e1.log'" \
  "--reshard: loaded, re-written by 1 rank, exit $rc"
$PY "$SRC/tests/ckpt/compare_ckpt.py" ckpts "$T/orig3" "$T/e/checkpoints/step-00000003" || fail=1
head -3 "$T/d.trace.r00000" > "$T/e.trace.r00000" # steps 0-2 of the 2-rank run
head -3 "$T/d.trace.r00001" > "$T/e.trace.r00001"
NVAE_CKPT_TRACE=$T/e.trace train $S --run-dir "$T/e" --resume auto > "$T/e2.log" 2>&1 ||
  { cat "$T/e2.log"; echo "FAIL: resharded run"; exit 1; }
check "grep -q 'global batch 8 -> 4' '$T/e1.log'" "the global batch change is reported"
# 3 steps x 8 + 3 steps x 4 = 36 samples: positions [0, 36) of epoch 0, each once
$PY "$SRC/tests/ckpt/compare_ckpt.py" coverage "$T/e.trace" 36 || fail=1

# ---- 4. real signals to one rank's process ----
for sig in USR1 TERM; do
  R=$T/sig$sig
  train2 train.max_steps=500 checkpoint.every_steps=1000 --run-dir "$R" > "$R.log" 2>&1 &
  mp=$!
  i=0
  while [ $i -lt 600 ] && ! grep -q '^step 2/' "$R.log" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
  ranks=$(ranks_of $mp)
  victim=$(echo $ranks | cut -d' ' -f1) # the first rank started (its rank number does not matter)
  [ $sig = TERM ] && victim=$(echo $ranks | cut -d' ' -f2)
  [ "$(echo $ranks | wc -w)" -eq 2 ] || { echo "FAIL: rank processes of $mp: '$ranks'"; fail=1; }
  kill -$sig $victim
  wait $mp
  rc=$?
  check "[ $rc -eq 75 ] && grep -q 'stopped on' '$R.log' && [ \$(latest '$R') != none ]" \
    "SIG$sig to one rank (pid $victim): mpirun exit $rc (want 75), LATEST step $(latest "$R")" ||
    grep -v '^step' "$R.log"
  NVAE_CKPT_FAULT=sigusr1@0:$(latest "$R") train2 train.max_steps=500 checkpoint.every_steps=1000 \
    --run-dir "$R" --resume auto > "$R.2.log" 2>&1
  rc=$?
  check "[ $rc -eq 75 ] && grep -q 'resumed' '$R.2.log'" "the SIG$sig checkpoint verifies and loads"
done
exit $fail
