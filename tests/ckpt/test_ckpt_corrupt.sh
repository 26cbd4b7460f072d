#!/bin/sh
# Damaged checkpoints and a full disk (RELIABILITY.md S4; DESIGN.md §5). A 2-rank run leaves
# checkpoints at steps 2 and 4; each case damages a copy, then:
#   --resume auto  falls back to the newest older checkpoint that verifies, with a warning naming
#                  the file (the run is stopped right after resuming: NVAE_CKPT_FAULT=sigusr1);
#   --resume PATH  every rank exits 2 within 30 s, with one line naming the file.
# Cases: a flipped byte in optim-00001.h5, model.h5 truncated, rank-00001.h5 missing, a flipped
# byte in MANIFEST, garbage in LATEST, every checkpoint damaged, another model config, a run
# directory with checkpoints but no --resume. Then a full disk during a write (a small tmpfs when
# it can be mounted, else an injected ENOSPC): exit 1, the previous checkpoint intact and loadable.
#   test_ckpt_corrupt.sh BIN_DIR SOURCE_DIR MPIEXEC
set -u
BIN=$1 SRC=$2 MPIEXEC=$3
T=$(mktemp -d /tmp/ckpt-corrupt-XXXXXX)
MNT=
trap '[ -n "$MNT" ] && umount "$MNT" 2>/dev/null; rm -rf "$T"' EXIT
. "$SRC/tests/ckpt/ckpt_lib.sh"
ckpt_setup
S="train.max_steps=4 checkpoint.every_steps=2 checkpoint.keep_last=3"
train2 $S --run-dir "$T/base" > "$T/base.log" 2>&1 || { cat "$T/base.log"; exit 1; }
C=checkpoints

# each rank's exit code in $T/rc.RANK (a wrapper that exits 0, so mpirun ends no rank early)
train2_rc() {
  rm -f "$T"/rc.*
  timeout 30 "$MPIEXEC" -np 2 --oversubscribe sh -c \
    '"$0" "$@"; echo $? > "'"$T"'/rc.$OMPI_COMM_WORLD_RANK"' \
    "$BIN/nvae-train" $ARGS data.path="$T/data" "$@"
}
# fresh copy of the base run
copy() { rm -rf "$T/r"; cp -r "$T/base" "$T/r"; }
flip() { # FILE: one byte in the middle, xor 0x20
  $PY - "$1" <<'PY'
import os, sys
p = sys.argv[1]
with open(p, "r+b") as f:
    n = os.path.getsize(p); f.seek(n // 2); b = f.read(1); f.seek(n // 2)
    f.write(bytes([b[0] ^ 0x20]))
PY
}
# auto_falls_back NAME WHAT STEP: --resume auto warns naming WHAT and resumes from step STEP
auto_falls_back() {
  NVAE_CKPT_FAULT=sigusr1@0:$3 timeout 30 "$MPIEXEC" -np 2 --oversubscribe "$BIN/nvae-train" \
    $ARGS data.path="$T/data" $S --run-dir "$T/r" --resume auto > "$T/o" 2> "$T/e"
  rc=$?
  check "{ [ $rc -eq 75 ] || [ $rc -eq 0 ]; } && grep -q 'WARNING: .*$2' '$T/e' && grep -q 'resumed .*step-0*$3: step $3' '$T/o'" \
    "$1, --resume auto: falls back to step $3 (exit $rc): $(grep WARNING "$T/e" | head -1)" ||
    { cat "$T/e"; tail -3 "$T/o"; }
}
# path_fails NAME WHAT PATH: --resume PATH: every rank exits 2, one line naming WHAT
path_fails() {
  train2_rc $S --run-dir "$T/r" --resume "$3" > "$T/o" 2> "$T/e"
  rc=$?
  n=$(grep -c '^nvae-train:' "$T/e")
  check "[ $rc -ne 124 ] && [ \"\$(cat '$T/rc.0' '$T/rc.1' 2>/dev/null | tr '\n' ' ')\" = '2 2 ' ] && [ $n -eq 1 ] && grep -q '^nvae-train: .*$2' '$T/e'" \
    "$1, --resume PATH: every rank exits 2 ($(cat "$T"/rc.* 2>/dev/null | tr '\n' ' ')), $n line: $(grep '^nvae-train:' "$T/e")" ||
    cat "$T/e"
}

copy; flip "$T/r/$C/step-00000004/optim-00001.h5"
auto_falls_back "flipped byte in optim-00001.h5" "step-00000004/optim-00001.h5: checksum mismatch" 2
path_fails "flipped byte in optim-00001.h5" "step-00000004/optim-00001.h5: checksum mismatch" \
  "$T/r/$C/step-00000004"

copy; f="$T/r/$C/step-00000004/model.h5"; truncate -s $(($(stat -c %s "$f") / 2)) "$f"
auto_falls_back "model.h5 truncated" "step-00000004/model.h5: .* bytes, the MANIFEST says" 2
path_fails "model.h5 truncated" "step-00000004/model.h5: .*truncated" "$T/r/$C/step-00000004"

copy; rm "$T/r/$C/step-00000004/rank-00001.h5"
auto_falls_back "rank-00001.h5 missing" "step-00000004/rank-00001.h5: cannot open" 2
path_fails "rank-00001.h5 missing" "step-00000004/rank-00001.h5: cannot open" "$T/r"

copy; flip "$T/r/$C/step-00000004/MANIFEST"
auto_falls_back "flipped byte in MANIFEST" "step-00000004/MANIFEST: line" 2

copy; printf 'garbage\001\n' > "$T/r/$C/LATEST"
auto_falls_back "garbage in LATEST" "$C/LATEST: .*not a checkpoint name" 4
path_fails "garbage in LATEST" "$C/LATEST: .*not a checkpoint name" "$T/r/$C"

copy; flip "$T/r/$C/step-00000004/model.h5"; flip "$T/r/$C/step-00000002/optim-00000.h5"
train2_rc $S --run-dir "$T/r" --resume auto > "$T/o" 2> "$T/e"
check "[ \"\$(cat '$T/rc.0' '$T/rc.1' | tr '\n' ' ')\" = '2 2 ' ] && grep -q 'none of the 2 checkpoint(s) .* verifies' '$T/e'" \
  "every checkpoint damaged, --resume auto: every rank exits 2, no fresh start: $(tail -1 "$T/e")"

copy
train2_rc $S model.num_latent_per_group=4 --run-dir "$T/r" --resume auto > "$T/o" 2> "$T/e"
check "[ \"\$(cat '$T/rc.0' '$T/rc.1' | tr '\n' ' ')\" = '2 2 ' ] && [ \$(grep -c '^nvae-train:' '$T/e') -eq 1 ] && grep -q 'model.num_latent_per_group is 8 in the checkpoint, 4 here' '$T/e'" \
  "another model config: refused by key, every rank exits 2: $(grep '^nvae-train:' "$T/e")"

copy
train2_rc $S --run-dir "$T/r" > "$T/o" 2> "$T/e"
check "[ \"\$(cat '$T/rc.0' '$T/rc.1' | tr '\n' ' ')\" = '2 2 ' ] && grep -q 'holds checkpoints of an earlier run: continue it with --resume auto' '$T/e'" \
  "checkpoints but no --resume: refused: $(grep '^nvae-train:' "$T/e")"

# ---- a full disk during a write (1 process) ----
NVAE_CKPT_FAULT=sigusr1@0:2 train $S --run-dir "$T/d1" > "$T/d1.log" 2>&1
[ $? -eq 75 ] || { cat "$T/d1.log"; echo "FAIL: disk base run"; exit 1; }
used=$(du -sk "$T/d1" | cut -f1)
ck=$(du -sk "$T/d1/$C/step-00000002" | cut -f1)
mkdir -p "$T/mnt"
if mount -t tmpfs -o size=$((used + ck / 2))k tmpfs "$T/mnt" 2>/dev/null; then
  MNT=$T/mnt
  how="a tmpfs of $((used + ck / 2)) KiB"
  cp -r "$T/d1" "$MNT/run"
  train $S --run-dir "$MNT/run" --resume auto > "$T/o" 2> "$T/e"
  rc=$?
  cp -r "$MNT/run" "$T/d2"
  umount "$MNT" && MNT=
else
  how="NVAE_CKPT_FAULT=enospc (no tmpfs could be mounted)"
  cp -r "$T/d1" "$T/d2"
  NVAE_CKPT_FAULT=enospc@0:4 train $S --run-dir "$T/d2" --resume auto > "$T/o" 2> "$T/e"
  rc=$?
fi
check "[ $rc -eq 1 ] && grep -q 'No space left on device' '$T/e' && [ \$(latest '$T/d2') = 2 ] && ! ls -d '$T/d2/$C/step-00000004'* > /dev/null 2>&1" \
  "full disk ($how): exit $rc, LATEST still step 2, no step-4 directory: $(grep '^nvae-train:' "$T/e" | cut -c1-160)" ||
  { cat "$T/e"; ls -R "$T/d2/$C"; }
NVAE_CKPT_FAULT=sigusr1@0:2 train $S --run-dir "$T/d2" --resume auto > "$T/o" 2>&1
rc=$?
check "[ $rc -eq 75 ] && grep -q 'resumed .*step-00000002: step 2' '$T/o'" \
  "the previous checkpoint is intact: it verifies and loads"
exit $fail
