# Sourced by the trainer's shell tests: tiny_fmnist_data DIR makes the tiny Fashion-MNIST dataset
# they train on (256 train and 64 test images from the Debian package, tests/train/make_tiny_idx.py,
# then nvae-prep idx) in DIR/data, or exits 77 (skipped) when the package is not installed.
# Needs $SRC (source tree) and $BIN (nvae-prep's directory).
tiny_fmnist_data() {
  [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || {
    echo "skipped: Fashion-MNIST (dataset-fashion-mnist) is not installed"; exit 77; }
  /usr/bin/python3 "$SRC/tests/train/make_tiny_idx.py" "$1/idx" 256 64 || exit 1
  "$BIN/nvae-prep" idx --train "$1/idx/train-idx3" --test "$1/idx/test-idx3" --out "$1/data" \
    > "$1/prep.log" 2>&1 || { cat "$1/prep.log"; exit 1; }
}
