# Shared set-up of the checkpoint tests (sourced): a tiny Fashion-MNIST dataset, a small model,
# and helpers. Needs BIN (the tools), SRC (the source tree), T (a temporary directory).
#   ckpt_setup         dataset in $T/data; $PY = /usr/bin/python3 with h5py; skips (77) otherwise
#   train ARGS...      one process:  nvae-train $ARGS ARGS...
#   train2 ARGS...     two ranks:    mpirun -np 2 --oversubscribe nvae-train $ARGS ARGS...
#   latest RUN         the step LATEST of RUN names (or "none")
#   check COND MSG     records a failure
PY=/usr/bin/python3
fail=0

ckpt_setup() {
  [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || {
    echo "skipped: Fashion-MNIST (dataset-fashion-mnist) is not installed"; exit 77; }
  $PY -c "import h5py" 2>/dev/null || { echo "skipped: no h5py for /usr/bin/python3"; exit 77; }
  $PY "$SRC/tests/train/make_tiny_idx.py" "$T/idx" 256 64 || exit 1
  "$BIN/nvae-prep" idx --train "$T/idx/train-idx3" --test "$T/idx/test-idx3" --out "$T/data" \
    > "$T/prep.log" 2>&1 || { cat "$T/prep.log"; exit 1; }
}

# A small model (fmnist-small with 8 channels) in deterministic mode, batch 4 per rank, logs
# every 2 steps (so a checkpoint at an odd step lands mid-interval), no images, no TensorBoard,
# validation only at the end. sync_bn off: 2 ranks then keep different BN statistics (rank-local
# state the checkpoint must keep) and a step needs 2 collectives instead of ~100 (CI time).
ARGS="--config $SRC/configs/fmnist-small.yaml train.batch_size=4 train.deterministic=true
 model.num_channels_enc=8 model.num_channels_dec=8 train.sync_bn=false log.every_steps=2
 eval.every_steps=1000 eval.max_images=8 eval.iw_samples=1 log.image_every_steps=0
 log.tensorboard=false checkpoint.every_minutes=0"

train() { "$BIN/nvae-train" $ARGS data.path="$T/data" "$@"; }
train2() {
  "$MPIEXEC" -np 2 --oversubscribe "$BIN/nvae-train" $ARGS data.path="$T/data" "$@"
}

latest() {
  if [ -f "$1/checkpoints/LATEST" ]; then sed 's/^step-0*\([0-9]\)/\1/' "$1/checkpoints/LATEST"
  else echo none; fi
}

# The nvae-train processes below process $1 (a background train2's $!), by PID, rank order
ranks_of() {
  ps -e -o pid=,ppid=,comm= | awk -v root="$1" '
    { parent[$1] = $2; name[$1] = $3 }
    END { for (p in name) if (name[p] == "nvae-train") {
            q = p; while (q in parent && q != root && q > 1) q = parent[q]
            if (q == root) print p } }' | sort -n
}

check() {
  if eval "$1"; then echo "ok: $2"; else echo "FAIL: $2"; fail=1; return 1; fi
}
