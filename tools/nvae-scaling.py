#!/usr/bin/env python3
"""Throughput scaling study of nvae-train (issue #5, DESIGN.md §3).

Runs nvae-train at 1, 2, ..., N ranks for a fixed number of steps, in weak scaling (fixed batch per
rank) and/or strong scaling (fixed global batch, split over the ranks), reads the perf.json each
run writes (the trainer's own split of a step into data, compute, optimizer and the time blocked
in collectives, warm-up steps left out), and writes

    OUT/scaling.csv   one row per (mode, ranks)
    OUT/scaling.md    the same as a Markdown table
    OUT/scaling.png   images/s and efficiency against ranks (needs PIL; said when missing)

efficiency(N) = throughput(N) / (N * throughput(1)) in both modes. The same command works on CPU
ranks and on GPUs (device: from the config or an override); only the launcher line changes.

    nvae-scaling.py --config configs/fmnist-small.yaml --data data/fmnist --ranks 1,2 \
        --steps 12 --batch 8 --modes weak,strong --threads 1 --out runs/scaling

Exit status: 0 when every run succeeded, 1 when one failed (its log is named), 2 for bad arguments.
"""
import argparse
import csv
import json
import os
import shlex
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="nvae-train config (YAML)")
    p.add_argument("--data", help="data.path override (dataset directory from nvae-prep)")
    p.add_argument("--ranks", default="1,2", help="comma-separated rank counts (default 1,2)")
    p.add_argument("--steps", type=int, default=12, help="steps per run (default 12; the first "
                   "2 are warm-up and not timed)")
    p.add_argument("--batch", type=int, default=8, help="weak: batch per rank; strong: global "
                   "batch at 1 rank (default 8)")
    p.add_argument("--modes", default="weak,strong", help="weak, strong or both (default)")
    p.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS per rank (default 1)")
    p.add_argument("--bin", default=os.path.join(ROOT, "build", "tools"),
                   help="directory holding nvae-train (default build/tools)")
    p.add_argument("--launcher", default="mpirun --oversubscribe -np {n}",
                   help="command that starts {n} ranks (default 'mpirun --oversubscribe -np {n}'; "
                   "e.g. 'srun --mpi=pmix -n {n}')")
    p.add_argument("--out", default="runs/scaling", help="output directory (default runs/scaling)")
    p.add_argument("overrides", nargs="*", help="key=value config overrides for every run")
    a = p.parse_args(argv)
    try:
        a.ranks = [int(r) for r in a.ranks.split(",")]
    except ValueError:
        p.error("--ranks: expected comma-separated integers, got %r" % a.ranks)
    if not a.ranks or min(a.ranks) < 1:
        p.error("--ranks: every count must be >= 1")
    if 1 not in a.ranks:
        a.ranks = [1] + a.ranks  # efficiency is relative to 1 rank
    a.ranks = sorted(set(a.ranks))
    a.modes = [m for m in a.modes.split(",") if m]
    for m in a.modes:
        if m not in ("weak", "strong"):
            p.error("--modes: expected weak and/or strong, got %r" % m)
    if a.steps < 3:
        p.error("--steps: at least 3 (2 warm-up steps are not timed)")
    if a.batch < 1:
        p.error("--batch: at least 1")
    if "strong" in a.modes:
        bad = [n for n in a.ranks if a.batch % n]
        if bad:
            p.error("--batch %d: strong scaling needs a global batch divisible by every rank "
                    "count (not by %s)" % (a.batch, bad))
    for o in a.overrides:
        if "=" not in o:
            p.error("override %r: expected key=value" % o)
    exe = os.path.join(a.bin, "nvae-train")
    if not os.access(exe, os.X_OK):
        p.error("--bin: %s is not an executable (build first: cmake --build build)" % exe)
    return a


def run_one(a, mode, n):
    per_rank = a.batch if mode == "weak" else a.batch // n
    run_dir = os.path.join(a.out, "%s-%d" % (mode, n))
    cmd = [os.path.join(a.bin, "nvae-train"), "--config", a.config, "--run-dir", run_dir]
    if a.data:
        cmd.append("data.path=" + a.data)
    # steps only: no images, one tiny validation at the end (not timed), no checkpoints
    cmd += ["train.max_steps=%d" % a.steps, "train.batch_size=%d" % per_rank,
            "log.every_steps=%d" % a.steps, "log.image_every_steps=0", "log.tensorboard=false",
            "eval.max_images=%d" % max(per_rank, 1), "eval.iw_samples=1",
            "checkpoint.every_steps=0", "checkpoint.every_minutes=0"]
    cmd += a.overrides
    if n > 1:
        cmd = shlex.split(a.launcher.format(n=n)) + cmd
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    if os.geteuid() == 0:  # Open MPI refuses root without these
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
        env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    os.makedirs(a.out, exist_ok=True)
    log = os.path.join(a.out, "%s-%d.log" % (mode, n))
    perf_path = os.path.join(run_dir, "perf.json")
    if os.path.exists(perf_path):
        os.remove(perf_path)
    t0 = time.time()
    with open(log, "w") as f:
        f.write("$ " + " ".join(shlex.quote(c) for c in cmd) + "\n")
        f.flush()
        rc = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
    if rc != 0 or not os.path.exists(perf_path):
        print("nvae-scaling: %s scaling at %d rank(s) failed (exit %d); see %s" % (mode, n, rc, log),
              file=sys.stderr)
        return None
    with open(perf_path) as f:
        perf = json.load(f)
    perf.update(mode=mode, ranks=n, global_batch=per_rank * n, wall_s=time.time() - t0)
    return perf


COLUMNS = ["mode", "ranks", "batch_per_rank", "global_batch", "images_per_s", "efficiency",
           "step_ms", "data_ms", "compute_ms", "comm_ms", "optimizer_ms", "collectives_per_step",
           "comm_mb_per_step"]


def add_efficiency(rows):
    for mode in {r["mode"] for r in rows}:
        base = [r for r in rows if r["mode"] == mode and r["ranks"] == 1]
        for r in rows:
            if r["mode"] == mode:
                r["efficiency"] = (r["images_per_s"] / (r["ranks"] * base[0]["images_per_s"])
                                   if base else float("nan"))
            r["comm_mb_per_step"] = r["comm_bytes_per_step"] / 1e6


def write_tables(a, rows):
    with open(os.path.join(a.out, "scaling.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for r in rows:
            w.writerow([("%.4g" % r[c]) if isinstance(r[c], float) else r[c] for c in COLUMNS])
    head = ["mode", "ranks", "batch/rank", "global batch", "images/s", "efficiency", "step ms",
            "data ms", "compute ms", "comm ms (blocked)", "optimizer ms", "collectives/step",
            "MB/step"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append("| %s | %d | %d | %d | %.1f | %.3f | %.1f | %.2f | %.1f | %.1f | %.1f | %.0f | "
                     "%.2f |" % (r["mode"], r["ranks"], r["batch_per_rank"], r["global_batch"],
                                 r["images_per_s"], r["efficiency"], r["step_ms"], r["data_ms"],
                                 r["compute_ms"], r["comm_ms"], r["optimizer_ms"],
                                 r["collectives_per_step"], r["comm_mb_per_step"]))
    md = "\n".join(lines) + "\n"
    with open(os.path.join(a.out, "scaling.md"), "w") as f:
        f.write("Scaling of `nvae-train --config %s`, %d steps per run (2 warm-up steps not timed), "
                "OMP_NUM_THREADS=%d per rank.\n\n" % (a.config, a.steps, a.threads))
        f.write(md)
        f.write("\nefficiency = throughput(N) / (N x throughput(1)); compute = forward + backward "
                "(the gradient all-reduce overlaps it); comm = time blocked in collectives "
                "(sync-BN, bucket waits, flags), part of compute.\n")
    return md


def write_plot(a, rows):
    try:
        from PIL import Image, ImageDraw
    except ImportError:
        print("nvae-scaling: no PIL (python3-pil) in %s: scaling.png not written" % sys.executable,
              file=sys.stderr)
        return False
    W, H, M = 900, 380, 60
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    colors = {"weak": (31, 119, 180), "strong": (214, 39, 40)}
    nmax = max(r["ranks"] for r in rows)
    panels = [("images/s", "images_per_s", 0), ("efficiency", "efficiency", W // 2)]
    for title, key, x0 in panels:
        ymax = max(r[key] for r in rows) * 1.15 if key != "efficiency" else 1.2
        left, right, top, bottom = x0 + M, x0 + W // 2 - 20, 40, H - M

        def px(n, y):
            fx = (n - 1) / (nmax - 1) if nmax > 1 else 0.5
            return left + fx * (right - left), bottom - (y / ymax) * (bottom - top)

        d.rectangle([left, top, right, bottom], outline="black")
        d.text((left, 12), "%s vs ranks" % title, fill="black")
        for i in range(5):
            y = ymax * i / 4
            _, yy = px(1, y)
            d.line([left - 4, yy, left, yy], fill="black")
            d.text((x0 + 4, yy - 6), "%.3g" % y, fill="black")
        for n in sorted({r["ranks"] for r in rows}):
            xx, _ = px(n, 0)
            d.line([xx, bottom, xx, bottom + 4], fill="black")
            d.text((xx - 3, bottom + 8), str(n), fill="black")
        d.text(((left + right) / 2 - 15, bottom + 24), "ranks", fill="black")
        if key == "efficiency":
            _, y1 = px(1, 1.0)
            d.line([left, y1, right, y1], fill=(150, 150, 150))
        for k, mode in enumerate(sorted({r["mode"] for r in rows})):
            pts = [px(r["ranks"], r[key]) for r in sorted(rows, key=lambda r: r["ranks"])
                   if r["mode"] == mode]
            if len(pts) > 1:
                d.line(pts, fill=colors[mode], width=2)
            for x, y in pts:
                d.ellipse([x - 4, y - 4, x + 4, y + 4], fill=colors[mode])
            d.text((right - 60, top + 8 + 14 * k), mode, fill=colors[mode])
    img.save(os.path.join(a.out, "scaling.png"))
    return True


def main(argv):
    a = parse_args(argv)
    rows, failed = [], False
    for mode in a.modes:
        for n in a.ranks:
            print("nvae-scaling: %s scaling, %d rank(s) ..." % (mode, n), flush=True)
            r = run_one(a, mode, n)
            if r is None:
                failed = True
                continue
            rows.append(r)
    if not rows:
        return 1
    add_efficiency(rows)
    md = write_tables(a, rows)
    plotted = write_plot(a, rows)
    print(md, end="")
    print("nvae-scaling: wrote %s/scaling.csv, scaling.md%s" %
          (a.out, ", scaling.png" if plotted else " (no plot)"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
