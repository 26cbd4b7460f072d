#!/usr/bin/env python3
"""Parses test_metrics_log's metrics.jsonl with Python's json module, strictly (the NaN and
Infinity tokens Python would otherwise accept are rejected), and compares every row, key order
included, with what tests/logging/test_metrics_log.c wrote. Line 5 is the torn row of a
simulated crash: it must NOT parse (so this check can fail), and every other line must.
"""
import json
import sys


def reject_constant(name):
    raise ValueError(f"non-JSON constant {name}")


def g9(v):
    """What C's %.9g gives, as the float json parses it to."""
    return float("%.9g" % v)


TEXT = "q\" b\\ nl\n tab\t cr\r c\x01\x1f bs\b ff\f del\x7f utf8 \u00e9 /"
EXPECTED = {
    0: [("step", 1), ("epoch", 0), ("loss", 2.5), ("lr", 0.001), ("split", "train")],
    1: [("text", TEXT), ('we"ird\\key', ""), ("empty", "")],
    2: [("nan", None), ("inf", None), ("ninf", None), ("nzero", -0.0), ("tenth", 0.1),
        ("big", 1e300), ("tiny", 1e-300), ("denorm", 5e-324), ("third", g9(1.0 / 3.0)),
        ("imin", -2**63), ("imax", 2**63 - 1), ("f32", g9(0.10000000149011612)), ("one", 1.0), ("e9", 1e9)],
    3: [],
    4: [("step", 2)],
    6: [("step", 4), ("loss", 1.5)],
}
TORN = 5


def same(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and a == 0.0:
        return str(a) == str(b)  # -0 stays -0
    return a == b


def main(path):
    errors = []
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines[-1] != "":
        errors.append("the file does not end with a newline")
    lines = lines[:-1]
    if len(lines) != 7:
        errors.append(f"{len(lines)} lines, expected 7")
    for i, line in enumerate(lines):
        try:
            row = json.loads(line, object_pairs_hook=list, parse_constant=reject_constant)
        except ValueError as exc:
            if i != TORN:
                errors.append(f"line {i} is not JSON ({exc}): {line!r}")
            continue
        if i == TORN:
            errors.append(f"the torn line {i} parsed: {line!r}")
            continue
        want = EXPECTED.get(i)
        if want is None:
            errors.append(f"unexpected line {i}")
        elif len(row) != len(want) or not all(
                k == wk and same(v, wv) for (k, v), (wk, wv) in zip(row, want)):
            errors.append(f"line {i}: {row!r}\n   expected {want!r}")
    for e in errors:
        print(f"FAILED {path}: {e}", file=sys.stderr)
    print(f"check_metrics_log: {len(lines)} lines, {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
