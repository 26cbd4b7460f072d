"""Compares two model.h5 files dataset by dataset (parameters, BN statistics, SR vectors):
compare_model_h5.py A B [RTOL] [ATOL]. A value passes when |a - b| <= RTOL * max(|a|, |b|) + ATOL
(defaults 1e-5 and 1e-7: a float32 all-reduce sums in another order than one process does).
Prints the largest relative difference and the dataset it is in; exit 0 or 1."""
import sys

import h5py
import numpy as np


def datasets(f):
    out = {}
    f.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out


def main(a, b, rtol, atol):
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        da, db = datasets(fa), datasets(fb)
    if sorted(da) != sorted(db):
        print("FAIL: dataset names differ:", sorted(set(da) ^ set(db))[:10])
        return 1
    worst, worst_name, bad, n = 0.0, "", [], 0
    for name in sorted(da):
        x = np.atleast_1d(np.asarray(da[name], dtype=np.float64))
        y = np.atleast_1d(np.asarray(db[name], dtype=np.float64))
        if x.shape != y.shape:
            bad.append("%s: shape %s vs %s" % (name, x.shape, y.shape))
            continue
        n += x.size
        diff = np.abs(x - y)
        scale = np.maximum(np.abs(x), np.abs(y))
        rel = diff / np.maximum(scale, 1e-30)
        rel[diff == 0] = 0
        # the relative difference of values that are not tiny (those fall under ATOL)
        big = scale > atol / rtol
        r = float(rel[big].max()) if big.any() else 0.0
        if r > worst:
            worst, worst_name = r, name
        if np.any(diff > rtol * scale + atol):
            i = int(np.argmax(diff - rtol * scale - atol))
            bad.append("%s: %d values differ, e.g. %r vs %r" % (
                name, int(np.sum(diff > rtol * scale + atol)), x.flat[i], y.flat[i]))
    print("compared %d datasets, %d values: max relative difference %.3g (%s)"
          % (len(da), n, worst, worst_name))
    for line in bad[:20]:
        print("FAIL:", line)
    return 1 if bad else 0


if __name__ == "__main__":
    rtol = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-5
    atol = float(sys.argv[4]) if len(sys.argv) > 4 else 1e-7
    sys.exit(main(sys.argv[1], sys.argv[2], rtol, atol))
