#!/usr/bin/env bash
# tools/gpu-check.sh — the one prepared script for the lent GPU machine (../shared/GPU.md,
# docs/gpu.md). Run in the repository root on the device machine:
#
#   tools/gpu-check.sh [--stages a,b,...] [--seed N] [--rebuild] [--list]
#
# Stages (default: probe,build,ops,sanitize,ctest — about 4 minutes at most, usually less):
#   probe     the machine: GPU, driver, nvcc, where cuDNN / NCCL / MPI / HDF5 / libyaml / OpenBLAS
#             come from (system, the Python venv's nvidia-* packages, or the carried .debs)
#   build     the build to use: the one carried in .gpu/build (made here by tools/gpu-pack.sh with
#             CUDA 13.0 for sm_90; its absolute paths are rewritten to this checkout) when its
#             programs load and the CUDA op table is complete; otherwise a build there (cmake +
#             ninja, -j16) with whatever the machine and the carried .debs provide
#   ops       ctest -L gpu, the op tests: test_cuda_table, test_philox_gpu, test_bn_sync_gpu,
#             test_ops_gpu (every op case on the GPU against the CPU, fp32 + TF32 + deterministic
#             conv passes), test_step_values_gpu (the step-value ops, gated optimizers),
#             test_async_copy_gpu (pinned memory, queued copies, fences)
#   sanitize  compute-sanitizer memcheck over test_ops_gpu --small (every case but the large
#             benchmark shapes, fixed seed; 150 s cap)
#   ctest     the rest of the ctest label gpu (e.g. comm's CUDA/NCCL tests; they need mpirun)
#   step      (alias parity) whole-step parity CUDA vs CPU: test_step_parity_gpu (tiny, flows off
#             and on: loss terms 1e-5, gradients, 5 Adamax steps 1e-4)
#   mpi2      2 ranks on the one GPU over the MPI transport = 1 rank with twice the batch
#   train200  (alias train) 200 steps of celeba64.yaml at batch 16 on synthetic 64x64 data
#             (nvae-prep synthetic): the loss must fall
#   bench     nvae-bench celeba64.yaml at batch 16 and at the largest batch that fits
#   torch     the PyTorch reference at batch 16, float32 and AMP, and the ratios to ours
#   (issue #8 run: --stages probe,build,step,mpi2,train200,bench,torch)
#   all       every stage above
# Writes logs under $OUT (at most 7 files: the device tool returns 8) and prints a short table
# last: stage, result, seconds, key figure. Exit status: 0 when no stage FAILED.
#
# Library search (so a build made on Debian 12 runs on the GPU machine's image):
#   cuDNN, NCCL: the system's if the dynamic loader finds them, else the venv's nvidia.cudnn /
#   nvidia.nccl (python3 -c "import nvidia.cudnn"), else /usr/local/cuda/lib64;
#   everything else: the system's, and for each library the loader does NOT find, the copy from
#   .gpu/debs (unpacked with dpkg -x into /tmp/nvae-debs, linked one by one into
#   /tmp/nvae-debs-missing, which goes LAST on LD_LIBRARY_PATH).
set -u
export LC_ALL=C

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1
OUT=${OUT:-$root/gpu-check-out}
mkdir -p "$OUT"
rm -f "$OUT"/gpu-check-*.log "$OUT"/gpu-check-summary.txt
stages="probe,build,ops,sanitize,ctest"
seed=$(( $(date +%s) % 1000000007 ))
rebuild=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --stages) stages="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --rebuild) rebuild=1; shift ;;
    --list) sed -n '2,30p' "$0"; exit 0 ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "gpu-check.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$stages" == all ]] && stages="probe,build,ops,sanitize,ctest,step,parity,mpi2,train200,bench,torch"

PACK="$root/.gpu"
BUILD=""            # the build the test stages use (set by stage_build)
DEBS_PREFIX=/tmp/nvae-debs
MISSING_DIR=/tmp/nvae-debs-missing
LIBS_READY=0
ROWS=()
FAILED=0

log() { printf '%s\n' "$*"; }
hr() { printf '%s\n' "---- $* ----"; }

# ------------------------------------------------------------------ libraries
py_pkg_dir() { # the folder of the Python package $1 (nvidia.cudnn ...), empty if none
  timeout 60 python3 - "$1" 2>/dev/null <<'EOF'
import importlib, sys
try:
    m = importlib.import_module(sys.argv[1])
    p = list(getattr(m, "__path__", []))
    print(p[0] if p else __import__("os").path.dirname(m.__file__))
except Exception:
    pass
EOF
}

sys_has_lib() { ldconfig -p 2>/dev/null | grep -q "[[:space:]]$1 "; }

# Where a CUDA library comes from. $1 soname, $2 Python package, $3 label, $4 "cuda-first" to
# look in /usr/local/cuda before the Python package. Prints one line, prepends the folder to
# LD_LIBRARY_PATH when the loader would not find it, sets FOUND_ROOT to the Python package's root.
find_cuda_lib() {
  local so=$1 pkg=$2 label=$3 order=${4:-python-first} dir="" d
  FOUND_ROOT=""
  if sys_has_lib "$so"; then
    log "$label: system ($(ldconfig -p | grep "[[:space:]]$so " | head -1 | awk '{print $NF}'))"
    return 0
  fi
  local cuda_dirs=(/usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda/targets/x86_64-linux/lib)
  if [[ $order == cuda-first ]]; then
    for d in "${cuda_dirs[@]}"; do
      if [[ -e "$d/$so" ]]; then
        log "$label: $d"; export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; return 0
      fi
    done
  fi
  dir=$(py_pkg_dir "$pkg")
  if [[ -n "$dir" && -e "$dir/lib/$so" ]]; then
    log "$label: Python package $pkg ($dir/lib)"
    export LD_LIBRARY_PATH="$dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    FOUND_ROOT="$dir"
    return 0
  fi
  for d in "${cuda_dirs[@]}"; do
    if [[ -e "$d/$so" ]]; then
      log "$label: $d"; export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; return 0
    fi
  done
  log "$label: NOT FOUND ($so: not known to the loader, not in $pkg, not in /usr/local/cuda)"
  return 1
}

CUDNN_ROOT_FOUND=""
NCCL_ROOT_FOUND=""
setup_libs() {
  [[ $LIBS_READY == 1 ]] && return 0
  LIBS_READY=1
  find_cuda_lib libcudart.so.13 nvidia.cuda_runtime "CUDA runtime" cuda-first
  find_cuda_lib libcudnn.so.9 nvidia.cudnn "cuDNN"; CUDNN_ROOT_FOUND=$FOUND_ROOT
  find_cuda_lib libnccl.so.2 nvidia.nccl "NCCL"; NCCL_ROOT_FOUND=$FOUND_ROOT
  # the carried Debian packages: unpacked once, used only for what the loader cannot find
  if compgen -G "$PACK/debs/*.deb" >/dev/null; then
    if [[ ! -d "$DEBS_PREFIX" ]]; then
      mkdir -p "$DEBS_PREFIX"
      local f
      for f in "$PACK"/debs/*.deb; do
        if command -v dpkg-deb >/dev/null; then
          dpkg-deb -x "$f" "$DEBS_PREFIX"
        else # no dpkg: a .deb is an ar archive holding data.tar.{xz,zst,gz}
          local m; m=$(ar t "$f" | grep '^data.tar')
          (cd "$DEBS_PREFIX" && ar p "$f" "$m" | tar -x -f - -I "$(case "$m" in
             *.xz) echo xz ;; *.zst) echo zstd ;; *) echo gzip ;; esac)")
        fi
      done
      log "carried .debs: $(ls "$PACK"/debs/*.deb | wc -l) packages unpacked into $DEBS_PREFIX"
    fi
    mkdir -p "$MISSING_DIR"
    export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$MISSING_DIR"
  else
    log "carried .debs: none (.gpu/debs empty or absent)"
  fi
  log "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
}

# Links into $MISSING_DIR each library that the binaries $@ (and those libraries) need and the
# loader cannot find, taken from the unpacked .debs. Prints what is still missing.
link_missing_libs() {
  [[ -d "$DEBS_PREFIX" ]] || { ldd "$@" 2>/dev/null | grep "not found" | sort -u; return; }
  local lib path lp="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$MISSING_DIR"
  for _ in 1 2 3 4; do
    local missing
    missing=$( { LD_LIBRARY_PATH="$lp" ldd "$@" "$MISSING_DIR"/* 2>/dev/null || true; } |
               awk '/not found/ {print $1}' | sort -u)
    [[ -z "$missing" ]] && return 0
    local added=0
    for lib in $missing; do
      path=$(find "$DEBS_PREFIX" -name "$lib" \( -type f -o -type l \) 2>/dev/null | head -1)
      if [[ -n "$path" && ! -e "$MISSING_DIR/$lib" ]]; then
        ln -sf "$(realpath "$path")" "$MISSING_DIR/$lib"
        added=1
      fi
    done
    [[ $added == 0 ]] && break
  done
  { LD_LIBRARY_PATH="$lp" ldd "$@" "$MISSING_DIR"/* 2>/dev/null || true; } | grep "not found" | sort -u
}

# ------------------------------------------------------------------ stages
stage_probe() {
  hr "machine"
  log "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)   host: $(hostname)   kernel: $(uname -r)"
  log "os: $( (. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME") || echo '?')   $({ ldd --version 2>&1 || true; } | sed -n 1p)"
  log "cpus: $(nproc)   memory: $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
  hr "GPU"
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap,clocks.sm,clocks.max.sm \
      --format=csv 2>&1 | sed 's/^/  /'
    KEY=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1 | sed 's/, / driver /')
  else
    log "nvidia-smi: not found"; KEY="no nvidia-smi"
  fi
  hr "toolchain"
  local nvcc; nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
  if [[ -x "$nvcc" ]]; then log "nvcc: $nvcc: $("$nvcc" --version | tail -2 | tr '\n' ' ')"; else log "nvcc: not found"; fi
  log "cmake: $(cmake --version 2>/dev/null | head -1 || echo none)   ninja: $(ninja --version 2>/dev/null || echo none)   gcc: $(gcc -dumpfullversion 2>/dev/null || echo none)"
  log "compute-sanitizer: $(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || echo none)"
  log "python3: $(command -v python3) $(python3 --version 2>&1)"
  log "torch: $(timeout 90 python3 -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' 2>&1 | tail -1)"
  hr "libraries (where each comes from)"
  local d h name pkg hdr vhdr so spec
  for spec in "cuDNN:nvidia.cudnn:cudnn.h:cudnn_version.h:libcudnn.so.9" "NCCL:nvidia.nccl:nccl.h:nccl.h:libnccl.so.2"; do
    IFS=: read -r name pkg hdr vhdr so <<<"$spec"
    d=$(py_pkg_dir "$pkg")
    log "$name: python package $pkg: ${d:-absent}"
    h="$d/include/$vhdr"
    [[ -n "$d" && -f "$h" ]] &&
      log "   version: $(grep -E '#define (CUDNN|NCCL)_(MAJOR|MINOR|PATCHLEVEL|PATCH)[[:space:]]' "$h" | awk '{printf "%s ", $3}')"
    log "   /usr/local/cuda/include/$hdr: $([[ -f /usr/local/cuda/include/$hdr ]] && echo present || echo absent)   system $so: $(sys_has_lib "$so" && echo present || echo absent)   /usr/local/cuda/lib64/$so: $([[ -e /usr/local/cuda/lib64/$so ]] && echo present || echo absent)"
  done
  log "CUDA runtime libcudart.so.13: system $(sys_has_lib libcudart.so.13 && echo present || echo absent), /usr/local/cuda/lib64 $([[ -e /usr/local/cuda/lib64/libcudart.so.13 ]] && echo present || echo absent)"
  log "MPI: mpirun $(command -v mpirun || echo absent) $( (mpirun --version 2>/dev/null || true) | head -1)   libmpi.so.40 $(sys_has_lib libmpi.so.40 && echo present || echo absent)"
  log "HDF5: libhdf5_serial.so.103 $(sys_has_lib libhdf5_serial.so.103 && echo present || echo absent)   libhdf5.so $(ldconfig -p | grep -c 'libhdf5\.so') entries   h5cc $(command -v h5cc || echo absent)"
  log "libyaml: $(sys_has_lib libyaml-0.so.2 && echo present || echo absent)   OpenBLAS: $(sys_has_lib libopenblas.so.0 && echo present || echo absent)   libpng16: $(sys_has_lib libpng16.so.16 && echo present || echo absent)   libturbojpeg: $(sys_has_lib libturbojpeg.so.0 && echo present || echo absent)   libgomp: $(sys_has_lib libgomp.so.1 && echo present || echo absent)"
  hr "carried"
  if [[ -f "$PACK/PACK.txt" ]]; then sed 's/^/  /' "$PACK/PACK.txt"; else log "no .gpu/PACK.txt: nothing carried (run tools/gpu-pack.sh here and carry .gpu)"; fi
  return 0
}

# Rewrites the carried build's absolute paths (recorded in PACK.txt) to this checkout, once.
rebase_carried_build() {
  local src bld
  src=$(sed -n 's/^source_dir=//p' "$PACK/PACK.txt")
  bld=$(sed -n 's/^build_dir=//p' "$PACK/PACK.txt")
  [[ -f "$PACK/build/.rebased" ]] && return 0
  find "$PACK/build" -name CTestTestfile.cmake -print0 |
    xargs -0 sed -i -e "s#$bld#$PACK/build#g" -e "s#$src#$root#g"
  touch "$PACK/build/.rebased"
  log "carried build: paths $bld -> $PACK/build, $src -> $root"
}

build_here() {
  log "building on this machine (cmake + ninja) ..."
  local gen="" args=()
  command -v ninja >/dev/null && gen="-G Ninja"
  [[ -n "$CUDNN_ROOT_FOUND" ]] && args+=("-DCUDNN_ROOT=$CUDNN_ROOT_FOUND")
  [[ -n "$NCCL_ROOT_FOUND" ]] && args+=("-DNCCL_ROOT=$NCCL_ROOT_FOUND")
  # carried -dev packages (gpu-pack.sh --with-dev): pkg-config files under the unpacked prefix
  if [[ -d "$DEBS_PREFIX/usr/lib/x86_64-linux-gnu/pkgconfig" ]]; then
    export PKG_CONFIG_PATH="$DEBS_PREFIX/usr/lib/x86_64-linux-gnu/pkgconfig:$DEBS_PREFIX/usr/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
    export PKG_CONFIG_SYSROOT_DIR="$DEBS_PREFIX"
    args+=("-DCMAKE_PREFIX_PATH=$DEBS_PREFIX/usr" "-DMPI_C_COMPILER=$DEBS_PREFIX/usr/bin/mpicc")
    export OPAL_PREFIX="$DEBS_PREFIX/usr"
  fi
  local b=/tmp/nvae-build
  # shellcheck disable=SC2086
  cmake -S "$root" -B "$b" $gen -DCMAKE_BUILD_TYPE=Release -DNVAE_CUDA=ON -DNVAE_CUDA_ARCH=90 \
        "${args[@]}" || return 1
  cmake --build "$b" -j "$(nproc)" || return 1
  BUILD="$b"
  KEY="built here ($(nvcc --version 2>/dev/null | tail -1 | sed 's/.*cuda_//; s/\.r.*//'), sm_90)"
}

stage_build() {
  setup_libs
  if [[ $rebuild == 0 && -f "$PACK/PACK.txt" && -x "$PACK/build/tests/test_cuda_table" ]]; then
    rebase_carried_build
    local bins=("$PACK"/build/tests/test_* "$PACK"/build/tools/nvae-*)
    local still
    still=$(link_missing_libs "${bins[@]}")
    if [[ -n "$still" ]]; then
      log "carried build: libraries still missing:"; log "$still"
    fi
    log "ldd test_ops_gpu:"; ldd "$PACK/build/tests/test_ops_gpu" 2>&1 | sed 's/^/  /'
    if "$PACK/build/tests/test_cuda_table"; then
      BUILD="$PACK/build"
      KEY="carried build (git $(sed -n 's/^git_head=//p' "$PACK/PACK.txt" | cut -c1-10), dirty $(sed -n 's/^git_dirty=//p' "$PACK/PACK.txt"), $(sed -n 's/^nvcc=.*cuda_//p' "$PACK/PACK.txt" | sed 's/\.r.*//'), sm_$(sed -n 's/^cuda_arch=//p' "$PACK/PACK.txt"))"
      [[ -n "$still" ]] && KEY="$KEY; some libs missing"
      return 0
    fi
    log "carried build does not run here: building on this machine instead"
  else
    log "no carried build (.gpu/build) or --rebuild: building on this machine"
  fi
  build_here
}

need_build() {
  if [[ -z "$BUILD" ]]; then
    log "no usable build: the build stage did not run or failed"; KEY="no build"; return 1
  fi
}

OPS_TESTS='^(test_cuda_table|test_philox_gpu|test_ops_gpu|test_bn_sync_gpu|test_step_values_gpu|test_async_copy_gpu)$'

stage_ops() {
  setup_libs; need_build || return 1
  local rc=0 t
  # test_ops_gpu directly with this run's seed (one line per case), then the ctest record of the
  # op tests (test_ops_gpu again, with a seed of its own drawn from the clock)
  log "test_ops_gpu --seed $seed"
  "$BUILD/tests/test_ops_gpu" --seed "$seed" || rc=1
  ctest --test-dir "$BUILD" -L gpu -R "$OPS_TESTS" --output-on-failure --timeout 300 || rc=1
  local summary; summary=$(grep -E '^[0-9]+ op cases' "$OUT/gpu-check-ops.log" | tail -1)
  local skipped; skipped=$(grep -cE 'SKIPPED|\*\*\*Skipped' "$OUT/gpu-check-ops.log")
  KEY="${summary:-no summary line}"
  t=$(grep -E 'tests passed' "$OUT/gpu-check-ops.log" | tail -1); [[ -n "$t" ]] && KEY="$KEY; ctest: $t"
  if [[ $skipped -gt 0 ]]; then KEY="$KEY; $skipped SKIPPED (a GPU test skipped on the GPU machine)"; rc=1; fi
  return $rc
}

stage_sanitize() {
  setup_libs; need_build || return 1
  local cs; cs=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
  [[ -x "$cs" ]] || { KEY="compute-sanitizer not found"; return 2; }
  local rc=0
  timeout 150 "$cs" --tool memcheck --leak-check full --error-exitcode 9 \
    "$BUILD/tests/test_ops_gpu" --seed 12345 --small || rc=$?
  local errs; errs=$(grep -E 'ERROR SUMMARY' "$OUT/gpu-check-sanitize.log" | tail -1)
  case $rc in
    0) KEY="memcheck: ${errs:-no summary}" ;;
    124) KEY="timed out after 150 s (not a failure of the code; run fewer cases)"; return 2 ;;
    *) KEY="memcheck: ${errs:-exit $rc}"; return 1 ;;
  esac
}

# Open MPI for the tests that start ranks: the system's mpiexec, else the carried one (openmpi-bin
# from .gpu/debs, relocated with OPAL_PREFIX; the carried ctest files name /usr/bin/mpiexec).
setup_mpi() {
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 # the device runs as root
  [[ -x /usr/bin/mpiexec ]] && { log "mpiexec: system /usr/bin/mpiexec"; return 0; }
  if [[ -x "$DEBS_PREFIX/usr/bin/mpiexec" || -L "$DEBS_PREFIX/usr/bin/mpiexec" ]]; then
    export OPAL_PREFIX="$DEBS_PREFIX/usr"
    export PATH="$PATH:$DEBS_PREFIX/usr/bin"
    find "$BUILD" -name CTestTestfile.cmake -print0 |
      xargs -0 sed -i "s#\"/usr/bin/mpiexec\"#\"$(realpath "$DEBS_PREFIX/usr/bin/mpiexec")\"#g"
    log "mpiexec: carried ($DEBS_PREFIX/usr/bin/mpiexec, OPAL_PREFIX=$OPAL_PREFIX; not tried before)"
  else
    log "mpiexec: none (the multi-rank tests will fail)"
  fi
}

stage_ctest() {
  setup_libs; need_build || return 1
  setup_mpi
  local rc=0
  ctest --test-dir "$BUILD" -L gpu -E "$OPS_TESTS" --output-on-failure --timeout 300 || rc=1
  KEY=$(grep -E 'tests passed|No tests were found' "$OUT/gpu-check-ctest.log" | tail -1)
  local skipped; skipped=$(grep -c '\*\*\*Skipped' "$OUT/gpu-check-ctest.log")
  [[ $skipped -gt 0 ]] && KEY="$KEY; $skipped skipped (see the log for why)"
  return $rc
}

missing_test() { KEY="not run: $1"; log "$KEY"; return 2; } # reported as not run, never a pass
stage_step() { # whole training steps CUDA vs CPU: the gpu-labelled ctest tests named *step*
  setup_libs
  if [[ -n "$BUILD" ]] && ctest --test-dir "$BUILD" -N -L gpu -R step 2>/dev/null | grep -q 'Test *#'; then
    local rc=0
    ctest --test-dir "$BUILD" -L gpu -R step --output-on-failure --timeout 300 || rc=1
    KEY=$(grep -E 'tests passed' "$OUT/gpu-check-later.log" | tail -1)
    return $rc
  fi
  missing_test "no gpu-labelled step test (test_step_parity_gpu) in the build at ${BUILD:-?}"
}
stage_parity() { stage_step; } # the whole-step GPU-vs-CPU parity is the step test

# Synthetic CelebA-shaped data (nvae-prep synthetic: no dataset travels), made once per call.
synth_data() { # $1 dir $2 images $3 size
  [[ -f "$1/dataset.yaml" ]] && return 0
  "$BUILD/tools/nvae-prep" synthetic --images "$2" --size "$3" --out "$1" >/dev/null
}

# 2 ranks sharing the one GPU over the MPI transport (device buffers staged through host memory;
# NCCL cannot put two ranks on one GPU) must equal 1 rank with twice the batch: final/model.h5
# within 1e-4 relative after 4 steps (tests/train/compare_model_h5.py; the bound of the GPU
# parity test: the biases of convs that feed a BatchNorm have a gradient of pure rounding noise,
# which Adamax scales up, so their sum order shows at 1e-5 already on the CPU).
stage_mpi2() {
  setup_libs; need_build || return 1
  setup_mpi
  local d=/tmp/nvae-gpu-mpi2 rc=0
  rm -rf "$d"; mkdir -p "$d"
  synth_data "$d/data" 64 32 || { KEY="nvae-prep synthetic failed"; return 1; }
  local args=(--config "$root/configs/tiny.yaml" data.path="$d/data" device=cuda
    train.max_steps=4 train.seed=3 train.deterministic=true log.every_steps=1
    log.image_every_steps=0 eval.max_images=8 eval.iw_samples=1 checkpoint.every_steps=0
    comm.transport=mpi comm.param_check_every_steps=1 comm.timeout_s=120)
  timeout 120 "$BUILD/tools/nvae-train" "${args[@]}" train.batch_size=8 --run-dir "$d/one" || rc=1
  timeout 120 mpiexec -np 2 --oversubscribe "$BUILD/tools/nvae-train" "${args[@]}" \
    train.batch_size=4 --run-dir "$d/two" || rc=1
  [[ $rc == 0 ]] || { KEY="a training run failed (see the log)"; return 1; }
  local cmp; cmp=$(python3 "$root/tests/train/compare_model_h5.py" "$d/one/final/model.h5" \
    "$d/two/final/model.h5" 1e-4 1e-7) || rc=1
  log "$cmp"
  KEY="2 ranks x 4 vs 1 x 8 on one GPU (MPI transport): ${cmp##*: }"
  return $rc
}

# 200 steps of configs/celeba64.yaml (batch 16) on synthetic 64x64 data: the loss must fall.
stage_train200() {
  setup_libs; need_build || return 1
  local d=/tmp/nvae-gpu-train200 rc=0
  rm -rf "$d/run"; mkdir -p "$d"
  synth_data "$d/data" 3200 64 || { KEY="nvae-prep synthetic failed"; return 1; }
  timeout 170 "$BUILD/tools/nvae-train" --config "$root/configs/celeba64.yaml" \
    data.path="$d/data" device=cuda train.max_steps=200 train.batch_size=16 \
    optim.warmup_steps=20 log.every_steps=20 log.image_every_steps=0 eval.max_images=64 \
    eval.iw_samples=1 checkpoint.every_steps=0 checkpoint.every_minutes=0 --run-dir "$d/run" ||
    rc=$?
  if [[ $rc != 0 ]]; then KEY="nvae-train exit $rc (124: over 170 s)"; return 1; fi
  KEY=$(python3 - "$d/run/metrics.jsonl" "$d/run/perf.json" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"loss"' in l]
perf = json.load(open(sys.argv[2]))
a, b = rows[0], rows[-1]
ok = b["recon"] < a["recon"] and b["nelbo"] < a["nelbo"]
print("%s: recon %.1f -> %.1f, nelbo %.1f -> %.1f (steps %d -> %d); %.1f img/s" % (
    "loss falls" if ok else "LOSS DID NOT FALL", a["recon"], b["recon"], a["nelbo"], b["nelbo"],
    a["step"], b["step"], perf["images_per_s"]))
sys.exit(0 if ok else 1)
PY
) || rc=1
  log "$KEY"
  return $rc
}

# nvae-bench on configs/celeba64.yaml: batch 16, then the largest batch that fits.
stage_bench() {
  setup_libs; need_build || return 1
  [[ -x "$BUILD/tools/nvae-bench" ]] || { KEY="no nvae-bench in this build"; return 1; }
  local rc=0
  timeout 150 "$BUILD/tools/nvae-bench" --config "$root/configs/celeba64.yaml" --batch 16 \
    --steps 10 --warmup 3 --device cuda --json /tmp/nvae-bench-16.json || rc=1
  timeout 150 "$BUILD/tools/nvae-bench" --config "$root/configs/celeba64.yaml" --find-max-batch \
    --steps 3 --warmup 1 --device cuda --json /tmp/nvae-bench-max.json || rc=1
  KEY=$(python3 -c '
import json, sys
def f(p):
    try: return json.load(open(p))
    except Exception: return None
a, m = f(sys.argv[1]), f(sys.argv[2])
out = []
if a: out.append("b16: %.1f img/s, %.0f ms/step (fwd %.0f bwd %.0f opt %.0f), %.0f MiB, %.2f TFLOP/s" % (
    a["images_per_s"], a["step_ms"], a["forward_ms"], a["backward_ms"], a["optimizer_ms"],
    a["device_mib"], a["tflops"]))
if m: out.append("max batch %d: %.1f img/s, %.0f MiB" % (m["batch"], m["images_per_s"], m["device_mib"]))
print("; ".join(out) or "no figures")' /tmp/nvae-bench-16.json /tmp/nvae-bench-max.json)
  return $rc
}

# PyTorch reference (tests/reference/nvae_ref.py) on the same GPU, same config and batch:
# float32 eager (TF32 off) and autocast fp16 + GradScaler (the official training), and the ratio
# to nvae-bench's batch-16 figure from stage bench.
stage_torch() {
  python3 -c "import torch; assert torch.cuda.is_available()" 2>/dev/null ||
    { KEY="no CUDA PyTorch in python3"; return 2; }
  local rc=0 p
  for p in fp32 amp; do
    local extra=(); [[ $p == amp ]] && extra=(--amp)
    timeout 150 python3 "$root/tools/bench_torch.py" --config celeba64 --batch 16 --steps 10 \
      --warmup 3 --device cuda "${extra[@]}" --json "/tmp/nvae-torch-$p.json" || rc=1
  done
  KEY=$(python3 -c '
import json, sys
def f(p):
    try: return json.load(open(p))
    except Exception: return None
ours, t32, amp = f(sys.argv[1]), f("/tmp/nvae-torch-fp32.json"), f("/tmp/nvae-torch-amp.json")
out = []
for name, t in (("torch fp32", t32), ("torch amp", amp)):
    if t: out.append("%s %.1f img/s %.0f MiB" % (name, t["images_per_s"], t["peak_mib"]))
if ours and t32: out.append("ours/torch-fp32 %.2fx" % (ours["images_per_s"] / t32["images_per_s"]))
if ours and amp: out.append("ours/torch-amp %.2fx" % (ours["images_per_s"] / amp["images_per_s"]))
print("; ".join(out) or "no figures")' /tmp/nvae-bench-16.json)
  return $rc
}

# ------------------------------------------------------------------ driver
run_stage() {
  local name=$1 fn logname t0 rc
  case "$name" in
    probe|build|ops|sanitize|ctest|step|parity|mpi2|train200|bench|torch) fn="stage_$name" ;;
    train) fn=stage_train200; name=train200 ;;
    *) ROWS+=("$name|UNKNOWN|0|no such stage (see --list)"); FAILED=1; return ;;
  esac
  case "$name" in
    probe|build|ops|sanitize|ctest) logname="$OUT/gpu-check-$name.log" ;;
    *) logname="$OUT/gpu-check-later.log" ;;
  esac
  KEY=""
  t0=$SECONDS
  echo "==== stage $name ($(date -u +%H:%M:%S)) ====" >>"$logname"
  # in this shell (stages set BUILD and LD_LIBRARY_PATH), output to the log; the console gets
  # the probe in full and the end of every other stage's log
  local start; start=$(wc -l <"$logname")
  "$fn" >>"$logname" 2>&1
  rc=$?
  echo "==== stage $name ===="
  if [[ $name == probe ]]; then tail -n +"$((start + 1))" "$logname"
  else tail -n +"$((start + 1))" "$logname" | tail -n 25; fi
  local res
  case $rc in 0) res=ok ;; 2) res=n/a ;; *) res=FAIL; FAILED=1 ;; esac
  ROWS+=("$name|$res|$((SECONDS - t0))|${KEY//|//}")
}

IFS=',' read -r -a chosen <<<"$stages"
for s in "${chosen[@]}"; do run_stage "$s"; done

{
  echo
  echo "gpu-check.sh summary ($(date -u +%Y-%m-%dT%H:%M:%SZ), seed $seed; logs in $OUT)"
  printf '%-9s %-6s %5s  %s\n' stage result sec "key figure"
  for r in "${ROWS[@]}"; do
    IFS='|' read -r a b c d <<<"$r"
    printf '%-9s %-6s %5s  %s\n' "$a" "$b" "$c" "$d"
  done
} | tee "$OUT/gpu-check-summary.txt"
exit $FAILED
