"""Bit-exact comparisons for the checkpoint tests (h5py from /usr/bin/python3).

  compare_ckpt.py models A.h5 B.h5          every dataset of two model.h5 files, bit for bit
  compare_ckpt.py ckpts DIR_A DIR_B         two checkpoint directories: model.h5 tensors and SR
                                            vectors, the optimizer state assembled over the
                                            optim-RRRRR.h5 slices (any world sizes), t, and the
                                            BN statistics of rank-00000.h5, bit for bit
  compare_ckpt.py metrics A.jsonl B.jsonl   the same rows (images_per_s, a timing, left out)
  compare_ckpt.py traces PREFIX_A PREFIX_B  NVAE_CKPT_TRACE files: the same sample order
  compare_ckpt.py coverage PREFIX N         the traced batches of one epoch: every sample of
                                            [0, N) at most once, and no gap before the last
Exit 0 when equal, 1 with a line naming the first difference."""
import glob
import json
import os
import sys

import h5py
import numpy as np


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = np.asarray(obj[()])
        f.visititems(visit)
        attrs = {k: f.attrs[k] for k in f.attrs}
        if "sr" in f:
            attrs["sr.first_call"] = f["sr"].attrs.get("first_call")
    return out, attrs


def same_bits(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def models(a, b):
    da, aa = datasets(a)
    db, ab = datasets(b)
    if sorted(da) != sorted(db):
        fail("%s and %s hold different tensors: %s" % (a, b, sorted(set(da) ^ set(db))[:5]))
    for k in da:
        if not same_bits(da[k], db[k]):
            fail("%s differs between %s and %s" % (k, a, b))
    for k in ("step", "sr.first_call"):
        if k in aa and str(aa.get(k)) != str(ab.get(k)):
            fail("attribute %s: %s vs %s" % (k, aa.get(k), ab.get(k)))
    return len(da)


def optim_state(d):
    files = sorted(glob.glob(os.path.join(d, "optim-*.h5")))
    m, v, t, name = [], [], None, None
    for i, p in enumerate(files):
        with h5py.File(p, "r") as f:
            assert f.attrs["rank"] == i and f.attrs["world_size"] == len(files), p
            name = f.attrs["optimizer"]
            name = name.decode() if isinstance(name, bytes) else name
            m.append(np.asarray(f["exp_avg"]))
            v.append(np.asarray(f["exp_inf" if name == "adamax" else "exp_avg_sq"]))
            t = int(f.attrs["t"]) if t is None else t
            assert int(f.attrs["t"]) == t, p
    return np.concatenate(m), np.concatenate(v), t, len(files)


def ckpts(a, b):
    n = models(os.path.join(a, "model.h5"), os.path.join(b, "model.h5"))
    ma, va, ta, wa = optim_state(a)
    mb, vb, tb, wb = optim_state(b)
    if not (same_bits(ma, mb) and same_bits(va, vb)) or ta != tb:
        fail("optimizer state differs (t %s vs %s, %d vs %d ranks)" % (ta, tb, wa, wb))
    with h5py.File(os.path.join(a, "rank-00000.h5"), "r") as fa, \
            h5py.File(os.path.join(b, "rank-00000.h5"), "r") as fb:
        for k in ("bn_buffers", "bn_counters"):
            if not same_bits(np.asarray(fa[k]), np.asarray(fb[k])):
                fail("rank-00000.h5 %s differs" % k)
        for k in ("step", "sampler_epoch", "sampler_position", "skipped", "streak"):
            if fa.attrs[k] != fb.attrs[k]:
                fail("rank-00000.h5 attribute %s: %s vs %s" % (k, fa.attrs[k], fb.attrs[k]))
    print("ok: %s == %s: %d model tensors, optimizer state of %d elements (t=%d; %d vs %d "
          "ranks), BN statistics, bit for bit" % (a, b, n, ma.size, ta, wa, wb))


def rows(path):
    out = []
    for line in open(path):
        r = json.loads(line)
        r.pop("images_per_s", None)
        out.append(r)
    return out


def metrics(a, b):
    ra, rb = rows(a), rows(b)
    if len(ra) != len(rb):
        fail("%s has %d rows, %s %d" % (a, len(ra), b, len(rb)))
    for x, y in zip(ra, rb):
        if x != y:
            fail("metrics row differs: %s vs %s" % (x, y))
    print("ok: %d metrics rows identical (images_per_s left out)" % len(ra))


def trace_lines(prefix):
    files = sorted(glob.glob(prefix + ".r*"))
    if not files:
        fail("no trace files %s.r*" % prefix)
    return {os.path.basename(p)[-6:]: open(p).read().splitlines() for p in files}


def traces(a, b):
    ta, tb = trace_lines(a), trace_lines(b)
    if ta != tb:
        for r in sorted(set(ta) | set(tb)):
            la, lb = ta.get(r, []), tb.get(r, [])
            for i, (x, y) in enumerate(zip(la, lb)):
                if x != y:
                    fail("sample order differs on %s, line %d: %s vs %s" % (r, i + 1, x, y))
            if len(la) != len(lb):
                fail("%s: %d vs %d traced steps" % (r, len(la), len(lb)))
        fail("traces differ")
    print("ok: sample order identical (%d ranks, %d steps)" % (len(ta), len(next(iter(ta.values())))))


def coverage(prefix, n):
    """Epoch 0 of the traced batches: the global positions each rank's batch covers must tile
    [0, n) exactly (nothing repeated, nothing skipped), and the sample indices be distinct."""
    spans, seen = [], {}
    for rank, lines in trace_lines(prefix).items():
        r = int(rank.lstrip("r"))
        for line in lines:
            f = line.split()
            step, epoch, pos, idx = int(f[0]), int(f[1]), int(f[2]), [int(i) for i in f[3:]]
            if epoch != 0:
                continue
            b = len(idx)
            spans.append((pos + r * b, pos + (r + 1) * b, step))
            for i in idx:
                if i in seen:
                    fail("sample %d read twice in epoch 0 (steps %d and %d)" % (i, seen[i], step))
                seen[i] = step
    spans.sort()
    at = 0
    for lo, hi, step in spans:
        if lo != at:
            fail("epoch 0: positions [%d, %d) %s (step %d)" % (
                min(at, lo), max(at, lo), "skipped" if lo > at else "read twice", step))
        at = hi
    if at != n:
        fail("epoch 0: positions [0, %d) read, want [0, %d)" % (at, n))
    print("ok: epoch 0 positions [0, %d) read exactly once: %d distinct samples" % (n, len(seen)))


def main(argv):
    mode = argv[1]
    if mode == "models":
        print("ok: %d tensors identical" % models(argv[2], argv[3]))
    elif mode == "ckpts":
        ckpts(argv[2], argv[3])
    elif mode == "metrics":
        metrics(argv[2], argv[3])
    elif mode == "traces":
        traces(argv[2], argv[3])
    elif mode == "coverage":
        coverage(argv[2], int(argv[3]))
    else:
        fail("unknown mode " + mode)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
