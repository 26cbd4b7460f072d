"""Integration check for `nvae-prep celeba`: the shards, read with h5py, against an independent
reference made with PIL exactly as NVAE does it (crop box (15, 40, 163, 188), then
resize((size, size), Image.BILINEAR)). Prints the max abs difference; fails above 1.
usage: check_celeba.py DATASET_DIR CELEBA_ROOT SIZE"""
import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shards_h5py import fail, read_split  # noqa: E402

dataset, root, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
parts = {0: [], 1: [], 2: []}
for line in open(os.path.join(root, "list_eval_partition.txt")):
    name, code = line.split()
    parts[int(code)].append(name)
worst, count = 0, 0
attrs = dict(height=size, width=size, channels=3, source="celeba", crop="box",
             crop_box=[15, 40, 163, 188], resize_filter="pil-bilinear-antialias")
for code, split in enumerate(["train", "valid", "test"]):
    images, index = read_split(dataset, split, attrs)
    names = ["%06d.jpg" % i for i in index]
    if names != parts[code]:
        fail("split %s holds %s, the partition file says %s" % (split, names, parts[code]))
    for img, name in zip(images, names):
        with Image.open(os.path.join(root, "img_align_celeba", name)) as im:
            ref = np.asarray(im.convert("RGB").crop((15, 40, 163, 188))
                             .resize((size, size), Image.BILINEAR))
        diff = int(np.abs(img.astype(int) - ref.astype(int)).max())
        worst = max(worst, diff)
        count += 1
print("celeba: %d images checked against PIL, max_abs_diff %d" % (count, worst))
if worst > 1:
    fail("max abs difference %d > 1" % worst)
