"""Integration check for `nvae-prep idx`: h5py reads the shards; every pixel equals the raw IDX
bytes, the shapes are [N, 28, 28, 1] and /index is 0..N-1.
usage: check_idx.py DATASET_DIR TRAIN_IDX TEST_IDX"""
import gzip
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shards_h5py import fail, read_split  # noqa: E402

dataset = sys.argv[1]
for split, path in [("train", sys.argv[2]), ("test", sys.argv[3])]:
    raw = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
    n, rows, cols = (int.from_bytes(raw[4 * i:4 * i + 4], "big") for i in (1, 2, 3))
    ref = np.frombuffer(raw[16:], np.uint8).reshape(n, rows, cols, 1)
    images, index = read_split(dataset, split, dict(height=rows, width=cols, channels=1,
                                                    source="idx", crop="none",
                                                    resize_filter="none"))
    if images.shape != ref.shape or not np.array_equal(images, ref):
        fail("split %s: shards differ from %s" % (split, path))
    if not np.array_equal(index, np.arange(n)):
        fail("split %s: /index is not 0..N-1" % split)
    print("idx: split %s: %d images of %dx%d equal the IDX bytes (h5py)" % (split, n, rows, cols))
