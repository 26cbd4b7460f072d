#!/usr/bin/env bash
# Installs every Debian 12 package that building, testing and the demo need. Idempotent: when
# everything is present it does nothing (no apt-get update, no network).
# Usage: bash tools/setup.sh            (as root, or with sudo available)
set -euo pipefail

packages=(
  build-essential cmake pkg-config git ca-certificates
  libopenmpi-dev openmpi-bin                 # MPI (comm/, mpirun)
  libhdf5-dev                                # datasets, checkpoints
  libyaml-dev                                # configs
  libpng-dev libturbojpeg0-dev zlib1g-dev    # image grids, JPEG decoding, gzip IDX files
  libopenblas-dev                            # CPU convolutions (sgemm)
  python3 python3-torch python3-h5py python3-pil python3-numpy  # PyTorch parity tests, PIL checks
  dataset-fashion-mnist                      # the built-in demo data
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO=sudo; else
    echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1
  fi
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
