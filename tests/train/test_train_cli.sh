#!/bin/sh
# CLI error cases of nvae-train, nvae-sample, nvae-eval (exit 2 with a one-line message before any
# step) and, with MODE=short, a few real steps on a tiny Fashion-MNIST dataset: run directory
# contents, metrics rows, final/model.h5, then nvae-eval and nvae-sample on it.
#   test_train_cli.sh BIN_DIR SOURCE_DIR errors|short
set -u
BIN=$1 SRC=$2 MODE=$3
T=$(mktemp -d /tmp/trainer-helper-cli-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail=0
. "$SRC/tests/train/tiny_data.sh"
tiny_fmnist_data "$T"
CFG="$SRC/configs/fmnist-small.yaml"

# expect CODE PATTERN cmd...: exit code CODE and PATTERN in a one-line stderr
expect() {
  code=$1 pat=$2; shift 2
  "$@" > "$T/out" 2> "$T/err"; rc=$?
  lines=$(wc -l < "$T/err")
  if [ "$rc" -ne "$code" ] || ! grep -q -- "$pat" "$T/err" || [ "$lines" -ne 1 ]; then
    echo "FAIL: $* -> exit $rc (want $code), stderr ($lines lines):"; cat "$T/err"; fail=1
  else
    echo "ok: exit $rc: $(cat "$T/err")"
  fi
}

if [ "$MODE" = errors ]; then
  D="data.path=$T/data"
  expect 2 "did you mean" "$BIN/nvae-train" --config "$CFG" "$D" train.batch_sise=8
  expect 2 "train.batch_size" "$BIN/nvae-train" --config "$CFG" "$D" train.batch_size=abc
  expect 2 "train.batch_size" "$BIN/nvae-train" --config "$CFG" "$D" train.batch_size=0
  expect 2 "data.path" "$BIN/nvae-train" --config "$CFG" data.path="$T/nowhere"
  expect 2 "data.path" "$BIN/nvae-train" --config "$CFG" "$D" train.batch_size=512
  expect 2 "no split" "$BIN/nvae-train" --config "$CFG" "$D" data.split_valid=foo
  expect 2 "nowhere.yaml" "$BIN/nvae-train" --config "$T/nowhere.yaml"
  expect 2 "required" "$BIN/nvae-train" "$D"
  expect 2 "neither a flag" "$BIN/nvae-train" --config "$CFG" "$D" stray
  # no GPU here (or no CUDA backend in this build): a usage error naming the device
  if ! command -v nvidia-smi > /dev/null 2>&1; then
    expect 2 "cuda" "$BIN/nvae-train" --config "$CFG" "$D" device=cuda
  fi
  expect 2 "not a checkpoint directory" "$BIN/nvae-train" --config "$CFG" "$D" --resume "$T/ckpt"
  expect 2 "needs --resume" "$BIN/nvae-train" --config "$CFG" "$D" --reshard
  expect 2 "nowhere" "$BIN/nvae-eval" --checkpoint "$T/nowhere" --data "$T/data"
  expect 2 "HDF5" "$BIN/nvae-sample" --checkpoint "$T/data/dataset.yaml" --out "$T/x.png"
  expect 2 "nowhere" "$BIN/nvae-sample" --checkpoint "$T/nowhere" --out "$T/x.png"
  "$BIN/nvae-train" --help | grep -q "docs/config.md" || { echo "FAIL: --help"; fail=1; }
  exit $fail
fi

# short: 6 steps of batch 8, validation every 3 steps, images every 3
R="$T/run"
"$BIN/nvae-train" --config "$CFG" data.path="$T/data" --run-dir "$R" train.batch_size=8 \
  train.max_steps=6 log.every_steps=2 eval.every_steps=3 eval.max_images=16 eval.iw_samples=2 \
  log.image_every_steps=3 --resume auto > "$T/train.log" 2>&1
rc=$?
cat "$T/train.log"
[ $rc -eq 0 ] || { echo "FAIL: nvae-train exit $rc"; exit 1; }
for f in config.yaml metrics.jsonl final/model.h5 samples/step_0000003_t0.7.png \
         samples/step_0000006_t1.0.png recon/step_0000006.png; do
  [ -s "$R/$f" ] || { echo "FAIL: $R/$f missing"; fail=1; }
done
ls "$R"/events.out.tfevents.* > /dev/null 2>&1 || { echo "FAIL: no event file"; fail=1; }
/usr/bin/python3 - "$R/metrics.jsonl" <<'PY' || fail=1
import json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
train = [r for r in rows if "loss" in r]
val = [r for r in rows if r.get("split")]
assert [r["step"] for r in train] == [2, 4, 6], train
for r in train:
    for k in ("step", "epoch", "loss", "recon", "kl", "nats", "lr", "grad_norm", "images_per_s"):
        assert k in r and r[k] is not None, (k, r)
    assert math.isfinite(r["loss"])
assert [r["step"] for r in val] == [3, 6] and val[0]["split"] == "test", val
assert all(r["images"] == 16 and r["nelbo"] > 0 and "bpd" in r for r in val), val
print("metrics ok:", len(train), "train rows,", len(val), "validation rows")
PY
"$BIN/nvae-eval" --checkpoint "$R" --data "$T/data" --iw-samples 2 --max-images 16 --batch 8 \
  || { echo "FAIL: nvae-eval"; fail=1; }
"$BIN/nvae-sample" --checkpoint "$R/final/model.h5" --n 8 --out "$T/s.png" \
  || { echo "FAIL: nvae-sample"; fail=1; }
[ -s "$T/s.png" ] || fail=1
exit $fail
