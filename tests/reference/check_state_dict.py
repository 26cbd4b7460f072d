#!/usr/bin/python3
"""Compares the reference model's state_dict with an official list.

    /usr/bin/python3 tests/reference/check_state_dict.py NAME [--list FILE]

NAME is one of tiny, tiny-nf, mnist, celeba64 (tests/data/state_dict/NAME.txt). The model is
built on the `meta` device (no storage, so CelebA-64 costs nothing). Every entry is compared in
order: kind (P parameter, B buffer, A alias = a second name of a parameter), name, shape. Also
checks the header totals (parameters, parameter tensors, state_dict entries). Prints the first
difference and exits 1, or prints a summary and exits 0.
"""
import argparse
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402

import configs  # noqa: E402
import nvae_ref  # noqa: E402

LIST_DIR = os.path.join(HERE, "..", "data", "state_dict")


def read_list(path):
    entries, totals = [], {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            if line.startswith("#"):
                m = re.search(r"(\d+) parameters in (\d+) tensors; (\d+) state_dict entries", line)
                if m:
                    totals = {"params": int(m.group(1)), "tensors": int(m.group(2)),
                              "entries": int(m.group(3))}
                continue
            kind, name, shape = line.split()
            shape = () if shape == "scalar" else tuple(int(s) for s in shape.split("x"))
            entries.append((kind, name, shape))
    return entries, totals


def model_entries(model):
    kinds = nvae_ref.state_dict_kinds(model)
    sd = model.state_dict(keep_vars=True)
    return [(kinds[n], n, tuple(t.shape)) for n, t in sd.items()]


def fmt(e):
    if e is None:
        return "(nothing)"
    return "%s %s %s" % (e[0], e[1], "x".join(map(str, e[2])) if e[2] else "scalar")


def compare(name, list_path=None, verbose=True):
    """Returns (ok, message)."""
    list_path = list_path or os.path.join(LIST_DIR, name + ".txt")
    want, totals = read_list(list_path)
    model = nvae_ref.NVAE(configs.get_config(name), device="meta", seed=None)
    got = model_entries(model)
    for i in range(max(len(want), len(got))):
        w = want[i] if i < len(want) else None
        g = got[i] if i < len(got) else None
        if w != g:
            return False, ("%s: first difference at entry %d:\n  official:  %s\n  reference: %s"
                           % (name, i, fmt(w), fmt(g)))
    n_params = sum(p.numel() for p in model.parameters())
    n_tensors = sum(1 for _ in model.parameters())
    if totals:
        if (n_params, n_tensors, len(got)) != (totals["params"], totals["tensors"],
                                               totals["entries"]):
            return False, ("%s: totals differ: reference %d parameters in %d tensors, %d entries;"
                           " official %s" % (name, n_params, n_tensors, len(got), totals))
    counts = {k: sum(1 for e in got if e[0] == k) for k in "PBA"}
    return True, ("%s: OK, %d state_dict entries identical (P %d, B %d, A %d); %s parameters in "
                  "%d tensors; %d conv layers, %d BN layers, %d latent groups"
                  % (name, len(got), counts["P"], counts["B"], counts["A"],
                     format(n_params, ","), n_tensors, len(model.conv_layers),
                     len(model.bn_layers), model.n_groups))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("name", choices=["tiny", "tiny-nf", "mnist", "celeba64"])
    ap.add_argument("--list", help="list file (default tests/data/state_dict/NAME.txt)")
    a = ap.parse_args()
    torch.set_num_threads(2)
    ok, msg = compare(a.name, a.list)
    print(msg)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
