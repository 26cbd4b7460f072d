#!/bin/sh
# nvae-prep synthetic (label unit): 40 train images of 16x16x3 make splits train/valid/test of
# 40/4/4 with source kind 'synthetic'; the same seed gives the same pixels, another seed other
# pixels; images are smooth (neighbouring pixels close: mean |dx| < 12 levels) and not constant;
# bad arguments exit 2 with one line naming the option.
#   test_prep_synthetic.sh NVAE_PREP
set -u
PREP=$1
T=$(mktemp -d /tmp/prep-synthetic-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail=0
for d in a b; do
  "$PREP" synthetic --images 40 --size 16 --seed 7 --out "$T/$d" --threads 1 > "$T/$d.log" 2>&1 ||
    { cat "$T/$d.log"; echo "FAIL: nvae-prep synthetic"; exit 1; }
done
"$PREP" synthetic --images 40 --size 16 --seed 8 --out "$T/c" --threads 1 > /dev/null 2>&1 || fail=1
grep -q "kind: synthetic" "$T/a/dataset.yaml" || { echo "FAIL: dataset.yaml kind"; fail=1; }
for s in "train .*40" "valid .*4" "test .*4"; do
  grep -Eq "^  $s " "$T/a.log" || { echo "FAIL: split line /$s/"; cat "$T/a.log"; fail=1; }
done
if /usr/bin/python3 -c "import h5py, numpy" 2>/dev/null; then
  /usr/bin/python3 - "$T" <<'PY' || fail=1
import glob, sys, h5py, numpy as np
def imgs(d):
    return np.concatenate([h5py.File(f, "r")["images"][()] for f in sorted(glob.glob(d + "/*-train-*.h5"))])
a, b, c = (imgs(sys.argv[1] + "/" + d) for d in "abc")
assert a.shape == (40, 16, 16, 3), a.shape
assert np.array_equal(a, b), "same seed, different images"
assert not np.array_equal(a, c), "another seed, same images"
dx = np.abs(np.diff(a.astype(int), axis=2)).mean()
assert dx < 12 and a.std() > 10, (dx, a.std())
print("ok: 40 images 16x16x3, reproducible, mean |dx| %.2f, std %.1f" % (dx, a.std()))
PY
fi
"$PREP" synthetic --images 0 --out "$T/d" > "$T/o" 2> "$T/e"
rc=$?
[ $rc -eq 2 ] && grep -q -- "--images" "$T/e" && [ "$(wc -l < "$T/e")" -le 2 ] ||
  { echo "FAIL: --images 0: exit $rc"; cat "$T/e"; fail=1; }
"$PREP" synthetic --images 4 --channels 2 --out "$T/d" > "$T/o" 2> "$T/e"
rc=$?
[ $rc -eq 2 ] && grep -q -- "--channels" "$T/e" || { echo "FAIL: --channels 2: exit $rc"; cat "$T/e"; fail=1; }
exit $fail
