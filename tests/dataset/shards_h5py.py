"""Reading an nvae-train dataset directory with h5py only (what a user would do), for the
integration tests: every shard is checked against the format (docs/dataset-format.md)."""
import glob
import os
import re

import h5py
import numpy as np


def fail(msg):
    raise SystemExit("FAILED: " + msg)


def read_split(dataset_dir, split, expect_attrs):
    """Returns (images [N,H,W,C] uint8, index [N] int32) of a split, concatenated over its
    shards, after checking each shard's layout and attributes."""
    files = sorted(glob.glob(os.path.join(dataset_dir, "*-%s-*-of-*.h5" % split)))
    if not files:
        fail("no shards for split %s in %s" % (split, dataset_dir))
    images, index = [], []
    for k, path in enumerate(files):
        m = re.search(r"-(\d{5})-of-(\d{5})\.h5$", path)
        if not m or int(m.group(1)) != k or int(m.group(2)) != len(files):
            fail("%s: bad shard file name (shard %d of %d)" % (path, k, len(files)))
        with h5py.File(path, "r") as f:
            d = f["images"]
            if d.dtype != np.uint8 or d.ndim != 4:
                fail("%s: /images is %s of rank %d" % (path, d.dtype, d.ndim))
            if d.chunks != (1,) + d.shape[1:] or d.compression is not None:
                fail("%s: chunks %s compression %s" % (path, d.chunks, d.compression))
            a = dict(f.attrs)
            want = dict(expect_attrs)
            want.update(split=split, shard_index=k, shard_count=len(files), format_version=1,
                        format="nvae-dataset", layout="NHWC", num_images=d.shape[0])
            for key, value in want.items():
                got = a.get(key)
                if isinstance(value, str):
                    ok = isinstance(got, str) and got == value
                elif isinstance(value, (list, tuple)):
                    ok = got is not None and list(np.asarray(got)) == list(value)
                else:
                    ok = got is not None and int(got) == value
                if not ok:
                    fail("%s: attribute %s = %r, expected %r" % (path, key, got, value))
            if (d.shape[1], d.shape[2], d.shape[3]) != (a["height"], a["width"], a["channels"]):
                fail("%s: shape %s disagrees with the attributes" % (path, d.shape))
            images.append(d[:])
            index.append(f["index"][:])
    return np.concatenate(images), np.concatenate(index)
