#!/usr/bin/env python3
"""PyTorch baseline for nvae-bench (issue #8): the reference NVAE of tests/reference/nvae_ref.py
(the official model's structure and objective), one training step = forward, objective with KL
balancing, backward, Adamax, timed the way nvae-bench times ours: warm-up steps, then timed steps
with the device synchronised at the end of each (torch.cuda.synchronize on a GPU).

    bench_torch.py --config celeba64 --batch 16 [--steps 10] [--warmup 3] [--device cuda|cpu]
                   [--amp] [--threads N] [--json FILE]

--amp runs forward and loss under torch.autocast(float16) with a GradScaler, as the official
train.py does; without it float32 eager (TF32 off: torch.backends.*.allow_tf32 = False, the
fair comparison with our float32 path). Channels-first (NCHW) tensors throughout. Prints images/s,
ms per step and peak memory (GPU: torch.cuda.max_memory_allocated; CPU: peak RSS).
"""
import argparse
import json
import os
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "reference"))


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="celeba64", help="reference config name (tests/reference/"
                   "configs.py: tiny, tiny-nf, mnist, celeba64, fmnist-small)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    p.add_argument("--amp", action="store_true", help="autocast float16 + GradScaler (official)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--json", help="write the figures here")
    a = p.parse_args(argv)
    import torch
    import configs
    import nvae_ref as R

    if a.threads > 0:
        torch.set_num_threads(a.threads)
    dev = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
    if a.amp and dev.type != "cuda":
        p.error("--amp needs --device cuda (autocast float16 on CPU is not what the official code "
                "trains with)")
    cfg = configs.get_config(a.config)
    torch.manual_seed(1)
    model = R.NVAE(cfg, device=dev)
    model.train()
    # torch.optim.Adamax (eps inside the max like the official optimizer; foreach kernels on a GPU)
    # so GradScaler can unscale it; the reference's hand-written Adamax is for parity, not speed
    opt = torch.optim.Adamax(model.parameters(), lr=1e-4, eps=1e-3, weight_decay=3e-4)
    scaler = torch.cuda.amp.GradScaler() if a.amp else None
    C, S = cfg["image_channels"], cfg["image_size"]
    gen = torch.Generator(device="cpu").manual_seed(3)

    def batch():
        x = torch.rand(a.batch, C, S, S, generator=gen)
        if cfg["decoder"] == "bernoulli":
            x = (x < 0.5).float()
        else:
            x = torch.floor(x * 255.999) / 255.0
        return x.to(dev, non_blocking=True)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    def step(x):
        opt.zero_grad(set_to_none=True)
        if a.amp:
            with torch.autocast("cuda", dtype=torch.float16):
                obj, _ = R.train_loss(model, x, 0.5, cfg["weight_decay_norm"])
            scaler.scale(obj["loss"]).backward()
            scaler.step(opt)
            scaler.update()
        else:
            obj, _ = R.train_loss(model, x, 0.5, cfg["weight_decay_norm"])
            obj["loss"].backward()
            opt.step()
        return obj["loss"]

    times = []
    loss = None
    for s in range(a.warmup + a.steps):
        x = batch()
        sync()
        t0 = time.perf_counter()
        loss = step(x)
        sync()
        if s >= a.warmup:
            times.append(time.perf_counter() - t0)
    t = sum(times)
    if dev.type == "cuda":
        peak = torch.cuda.max_memory_allocated(dev) / 2**20
        peak_what = "torch.cuda.max_memory_allocated"
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        peak_what = "peak RSS"
    r = {"impl": "pytorch", "device": dev.type, "precision": "amp-fp16" if a.amp else "fp32",
         "config": a.config, "batch": a.batch, "steps": a.steps,
         "images_per_s": a.batch * len(times) / t, "step_ms": 1e3 * t / len(times),
         "peak_mib": peak, "torch": torch.__version__, "loss": float(loss)}
    print("pytorch %s %s %s batch %d: %.2f images/s, %.1f ms per step, peak memory %.1f MiB (%s), "
          "torch %s" % (a.config, dev.type, r["precision"], a.batch, r["images_per_s"],
                        r["step_ms"], peak, peak_what, torch.__version__))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(r, f)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
