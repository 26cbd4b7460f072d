#!/usr/bin/env python3
"""Checks test_png_grid's PNGs against torchvision's make_grid + save_image, re-implemented in
numpy (torchvision is not installed; the code follows torchvision/utils.py line by line).

Manifest lines (written by tests/logging/test_png_grid.c):
  grid|pairs N C H W x.f32 xr.f32 out.png equal|mismatch
  raw H W C pixels.u8 out.png
Every PNG is read back with PIL. "equal" cases must match the reference byte for byte;
"mismatch" cases must NOT (proves the comparison can fail). Exit 0 when all hold.
"""
import math
import sys

import numpy as np
from PIL import Image


def make_grid(t, nrow=8, padding=2, pad_value=0.0):
    """torchvision.utils.make_grid(t, nrow, padding, normalize=False, pad_value) for [N,C,H,W]."""
    if t.shape[1] == 1:  # single-channel images -> 3 channels
        t = np.concatenate((t, t, t), axis=1)
    if t.shape[0] == 1:  # a lone image is returned as is
        return t[0]
    nmaps = t.shape[0]
    xmaps = min(nrow, nmaps)
    ymaps = int(math.ceil(float(nmaps) / xmaps))
    height, width = t.shape[2] + padding, t.shape[3] + padding
    grid = np.full((t.shape[1], height * ymaps + padding, width * xmaps + padding), pad_value,
                   dtype=np.float32)
    k = 0
    for y in range(ymaps):
        for x in range(xmaps):
            if k >= nmaps:
                break
            grid[:, y * height + padding:y * height + padding + height - padding,
                 x * width + padding:x * width + padding + width - padding] = t[k]
            k += 1
    return grid


def save_image_pixels(grid):
    """save_image's grid.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to(uint8), float32."""
    a = grid.astype(np.float32) * np.float32(255)
    a = a + np.float32(0.5)
    a = np.clip(a, np.float32(0), np.float32(255))
    return a.transpose(1, 2, 0).astype(np.uint8)


def torch_pixels(grid):
    """The same quantisation with torch itself, when Debian's torch is there (a cross-check of
    save_image_pixels' float32 arithmetic)."""
    try:
        import torch
    except ImportError:
        return None
    g = torch.from_numpy(np.ascontiguousarray(grid))
    return g.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to("cpu", torch.uint8).numpy()


def pairs_batch(x, xr):
    """Inputs and reconstructions interleaved row by row (image_grid_make_pairs), short rows
    filled with black (zero) images; make_grid with nrow = columns then gives the C layout."""
    n = x.shape[0]
    cols = min(8, n)
    rows = (n + cols - 1) // cols
    zero = np.zeros_like(x[:1])
    out = []
    for r in range(rows):
        for src in (x, xr):
            chunk = src[r * cols:(r + 1) * cols]
            out.append(chunk)
            if chunk.shape[0] < cols:
                out.append(np.repeat(zero, cols - chunk.shape[0], axis=0))
    return np.concatenate(out, axis=0), cols


def read_png(path):
    im = Image.open(path)
    im.load()
    return im.mode, np.asarray(im)


def check_grid(kind, n, c, h, w, xpath, xrpath, png, expect):
    x = np.fromfile(xpath, dtype="<f4").reshape(n, c, h, w)
    if kind == "pairs":
        xr = np.fromfile(xrpath, dtype="<f4").reshape(n, c, h, w)
        batch, cols = pairs_batch(x, xr)
        grid = make_grid(batch, nrow=cols)
    else:
        grid = make_grid(x)
    ref = save_image_pixels(grid)
    tp = torch_pixels(grid)
    if tp is not None and not np.array_equal(tp, ref):
        return "numpy quantisation differs from torch's"
    mode, got = read_png(png)
    if mode != "RGB":
        return f"PIL mode {mode}, expected RGB"
    if got.shape != ref.shape:
        return f"shape {got.shape}, expected {ref.shape}"
    diff = int(np.count_nonzero(got != ref))
    if expect == "equal" and diff:
        idx = np.argwhere(got != ref)[0]
        return f"{diff} bytes differ, first at {tuple(idx)}: {got[tuple(idx)]} vs {ref[tuple(idx)]}"
    if expect == "mismatch" and not diff:
        return "a grid of different data compared equal: the check cannot fail"
    return None


def check_raw(h, w, c, rawpath, png):
    want = np.fromfile(rawpath, dtype=np.uint8).reshape(h, w, c)
    mode, got = read_png(png)
    if mode != ("L" if c == 1 else "RGB"):
        return f"PIL mode {mode} for {c} channels"
    if c == 1:
        got = got.reshape(h, w, 1)
    if got.shape != want.shape or not np.array_equal(got, want):
        return "pixels differ"
    return None


def main():
    failures = 0
    checked = 0
    with open(sys.argv[1]) as f:
        for line in f:
            p = line.split()
            if not p:
                continue
            if p[0] in ("grid", "pairs"):
                why = check_grid(p[0], int(p[1]), int(p[2]), int(p[3]), int(p[4]), p[5], p[6],
                                 p[7], p[8])
                name = p[7]
            elif p[0] == "raw":
                why = check_raw(int(p[1]), int(p[2]), int(p[3]), p[4], p[5])
                name = p[5]
            else:
                why, name = f"unknown manifest line {line!r}", "?"
            checked += 1
            if why:
                failures += 1
                print(f"FAILED {name}: {why}", file=sys.stderr)
    print(f"check_png_grid: {checked} images, {failures} failed")
    return 1 if failures or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
