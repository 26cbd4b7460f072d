#!/usr/bin/env bash
# The main job on the built-in default: Fashion-MNIST from Debian's dataset-fashion-mnist package,
# CPU. Installs what it needs, builds, prepares the HDF5 shards once (data/fmnist), runs a short
# training and writes sample grids (runs/demo/samples/*.png).
# Usage: bash tools/demo.sh [extra nvae-train overrides ...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"

fm=/usr/share/datasets/fashion-mnist
if [ ! -d data/fmnist ]; then
  mkdir -p data
  build/tools/nvae-prep idx --train "$fm/train-images-idx3-ubyte.gz" \
                            --test "$fm/t10k-images-idx3-ubyte.gz" --out data/fmnist
fi
echo "demo: dataset ready in data/fmnist ($(ls data/fmnist | wc -l) files)"

# A short run of the real NVAE (configs/fmnist-small.yaml: 200 steps, Bernoulli decoder, dynamic
# binarisation) on one CPU process; validation NELBO, sample and reconstruction grids at the end.
rm -rf runs/demo
OMP_WAIT_POLICY=passive build/tools/nvae-train --config configs/fmnist-small.yaml \
  --run-dir runs/demo "$@"
echo "demo: sample grids:"
ls runs/demo/samples/ | tail -4 | sed 's|^|  runs/demo/samples/|'
