#!/usr/bin/env bash
# Developer check: runs the README's two commands in a brand-new Debian 12 root (debootstrap,
# minbase), i.e. on a machine without CUDA and without any of our packages.
# Usage: bash tools/check-fresh-debian.sh [ROOT_DIR]    (as root; needs debootstrap and network
#        access to the Debian mirror). The chroot is left in place for inspection.
set -euo pipefail
root=${1:-/srv/nvae-fresh-deb12}
repo=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -x "$root/bin/bash" ]; then
  command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap
  debootstrap --variant=minbase bookworm "$root"
fi
cp /etc/resolv.conf "$root/etc/resolv.conf"
rm -rf "$root/root/nvae-train"
git -C "$repo" clone -q "$repo" "$root/root/nvae-train"
mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
mountpoint -q "$root/dev" || mount --bind /dev "$root/dev"
# hwloc (under Open MPI) reads the CPU topology from /sys, which every real machine has
mountpoint -q "$root/sys" || mount --bind /sys "$root/sys"
trap 'umount "$root/proc" "$root/dev" "$root/sys" 2>/dev/null || true' EXIT
status=0
chroot "$root" /bin/bash -c 'cd /root/nvae-train && bash tools/demo.sh' || status=1
chroot "$root" /bin/bash -c 'cd /root/nvae-train && bash tools/run-tests.sh' || status=1
echo "fresh Debian check: $([ $status -eq 0 ] && echo PASSED || echo FAILED)"
exit $status
