"""PyTorch CPU side of tools/nvae-opbench: times the same op cases with torch (float32).

    opbench_torch.py --threads N --reps R --warmup W SPEC

SPEC has one JSON object per line (written by nvae-opbench): index, family, label, ip, fp, and the
inputs/outputs that the case's describe() lists. For each case whose family has a builder below,
prints "index fwd_ms fwd+bwd_ms" (medians); other families are left out (shown as "-").

A builder turns (ip, fp, inputs by name) into a function returning the case's outputs in describe()
order; its ip/fp layout is the one documented in that family's tests/ops/cases_<family>.c.
Adding a family here = one builder + one entry in BUILDERS.

Threads: torch.set_num_threads(N) covers OpenMP and oneDNN, but not the BLAS library Debian's
torch links (OpenBLAS with its own pthreads, used e.g. by 1x1 convolutions of small batches), which
would otherwise run on every core; its thread count is fixed through the environment, before
torch is imported.
"""
import argparse
import json
import os
import sys
import time


def conv2d(ip, fp, t):
    # tests/ops/cases_conv.c: ip = {N, Cin, H, W, Cout, k, stride, pad, groups, bias, mask}
    stride, pad, groups = ip[6], ip[7], ip[8]
    x, w, b, m = t["x"], t["w"], t.get("b"), t.get("mask")
    return lambda: [F.conv2d(x, w * m if m is not None else w, b, stride, pad, 1, groups)]


def weight_norm(ip, fp, t):
    # w = exp(log_g)·(v⊙mask)/(‖v⊙mask‖ + 1e-5), norms over all non-output dims
    v, g, m = t["v"], t["log_g"], t.get("mask")

    def f():
        u = v * m if m is not None else v
        norm = torch.sqrt(torch.sum(u * u, dim=list(range(1, u.dim())), keepdim=True))
        w = torch.exp(g).view([-1] + [1] * (u.dim() - 1)) * u / (norm + 1e-5)
        return [w, norm.view(-1)]
    return f


def factorized_reduce(ip, fp, t):
    # ip = {N, C, H, W, Cout}; w [Cout, C] and b [Cout] hold the four convs one after the other
    c, cout = ip[1], ip[4]
    sizes = [cout // 4] * 3 + [cout - 3 * (cout // 4)]
    x, w, b = t["x"], t["w"], t["b"]

    def f():
        ws = torch.split(w.view(cout, c, 1, 1), sizes)
        bs = torch.split(b, sizes)
        views = [x, x[:, :, 1:, 1:], x[:, :, :, 1:], x[:, :, 1:, :]]
        return [torch.cat([F.conv2d(a, wk, bk, 2) for a, wk, bk in zip(views, ws, bs)], dim=1)]
    return f


BUILDERS = {"conv2d": conv2d, "weight_norm": weight_norm, "factorized_reduce": factorized_reduce}


def make_inputs(spec):
    t = {}
    for d in spec["inputs"]:
        lo, hi = (d["lo"], d["hi"]) if (d["lo"], d["hi"]) != (0, 0) else (-1.0, 1.0)
        a = torch.rand(d["shape"]) * (hi - lo) + lo
        if d["integer"]:
            a = torch.floor(a + 0.5)
        t[d["name"]] = a.requires_grad_(bool(d["diff"]))
    return t


def median_ms(fn, reps, warmup):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    ts.sort()
    return ts[len(ts) // 2] if reps % 2 else 0.5 * (ts[reps // 2 - 1] + ts[reps // 2])


def bench(spec, reps, warmup):
    t = make_inputs(spec)
    f = BUILDERS[spec["family"]](spec["ip"], spec["fp"], t)
    douts = [torch.rand(d["shape"]) * 2 - 1 for d in spec["outputs"]]
    loss_outputs = [i for i, d in enumerate(spec["outputs"]) if d["diff"]]

    def fwd():
        with torch.no_grad():
            f()

    def fwd_bwd():
        outs = f()
        torch.autograd.backward([outs[i] for i in loss_outputs], [douts[i] for i in loss_outputs])

    return median_ms(fwd, reps, warmup), median_ms(fwd_bwd, reps, warmup)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("spec")
    a = ap.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(a.threads)
    global torch, F  # imported only now, after the thread environment is set (see the top)
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    with open(a.spec) as f:
        specs = [json.loads(line) for line in f if line.strip()]
    for spec in specs:
        if spec["family"] not in BUILDERS:
            continue
        fwd, both = bench(spec, a.reps, a.warmup)
        print("%d %.4f %.4f" % (spec["index"], fwd, both), flush=True)


if __name__ == "__main__":
    sys.exit(main())
