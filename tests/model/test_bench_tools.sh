#!/bin/sh
# The benchmark tools run and report (label integration; no figure is judged — benchmarks print,
# tests do not time): nvae-bench on tiny.yaml (2 timed steps, --json with every field, FLOPs > 0,
# --find-max-batch predicts and runs a batch), its argument errors (exit 2, one line), the
# CelebA-64 conv FLOP count of `nvae-train --dry-run` against PERF.md §6 (256.9 GFLOP per image
# forward + backward, 85.6 forward; 0.5 %), and tools/bench_torch.py (PyTorch reference, CPU, one
# step) when torch is there.
#   test_bench_tools.sh BIN_DIR SOURCE_DIR
set -u
BIN=$1 SRC=$2
T=$(mktemp -d /tmp/bench-tools-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail=0
"$BIN/nvae-bench" --config "$SRC/configs/tiny.yaml" --batch 2 --steps 2 --warmup 1 \
  --json "$T/b.json" > "$T/b.log" 2>&1 || { cat "$T/b.log"; echo "FAIL: nvae-bench"; exit 1; }
cat "$T/b.log"
/usr/bin/python3 - "$T/b.json" <<'PY' || fail=1
import json, sys
r = json.load(open(sys.argv[1]))
need = ["images_per_s", "step_ms", "data_ms", "forward_ms", "backward_ms", "optimizer_ms",
        "device_mib", "gflop_forward", "gflop_step", "tflops"]
missing = [k for k in need if k not in r]
assert not missing, missing
assert r["images_per_s"] > 0 and r["gflop_step"] > r["gflop_forward"] > 0 and r["device_mib"] > 0, r
parts = r["data_ms"] + r["forward_ms"] + r["backward_ms"] + r["optimizer_ms"]
assert abs(parts - r["step_ms"]) <= 0.02 * r["step_ms"] + 0.05, (parts, r["step_ms"])
print("ok: nvae-bench json: %d fields, split sums to the step time" % len(r))
PY
"$BIN/nvae-bench" --config "$SRC/configs/tiny.yaml" --find-max-batch --memory-gib 0.25 --steps 1 --warmup 0 \
  > "$T/m.log" 2>&1 && grep -q "largest batch predicted to fit" "$T/m.log" ||
  { cat "$T/m.log"; echo "FAIL: --find-max-batch"; fail=1; }
"$BIN/nvae-bench" --config "$SRC/configs/tiny.yaml" --batch 0 > "$T/o" 2> "$T/e"
rc=$?
[ $rc -eq 2 ] && [ "$(wc -l < "$T/e")" -eq 1 ] ||
  { echo "FAIL: --batch 0: exit $rc (want 2, one line)"; cat "$T/e"; fail=1; }
"$BIN/nvae-bench" --config "$SRC/configs/tiny.yaml" device=gpu > "$T/o" 2> "$T/e"
rc=$?
[ $rc -eq 2 ] && grep -q "device" "$T/e" ||
  { echo "FAIL: device=gpu: exit $rc (want 2 naming the key)"; cat "$T/e"; fail=1; }
"$BIN/nvae-train" --config "$SRC/configs/celeba64.yaml" --dry-run > "$T/d.log" 2>&1 ||
  { cat "$T/d.log"; fail=1; }
/usr/bin/python3 - "$T/d.log" <<'PY' || fail=1
import re, sys
m = re.search(r"conv FLOPs\s+([0-9.]+) GFLOP per image forward, ([0-9.]+) forward", open(sys.argv[1]).read())
assert m, "no conv FLOPs line"
f, fb = float(m.group(1)), float(m.group(2))
assert abs(f - 85.6) <= 0.005 * 85.6 and abs(fb - 256.9) <= 0.005 * 256.9, (f, fb)
print("ok: celeba64 conv FLOPs %.2f forward, %.2f forward+backward (PERF.md: 85.6, 256.9)" % (f, fb))
PY
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
  /usr/bin/python3 "$SRC/tools/bench_torch.py" --config tiny --batch 2 --steps 1 --warmup 1 \
    --device cpu --threads 1 --json "$T/t.json" || { echo "FAIL: bench_torch.py"; fail=1; }
else
  echo "note: no torch in /usr/bin/python3: bench_torch.py not run"
fi
exit $fail
