#!/usr/bin/python3
"""K clients per round at one budget of client updates: test accuracy curves and a table.

    scripts/plot_k_curve.py RUN_DIR... [-o OUT.png] [--table OUT.md] [--split test|val]

Each RUN_DIR is a finished `pfedhn train` run (config.yaml, metrics.csv, results.json and
run_info.json). K is the run's client.clients_per_round; the x axis is client updates
(rounds x K), so runs with K = 1, 2, 5 over 5000, 2500 and 1000 rounds share one axis. One panel
per algorithm, one line per run. The table (Markdown, to stdout and --table) gives per run: the
algorithm, K, rounds, client updates, the server lr (server.lr; runs of one K may differ in it,
e.g. scripts/k_curve.sh --lr-scale linear), the test accuracy at the best validation evaluation
with its round, the final test accuracy, the wall time and client updates per second.
A missing or unreadable file stops the script with one line naming it, exit 2.
"""
import argparse
import csv
import json
import math

from run_files import read_file as read_run_file, fail as fail_in

PROG = "plot_k_curve"


def fail(message):
    fail_in(PROG, message)


def read_file(run_dir, name, reader):
    return read_run_file(PROG, run_dir, name, reader,
                         f"'{run_dir}' is not a finished run: {name} is missing")


def read_metrics(f):
    rows = [{k: float(v) if v not in ("", "nan") else math.nan for k, v in r.items()}
            for r in csv.DictReader(f)]
    if not rows:
        raise ValueError("no evaluation in it")
    return rows


def read_config(f):
    import yaml
    cfg = yaml.safe_load(f)
    return {"algorithm": str(cfg["algorithm"]), "k": int(cfg["client"]["clients_per_round"]),
            "rounds": int(cfg["client"]["num_rounds"]), "dataset": str(cfg["dataset"]["data"]),
            "clients": int(cfg["client"]["num_nodes"]), "lr": float(cfg["server"]["lr"])}


def read_run(run_dir):
    run = read_file(run_dir, "config.yaml", read_config)
    run["dir"] = run_dir
    run["metrics"] = read_file(run_dir, "metrics.csv", read_metrics)
    results = read_file(run_dir, "results.json", json.load)
    run["best_acc"] = float(results["test_accuracy_at_best_val"])
    run["best_round"] = int(results["best_round"])
    run["final_acc"] = float(results["final"]["test"]["accuracy"])
    run["wall_s"] = float(read_file(run_dir, "run_info.json", json.load)["wall_seconds"])
    return run


def run_order(run):
    return run["algorithm"], run["k"], run["lr"]


def table(runs):
    lines = ["| algorithm | K | rounds | client updates | server lr | "
             "test acc at best val (round) | final test acc | wall time | client updates/s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(runs, key=run_order):
        updates = r["rounds"] * r["k"]
        lines.append(
            f"| {r['algorithm']} | {r['k']} | {r['rounds']} | {updates} | {r['lr']:g} | "
            f"{100 * r['best_acc']:.2f} ({r['best_round']}) | {100 * r['final_acc']:.2f} | "
            f"{r['wall_s'] / 60:.1f} min | {updates / r['wall_s']:.2f} |")
    return "\n".join(lines) + "\n"


def plot(runs, out, split):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    algorithms = sorted({r["algorithm"] for r in runs})
    fig, axes = plt.subplots(1, len(algorithms), figsize=(5.5 * len(algorithms), 4),
                             squeeze=False)
    for ax, algorithm in zip(axes[0], algorithms):
        for r in sorted((r for r in runs if r["algorithm"] == algorithm), key=run_order):
            x = [m["client_updates"] for m in r["metrics"]]
            ax.plot(x, [100 * m[f"{split}_acc"] for m in r["metrics"]], lw=1,
                    label=f"K = {r['k']} ({r['rounds']} rounds), lr {r['lr']:g}: "
                          f"{100 * r['best_acc']:.2f}")
            best_x = (r["best_round"] + 1) * r["k"]
            ax.plot([best_x], [100 * r["best_acc"]], "o", color=ax.lines[-1].get_color(), ms=4)
        ax.set_title(f"{algorithm}, {runs[0]['dataset']}, {runs[0]['clients']} clients", fontsize=9)
        ax.set_xlabel("client updates (rounds x K)")
        ax.set_ylabel(f"{split} accuracy (%), pooled over clients")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, title="test acc at best val (dot)", title_fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR")
    parser.add_argument("-o", "--out", default="k_curve.png", help="figure (default k_curve.png)")
    parser.add_argument("--table", help="also write the Markdown table here")
    parser.add_argument("--split", choices=("test", "val"), default="test")
    args = parser.parse_args()
    runs = [read_run(d) for d in args.runs]  # every run checked before anything is drawn
    settings = {(r["dataset"], r["clients"]) for r in runs}
    if len(settings) > 1:
        fail(f"the runs mix datasets or client counts: {sorted(settings)}")
    text = table(runs)
    if args.table:
        with open(args.table, "w") as f:
            f.write(text)
    plot(runs, args.out, args.split)
    print(text, end="")
    print(args.out)


if __name__ == "__main__":
    main()
