#!/usr/bin/python3
"""Plots pfedhn runs: test accuracy and loss against rounds, and per-client accuracies.

    scripts/plot_results.py RUN_DIR... [-o OUT_DIR] [--labels NAME...] [--split test|val]
                            [--x round|client_updates]

Each RUN_DIR is a run directory written by `pfedhn train` (metrics.csv and results.json).
Writes OUT_DIR/curves.png (accuracy and loss against rounds, one line per run) and
OUT_DIR/clients.png (the per-client accuracy distribution at each run's best round).
A run directory without metrics.csv or results.json stops the script with one line, exit 2.
"""
import argparse
import csv
import json
import math
import os
import sys


def fail(message):
    print(f"plot_results: error: {message}", file=sys.stderr)
    sys.exit(2)


def read_run(run_dir):
    """Returns (rows of metrics.csv as dicts of floats, results.json as a dict)."""
    metrics = os.path.join(run_dir, "metrics.csv")
    results = os.path.join(run_dir, "results.json")
    for path in (metrics, results):
        if not os.path.isfile(path):
            fail(f"'{run_dir}' is not a finished run: {os.path.basename(path)} is missing")
    try:
        with open(metrics, newline="") as f:
            rows = [{k: float(v) if v not in ("", "nan") else math.nan for k, v in r.items()}
                    for r in csv.DictReader(f)]
        with open(results) as f:
            summary = json.load(f)
    except (ValueError, OSError, json.JSONDecodeError) as e:
        fail(f"cannot read '{run_dir}': {e}")
    if not rows:
        fail(f"'{metrics}' holds no evaluation")
    return rows, summary


def run_label(run_dir, summary):
    algorithm = summary.get("algorithm", summary.get("variant", "?"))
    name = os.path.basename(os.path.normpath(run_dir))
    return f"{name} ({algorithm}, {summary.get('dataset', '?')}, {summary.get('num_clients', '?')} clients)"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR")
    parser.add_argument("-o", "--out", default=".", help="output folder (default: .)")
    parser.add_argument("--labels", nargs="+", help="legend names, one per run")
    parser.add_argument("--split", choices=("test", "val"), default="test")
    parser.add_argument("--prefix", default="", help="prefix of the PNG file names")
    parser.add_argument("--x", choices=("round", "client_updates"), default="round",
                        help="x axis; client_updates compares runs with different clients per round")
    args = parser.parse_args()
    if args.labels and len(args.labels) != len(args.runs):
        fail(f"--labels names {len(args.labels)} runs but {len(args.runs)} are given")

    runs = [read_run(r) for r in args.runs]  # every run checked before anything is drawn
    labels = args.labels or [run_label(d, s) for d, (_, s) in zip(args.runs, runs)]

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(args.out, exist_ok=True)
    split = args.split
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(11, 4))
    for (rows, summary), label in zip(runs, labels):
        rounds = [r["round"] + 1 if args.x == "round" else r["client_updates"] for r in rows]
        ax_acc.plot(rounds, [100 * r[f"{split}_acc"] for r in rows], label=label)
        ax_loss.plot(rounds, [r[f"{split}_loss"] for r in rows], label=label)
        best = summary.get("best_round")
        if best is not None and args.x == "round":
            ax_acc.axvline(best + 1, color=ax_acc.lines[-1].get_color(), ls=":", lw=0.8)
    xlabel = "round" if args.x == "round" else "client updates"
    ax_acc.set_xlabel(xlabel)
    ax_acc.set_ylabel(f"{split} accuracy (%), pooled over clients")
    ax_loss.set_xlabel(xlabel)
    ax_loss.set_ylabel(f"{split} loss (mean over clients)")
    ax_loss.set_yscale("log")
    for ax in (ax_acc, ax_loss):
        ax.grid(alpha=0.3)
    ax_acc.legend(fontsize=8)
    fig.tight_layout()
    curves = os.path.join(args.out, f"{args.prefix}curves.png")
    fig.savefig(curves, dpi=90)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(runs) + 2), 4))
    data, names = [], []
    for (_, summary), label in zip(runs, labels):
        accs = summary.get("best", {}).get(split, {}).get("client_accuracy") or []
        data.append([100 * a for a in accs if a is not None])
        names.append(f"{label}\nround {summary.get('best_round', '?')}")
    ax.boxplot(data, showmeans=True)
    for i, values in enumerate(data, start=1):
        ax.scatter([i] * len(values), values, s=8, alpha=0.5, color="black", zorder=3)
    ax.set_xticks(range(1, len(names) + 1))
    ax.set_xticklabels(names, fontsize=7)
    ax.set_ylabel(f"per-client {split} accuracy (%) at the best round")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    clients = os.path.join(args.out, f"{args.prefix}clients.png")
    fig.savefig(clients, dpi=90)
    plt.close(fig)
    print(curves)
    print(clients)


if __name__ == "__main__":
    main()
