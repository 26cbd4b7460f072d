"""h5py view of a model.h5 (tests/train/test_model_io.c): every P and B tensor of the registry
listing (kind, name, shape per line) is a root dataset with that shape (float32, int64 for
num_batches_tracked, a 0-d dataset for "scalar"); aliases are absent; /sr has u and v for
n_convs layers; the root attributes exist. Exit 0 or 1."""
import sys

import h5py
import numpy as np


def main(path, listing, n_convs):
    bad = []
    with h5py.File(path, "r") as f:
        for line in open(listing):
            kind, name, shape = line.split()
            want = () if shape == "scalar" else tuple(int(s) for s in shape.split("x"))
            if kind == "A":
                if name in f:
                    bad.append("alias %s stored" % name)
                continue
            if name not in f:
                bad.append("%s missing" % name)
                continue
            d = f[name]
            if d.shape != want:
                bad.append("%s shape %s, want %s" % (name, d.shape, want))
            dt = np.int64 if name.endswith("num_batches_tracked") else np.float32
            if d.dtype != dt:
                bad.append("%s dtype %s" % (name, d.dtype))
        if len(f["sr"]) != n_convs:
            bad.append("/sr has %d layers, want %d" % (len(f["sr"]), n_convs))
        for k in ("format", "format_version", "step", "epoch", "world_size", "config",
                  "image_channels", "image_size", "crop"):
            if k not in f.attrs:
                bad.append("attribute %s missing" % k)
        if not isinstance(f.attrs["config"], str) or "model:" not in f.attrs["config"]:
            bad.append("config attribute is not the YAML text")
        if int(f.attrs["step"]) != 1234:
            bad.append("step %r" % f.attrs["step"])
    for b in bad[:20]:
        print("check_model_h5:", b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
