"""Integration check for `nvae-prep folder`.
  folder_images.py make DIR          writes a small tree of JPEG/PNG images in many modes with PIL
  folder_images.py check DATASET DIR SIZE FRACTION
checks the shards (h5py) against PIL: convert("RGB"), centre square crop, resize((S, S),
BILINEAR); and the train/valid assignment (SHA-256 rank of the relative path). Fails above 1."""
import hashlib
import math
import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shards_h5py import fail, read_split  # noqa: E402


def smooth(w, h, c, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    out = np.zeros((h, w, c))
    for ch in range(c):
        v = 128 + np.zeros((h, w))
        for _ in range(5):
            fx, fy, ph = rng.uniform(0.5, 6), rng.uniform(0.5, 6), rng.uniform(0, 6.3)
            v += 30 * np.sin(2 * np.pi * (fx * x / w + fy * y / h) + ph)
        out[:, :, ch] = v
    return np.clip(out, 0, 255).astype(np.uint8)


def make(root):
    specs = [  # (relative path, mode, w, h, format)
        ("a/rgb_wide.jpg", "RGB", 200, 150, "JPEG"),
        ("a/grey_tall.jpeg", "L", 120, 170, "JPEG"),
        ("a/b/rgb.png", "RGB", 90, 90, "PNG"),
        ("a/b/rgba.PNG", "RGBA", 75, 60, "PNG"),
        ("c/grey.png", "L", 40, 50, "PNG"),
        ("c/grey_alpha.png", "LA", 33, 47, "PNG"),
        ("c/palette.png", "P", 64, 80, "PNG"),
        ("c/small.jpg", "RGB", 20, 24, "JPEG"),
        ("d/rgb16.png", "RGB16", 48, 40, "PNG"),
        ("e/png_named_jpg.jpg", "RGB", 70, 66, "PNG"),
    ]
    for i in range(14):
        specs.append(("f/img%02d.jpg" % i, "RGB", 60 + 7 * i, 80 - i, "JPEG"))
    for i, (rel, mode, w, h, fmt) in enumerate(specs):
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if mode == "RGB16":
            arr = smooth(w, h, 3, i).astype(np.uint16) * 257
            # PIL cannot write 16-bit RGB PNG; write it with a tiny encoder instead
            write_png16(path, arr)
            continue
        c = {"RGB": 3, "L": 1, "RGBA": 4, "LA": 2, "P": 3}[mode]
        arr = smooth(w, h, c, i)
        if mode == "P":
            im = Image.fromarray(arr, "RGB").convert("P", palette=Image.ADAPTIVE, colors=50)
        elif c == 1:
            im = Image.fromarray(arr[:, :, 0], "L")
        else:
            im = Image.fromarray(arr, mode)
        im.save(path, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    open(os.path.join(root, "notes.txt"), "w").write("not an image, ignored\n")
    open(os.path.join(root, ".hidden.jpg"), "w").write("hidden, ignored\n")


def write_png16(path, arr):
    import struct
    import zlib
    h, w, _ = arr.shape
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    open(path, "wb").write(data)


def files_of(root):
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for f in filenames:
            if not f.startswith(".") and f.lower().endswith((".jpg", ".jpeg", ".png")):
                out.append(os.path.relpath(os.path.join(dirpath, f), root))
    return sorted(out, key=lambda s: s.encode())


def reference(path, size):
    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        s = min(w, h)
        left, top = (w - s) // 2, (h - s) // 2
        return np.asarray(im.crop((left, top, left + s, top + s)).resize((size, size),
                                                                          Image.BILINEAR))


def check(dataset, root, size, fraction):
    files = files_of(root)
    ranked = sorted(range(len(files)),
                    key=lambda i: (hashlib.sha256(files[i].encode()).digest()[:8], i))
    n_valid = int(math.floor(fraction * len(files) + 0.5))
    if n_valid == 0 and fraction > 0 and len(files) > 1:
        n_valid = 1
    valid = set(ranked[:n_valid])
    attrs = dict(height=size, width=size, channels=3, source="folder", crop="center-square",
                 resize_filter="pil-bilinear-antialias")
    worst, count = 0, 0
    for split in ["train", "valid"]:
        images, index = read_split(dataset, split, attrs)
        want = [i for i in range(len(files)) if (i in valid) == (split == "valid")]
        if list(index) != want:
            fail("split %s holds %s, expected %s" % (split, list(index), want))
        for img, i in zip(images, index):
            diff = int(np.abs(img.astype(int) - reference(os.path.join(root, files[i]), size)
                              .astype(int)).max())
            if diff > 1:
                print("  %s: max abs diff %d" % (files[i], diff))
            worst = max(worst, diff)
            count += 1
    print("folder: %d images checked against PIL, max_abs_diff %d" % (count, worst))
    if worst > 1:
        fail("max abs difference %d > 1" % worst)


if sys.argv[1] == "make":
    make(sys.argv[2])
else:
    check(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
