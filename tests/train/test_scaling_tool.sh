#!/bin/sh
# tools/nvae-scaling.py end to end (label mpi): weak and strong scaling at 1 and 2 ranks on a tiny
# Fashion-MNIST dataset, 3 steps each; checks that scaling.csv has the 4 rows with positive
# throughput and efficiency 1 at 1 rank, that scaling.md and scaling.png exist, and that the
# collectives per step the 2-rank run measured equal what nvae-train predicted at start-up
# (constant beta = 1: no KL balancing collective). No timing is judged here (benchmarks print).
#   test_scaling_tool.sh BIN_DIR SOURCE_DIR
set -u
BIN=$1 SRC=$2
T=$(mktemp -d /tmp/scaling-tool-XXXXXX)
trap 'rm -rf "$T"' EXIT
. "$SRC/tests/train/tiny_data.sh"
/usr/bin/python3 -c "import PIL" 2>/dev/null || { echo "skipped: no PIL (python3-pil)"; exit 77; }
tiny_fmnist_data "$T"
/usr/bin/python3 "$SRC/tools/nvae-scaling.py" --config "$SRC/configs/fmnist-small.yaml" \
  --data "$T/data" --ranks 1,2 --steps 3 --batch 4 --bin "$BIN" --out "$T/out" \
  train.kl_beta=1.0 comm.bucket_mb=0.25 || { cat "$T"/out/*.log; echo "FAIL: nvae-scaling"; exit 1; }
fail=0
for f in scaling.csv scaling.md scaling.png; do
  [ -s "$T/out/$f" ] || { echo "FAIL: $f missing"; fail=1; }
done
/usr/bin/python3 - "$T/out/scaling.csv" <<'PY' || fail=1
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == 4, rows
for r in rows:
    assert float(r["images_per_s"]) > 0, r
    if r["ranks"] == "1":
        assert abs(float(r["efficiency"]) - 1) < 1e-9, r
print("ok: scaling.csv has %d rows: %s" % (len(rows), ", ".join(
    "%s %s ranks %.3g img/s eff %.3g" % (r["mode"], r["ranks"], float(r["images_per_s"]),
                                         float(r["efficiency"])) for r in rows)))
PY
pred=$(grep -oE "per step at world size 2: [0-9]+" "$T/out/weak-2.log" | grep -oE "[0-9]+$")
meas=$(/usr/bin/python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['collectives_per_step']))" "$T/out/weak-2/perf.json")
if [ -z "$pred" ] || [ "$pred" != "$meas" ]; then
  echo "FAIL: collectives per step: predicted '$pred', measured '$meas'"; fail=1
else echo "ok: collectives per step at 2 ranks: predicted $pred = measured $meas"; fi
exit $fail
