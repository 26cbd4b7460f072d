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
  slurmctld slurmd slurm-client munge        # the local Slurm of the 'slurm' test (docs/slurm.md)
  libpmix-dev                                # srun --mpi=pmix: Slurm's mpi_pmix_v4 plugin dlopens libpmix.so
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
# Without systemd (a container or chroot: CI), the munge and slurm packages would start their
# daemons through their init scripts, system-wide and left running. The slurm test starts private
# ones itself, so, as container images do, deny service starts for the length of the install.
policy=/usr/sbin/policy-rc.d
if [ ! -d /run/systemd/system ] && [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# tools/setup.sh: no service starts during the install\nexit 101\n' |
    $SUDO tee "$policy" > /dev/null
  $SUDO chmod 755 "$policy"
  trap '$SUDO rm -f "$policy"' EXIT
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
