#!/usr/bin/env bash
# The whole test suite, from a fresh clone on Debian 12: installs what it needs, builds (the CUDA
# backend too where /usr/local/cuda has nvcc, cuDNN and NCCL), runs every ctest test, then builds
# the parsers/readers with ASan+UBSan (CPU only) and runs the unit tests there.
# Usage: bash tools/run-tests.sh        Exit status: 0 only if everything passed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh

jobs=$(nproc)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

echo "== build (Release) =="
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$jobs"
echo "== ctest (Release) =="
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== build (ASan+UBSan, CPU only) =="
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DNVAE_SANITIZE=ON -DNVAE_CUDA=OFF
cmake --build build-asan -j"$jobs"
echo "== ctest -L unit (ASan+UBSan) =="
ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build-asan --output-on-failure -j"$jobs" -L unit
