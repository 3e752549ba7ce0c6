#!/usr/bin/python3
"""Compares the learning curves of two runs at the rounds both evaluated.

Each RUN is a folder with a metrics.csv that has the columns round, val_acc and test_acc: a
pfedhn run directory, or the output of scripts/train_pytorch.py. Prints, for every common round
(or every --every-th of them), each run's test accuracy and its test accuracy at the best
validation evaluation so far (the paper's metric), and the difference B - A of the latter.
`--csv FILE` writes the same table; `--plot FILE` draws both curves (needs matplotlib).
"""

import argparse
import csv
import os
import sys


class UserError(Exception):
    pass


def read_curve(run):
    path = os.path.join(run, "metrics.csv") if os.path.isdir(run) else run
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise UserError(f"cannot read '{path}': {e.strerror}")
    if not rows or not {"round", "val_acc", "test_acc"} <= set(rows[0]):
        raise UserError(f"'{path}' has no rows with the columns round, val_acc, test_acc")
    curve = {}
    try:
        for r in rows:
            curve[int(r["round"])] = (float(r["val_acc"]), float(r["test_acc"]))
    except ValueError as e:
        raise UserError(f"'{path}': {e}")
    return curve


def best_so_far(curve):
    """round -> test accuracy at the best validation evaluation up to that round (the first
    of equal validation accuracies, as pfedhn's tracker)."""
    out, best_val, best_test = {}, None, None
    for rnd in sorted(curve):
        val, test = curve[rnd]
        if best_val is None or val > best_val:
            best_val, best_test = val, test
        out[rnd] = best_test
    return out


def compare(a, b):
    """Rows (round, test_a, best_a, test_b, best_b) at the rounds both curves have."""
    best_a, best_b = best_so_far(a), best_so_far(b)
    common = sorted(set(a) & set(b))
    if not common:
        raise UserError("the two runs have no evaluation round in common")
    return [(r, a[r][1], best_a[r], b[r][1], best_b[r]) for r in common]


def main(argv):
    p = argparse.ArgumentParser(prog="compare_curves.py", description=__doc__.splitlines()[0])
    p.add_argument("run_a", help="run directory or metrics.csv (A)")
    p.add_argument("run_b", help="run directory or metrics.csv (B)")
    p.add_argument("--names", nargs=2, default=["A", "B"], metavar=("A", "B"))
    p.add_argument("--every", type=int, default=1, help="print every N-th common round")
    p.add_argument("--csv", help="write the table to this file")
    p.add_argument("--plot", help="draw both curves into this image")
    args = p.parse_args(argv)
    try:
        if args.every < 1:
            raise UserError("--every must be >= 1")
        rows = compare(read_curve(args.run_a), read_curve(args.run_b))
    except UserError as e:
        print(f"compare_curves: error: {e}", file=sys.stderr)
        return 2
    na, nb = args.names
    print(f"{'round':>6}  {na + ' test':>10}  {na + ' @best val':>14}  {nb + ' test':>10}  "
          f"{nb + ' @best val':>14}  {'diff':>6}")
    shown = [r for i, r in enumerate(rows) if i % args.every == 0 or i == len(rows) - 1]
    for rnd, ta, ba, tb, bb in shown:
        print(f"{rnd:>6}  {100 * ta:>10.2f}  {100 * ba:>14.2f}  {100 * tb:>10.2f}  "
              f"{100 * bb:>14.2f}  {100 * (bb - ba):>+6.2f}")
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["round", f"{na}_test_acc", f"{na}_test_at_best_val", f"{nb}_test_acc",
                        f"{nb}_test_at_best_val"])
            w.writerows(rows)
    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6, 4))
        rounds = [r[0] for r in rows]
        ax.plot(rounds, [100 * r[1] for r in rows], label=f"{na} test", alpha=0.5)
        ax.plot(rounds, [100 * r[3] for r in rows], label=f"{nb} test", alpha=0.5)
        ax.plot(rounds, [100 * r[2] for r in rows], label=f"{na} test at best val")
        ax.plot(rounds, [100 * r[4] for r in rows], label=f"{nb} test at best val")
        ax.set_xlabel("round")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
