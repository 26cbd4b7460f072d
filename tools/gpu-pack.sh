#!/usr/bin/env bash
# tools/gpu-pack.sh — prepare .gpu/, the folder a GPU session names in the device tool's `carry`
# (docs/gpu.md). Run it HERE (the CPU machine with /usr/local/cuda), in the repository root:
#
#   tools/gpu-pack.sh [--build-dir DIR] [--no-build] [--no-debs] [--with-dev] [-j N]
#
# It makes:
#   .gpu/build/   a slim copy of the CUDA build (CUDA 13.0, sm_90): every CTestTestfile.cmake, the
#                 executables of the ctest label `gpu`, and the tools (nvae-train, nvae-opbench ...)
#                 at their relative paths, so that tools/gpu-check.sh can run `ctest -L gpu` there
#                 after rewriting this machine's absolute paths (recorded in .gpu/PACK.txt);
#   .gpu/debs/    the Debian packages (.deb, this machine's exact versions, via `apt-get download`)
#                 that provide every shared library those executables load, except glibc and the
#                 CUDA libraries (cudart comes with the GPU machine's toolkit, cuDNN and NCCL with its
#                 Python packages nvidia-cudnn-cu13 / nvidia-nccl-cu13). gpu-check.sh unpacks them
#                 with `dpkg -x` into /tmp and puts ONLY the libraries the machine lacks on
#                 LD_LIBRARY_PATH. --with-dev adds the -dev packages of MPI, HDF5, libyaml, OpenBLAS,
#                 libpng, libjpeg-turbo and zlib, for building there when the carried build cannot run;
#   .gpu/PACK.txt what was packed: source and build paths, git commit, nvcc, architectures, sizes.
#
# .gpu/ is added to .git/info/exclude (never committed). Everything must stay under the device
# tool's 64 MiB limit together with the working tree; the script fails above 56 MiB.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="$root/build-cuda"
do_build=1
do_debs=1
with_dev=0
jobs=2
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build-dir) build=$(realpath -m "$2"); shift 2 ;;
    --no-build) do_build=0; shift ;;
    --no-debs) do_debs=0; shift ;;
    --with-dev) with_dev=1; shift ;;
    -j) jobs="$2"; shift 2 ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "gpu-pack.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

pack="$root/.gpu"
cd "$root"

# 1. keep .gpu/ out of git (a file edit of .git/info/exclude; no git state changes)
if ! git check-ignore -q .gpu/PACK.txt 2>/dev/null; then
  echo "/.gpu/" >> "$(git rev-parse --git-path info/exclude)"
  echo "gpu-pack: added /.gpu/ to .git/info/exclude"
fi

# 2. the CUDA build (sm_90: the H100/H200 of the device tool)
if [[ $do_build == 1 ]]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DNVAE_CUDA=ON -DNVAE_CUDA_ARCH=90 >/dev/null
  cmake --build "$build" -j "$jobs"
fi
[[ -f "$build/CMakeCache.txt" ]] || { echo "gpu-pack: no build in $build" >&2; exit 1; }
grep -q '^NVAE_CUDA_ARCH:STRING=90$' "$build/CMakeCache.txt" ||
  echo "gpu-pack: WARNING: $build is not configured with NVAE_CUDA_ARCH=90" >&2

# 3. slim copy of the build: ctest files, the gpu-labelled executables, the tools
rm -rf "$pack/build"
mkdir -p "$pack/build"
(cd "$build" && find . -name CTestTestfile.cmake -print0 | xargs -0 -I{} cp --parents {} "$pack/build/")
mapfile -t gpu_exes < <(ctest --test-dir "$build" -L gpu --show-only=json-v1 2>/dev/null | python3 -c '
import json, sys, os
d = json.load(sys.stdin)
seen = set()
for t in d.get("tests", []):
    for a in t.get("command", []) or []:
        if os.path.isfile(a) and os.access(a, os.X_OK) and a.startswith(sys.argv[1] + "/") and a not in seen:
            seen.add(a); print(a)
' "$build")
exes=("${gpu_exes[@]}")
for t in nvae-train nvae-bench nvae-opbench nvae-sample nvae-eval nvae-prep nvae-plan; do
  [[ -x "$build/tools/$t" ]] && exes+=("$build/tools/$t")
done
for e in "${exes[@]}"; do
  rel=${e#"$build"/}
  mkdir -p "$pack/build/$(dirname "$rel")"
  cp "$e" "$pack/build/$rel"
  strip --strip-debug "$pack/build/$rel" 2>/dev/null || true
done
echo "gpu-pack: ${#exes[@]} executables (${#gpu_exes[@]} from the ctest label gpu)"

# 4. the Debian packages behind every shared library they load (not glibc, not CUDA)
pkgs=()
if [[ $do_debs == 1 ]]; then
  declare -A seen=()
  for e in "${exes[@]}"; do
    while read -r lib; do
      [[ -n "$lib" && -e "$lib" ]] || continue
      case "$lib" in /usr/local/cuda*|/opt/*) continue ;; esac
      real=$(realpath "$lib")
      for cand in "$lib" "$real" "/usr${lib#/usr}" "/usr$real"; do
        p=$(dpkg -S "$cand" 2>/dev/null | head -1 | cut -d: -f1) && [[ -n "$p" ]] && break
      done
      [[ -n "${p:-}" ]] || { echo "gpu-pack: no Debian package owns $lib" >&2; continue; }
      case "$p" in libc6|libc6-dev|libgcc-s1|libstdc++6) continue ;; esac
      seen[$p]=1
      p=""
    done < <(ldd "$e" | awk '$3 ~ /^\// {print $3}')
  done
  # Open MPI loads its components with dlopen (not seen by ldd): the runtime needs them.
  [[ -n "${seen[libopenmpi3]:-}" ]] && seen[openmpi-common]=1 && seen[openmpi-bin]=1
  if [[ $with_dev == 1 ]]; then
    for p in libopenmpi-dev libhdf5-dev libyaml-dev libopenblas-dev libopenblas-pthread-dev \
             libpng-dev libturbojpeg0-dev libjpeg62-turbo-dev zlib1g-dev libsz2 libaec-dev \
             libhdf5-103-1 libhdf5-cpp-103-1 libhdf5-hl-100 libhdf5-hl-cpp-100; do
      dpkg -s "$p" >/dev/null 2>&1 && seen[$p]=1
    done
  fi
  pkgs=("${!seen[@]}")
  rm -rf "$pack/debs"
  mkdir -p "$pack/debs"
  # this machine's exact version where the archive still has it, else the current candidate
  for p in "${pkgs[@]}"; do
    v=$(dpkg-query -W -f='${Version}' "$p")
    (cd "$pack/debs" && { apt-get download -q -o APT::Sandbox::User=root "$p=$v" >/dev/null 2>&1 ||
                          apt-get download -q -o APT::Sandbox::User=root "$p" >/dev/null; }) ||
      { echo "gpu-pack: apt-get download $p failed" >&2; exit 1; }
  done
  echo "gpu-pack: ${#pkgs[@]} Debian packages in .gpu/debs"
fi

# 5. what was packed
nvcc_bin=$(sed -n 's/^set(CMAKE_CUDA_COMPILER "\(.*\)")$/\1/p' "$build"/CMakeFiles/*/CMakeCUDACompiler.cmake | head -1)
nvcc_bin=${nvcc_bin:-/usr/local/cuda/bin/nvcc}
{
  echo "packed_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "source_dir=$root"
  echo "build_dir=$build"
  echo "git_head=$(git rev-parse HEAD)"
  if git diff-index --quiet HEAD -- 2>/dev/null; then echo "git_dirty=no"; else echo "git_dirty=yes"; fi
  echo "nvcc=$("$nvcc_bin" --version | tail -1)"
  echo "cuda_arch=$(sed -n 's/^NVAE_CUDA_ARCH:STRING=//p' "$build/CMakeCache.txt")"
  echo "host=$(. /etc/os-release && echo "$PRETTY_NAME"), $({ ldd --version || true; } | sed -n 1p)"
  echo "executables=$(printf '%s ' "${exes[@]#"$build"/}")"
  echo "debs=$(printf '%s ' "${pkgs[@]}")"
} > "$pack/PACK.txt"

size_mib=$(du -sm "$pack" | cut -f1)
tree_mib=$(git ls-files -z --cached --others --exclude-standard | du -cm --files0-from=- 2>/dev/null | tail -1 | cut -f1)
echo "gpu-pack: .gpu is ${size_mib} MiB (build $(du -sm "$pack/build" | cut -f1), debs $(du -sm "$pack/debs" 2>/dev/null | cut -f1 || echo 0)); the rest of the tree ~${tree_mib} MiB"
if (( size_mib + tree_mib > 56 )); then
  echo "gpu-pack: too large for the device tool's 64 MiB (leave room): drop --with-dev or tools" >&2
  exit 1
fi
echo "gpu-pack: ready. Carry '.gpu' (docs/gpu.md)."
