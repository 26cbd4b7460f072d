"""Writes a tiny MNIST-style IDX pair (the first N train and M test images of Fashion-MNIST from
the Debian package, uncompressed) for the trainer's short tests: make_tiny_idx.py OUT N M."""
import gzip
import os
import struct
import sys

SRC = "/usr/share/datasets/fashion-mnist"


def write(src, dst, n):
    with gzip.open(src, "rb") as f:
        magic, count, h, w = struct.unpack(">IIII", f.read(16))
        data = f.read(n * h * w)
    with open(dst, "wb") as f:
        f.write(struct.pack(">IIII", magic, n, h, w))
        f.write(data)


def main(out, n, m):
    os.makedirs(out, exist_ok=True)
    write(os.path.join(SRC, "train-images-idx3-ubyte.gz"), os.path.join(out, "train-idx3"), n)
    write(os.path.join(SRC, "t10k-images-idx3-ubyte.gz"), os.path.join(out, "test-idx3"), m)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
