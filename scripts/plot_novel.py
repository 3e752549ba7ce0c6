#!/usr/bin/python3
"""Novel clients (the paper's Section 5.3, Figure 2): accuracy against distribution shift.

    scripts/plot_novel.py RUN_DIR|RESULTS.json... [-o OUT.png] [--table OUT.md] [--best]

Each RUN_DIR is a run on which `pfedhn generalize` has been run (novel_clients.csv and
novel.json; with --best, the files of `pfedhn generalize --best`, novel_clients-best.csv and
novel-best.json, which adapt the model of the run's best validation evaluation). A results file
RUN_DIR/novel<X>.json names one adaptation directly (e.g. novel-loss.json of `pfedhn generalize
novel.adapt=loss`), read with RUN_DIR/novel_clients<X>.csv; --best does not apply to it. The
default legend is the algorithm, with the adaptation when it is not the rounds of training
(e.g. "pfedhn (loss)"; "best val model" where pfedhn generalize --best adapted the model of the
best validation evaluation). The figure has two panels against the novel client's distribution
shift (the total variation distance between its training labels and those of all training
clients): its test
accuracy after adaptation, and the generalization gap (the training clients' pooled test
accuracy minus the novel client's), one colour per run, with the mean over the clients of each
Dirichlet alpha (novel.alphas) joined by a line. The table (Markdown, to stdout and --table) has
one row per run and alpha: the mean shift, the mean accuracy before and after adaptation and the
mean gap; and one row per run with the pooled numbers from novel.json.
A missing or unreadable file stops the script with one line naming it, exit 2.
"""
import argparse
import csv
import json
import os
from collections import defaultdict

from run_files import read_file as read_run_file, fail as fail_in

PROG = "plot_novel"


def fail(message):
    fail_in(PROG, message)


def read_file(run_dir, name, reader, best):
    command = "pfedhn generalize --best" if best else "pfedhn generalize"
    return read_run_file(PROG, run_dir, name, reader,
                         f"'{run_dir}' has no {name}: run `{command} {run_dir}` first")


def read_clients(f):
    rows = []
    for r in csv.DictReader(f):
        rows.append({"client": int(r["client"]),
                     "alpha": float(r["alpha"]) if r.get("alpha") else None,
                     "shift": float(r["shift_tv"]), "before": float(r["test_acc_before"]),
                     "after": float(r["test_acc_after"])})
    if not rows:
        raise ValueError("no novel client in it")
    return rows


def results_files(path, best):
    """(run dir, summary file name, clients file name) of a RUN_DIR or a novel<X>.json."""
    if path.endswith(".json"):
        run_dir, name = os.path.split(path)
        if not (name.startswith("novel") and not name.startswith("novel_clients")):
            fail(f"'{path}': a results file must be a run's novel<X>.json")
        return run_dir or ".", name, "novel_clients" + name[len("novel"):-len(".json")] + ".csv"
    suffix = "-best" if best else ""
    return path, f"novel{suffix}.json", f"novel_clients{suffix}.csv"


def read_run(path, best=False):
    run_dir, summary_name, clients_name = results_files(path, best)
    summary = read_file(run_dir, summary_name, json.load, best)
    training = float(summary["training_clients_test_accuracy"])
    clients = read_file(run_dir, clients_name, read_clients, best)
    for c in clients:
        c["gap"] = training - c["after"]
    notes = []
    if summary.get("adapt") not in (None, "rounds", "baseline"):
        notes.append(str(summary["adapt"]))
    if summary.get("checkpoint") == "best":
        notes.append("best val model")
    label = str(summary["algorithm"]) + (f" ({', '.join(notes)})" if notes else "")
    return {"dir": run_dir, "algorithm": str(summary["algorithm"]), "label": label,
            "summary": summary, "training": training, "clients": clients}


def by_alpha(clients):
    """Per alpha (None when the run has no novel.alphas): the clients' mean of each column."""
    groups = defaultdict(list)
    for c in clients:
        groups[c["alpha"]].append(c)
    out = []
    for alpha, members in groups.items():
        mean = {k: sum(c[k] for c in members) / len(members)
                for k in ("shift", "before", "after", "gap")}
        out.append({"alpha": alpha, "n": len(members), **mean})
    return sorted(out, key=lambda g: g["shift"])


def table(runs, labels):
    lines = ["| run | alpha | novel clients | mean shift (TV) | test acc before | "
             "test acc after | gap to training clients |",
             "|---|---|---|---|---|---|---|"]
    for run, label in zip(runs, labels):
        for g in by_alpha(run["clients"]):
            alpha = "–" if g["alpha"] is None else f"{g['alpha']:g}"
            lines.append(f"| {label} | {alpha} | {g['n']} | {g['shift']:.3f} | "
                         f"{100 * g['before']:.2f} | {100 * g['after']:.2f} | "
                         f"{100 * g['gap']:.2f} |")
    lines += ["", "| run | steps | SGD steps | training clients | novel, before | novel, after | "
              "gap |", "|---|---|---|---|---|---|---|"]
    for run, label in zip(runs, labels):
        s = run["summary"]
        lines.append(f"| {label} | {s.get('steps', '?')} | {s.get('sgd_steps', '?')} | "
                     f"{100 * run['training']:.2f} | "
                     f"{100 * float(s['novel_test_accuracy_before']):.2f} | "
                     f"{100 * float(s['novel_test_accuracy_after']):.2f} | "
                     f"{100 * float(s['generalization_gap']):.2f} |")
    return "\n".join(lines) + "\n"


def plot(runs, labels, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_acc, ax_gap) = plt.subplots(1, 2, figsize=(11, 4))
    for run, label in zip(runs, labels):
        for ax, key, scale in ((ax_acc, "after", 100), (ax_gap, "gap", 100)):
            ax.scatter([c["shift"] for c in run["clients"]],
                       [scale * c[key] for c in run["clients"]], s=14, alpha=0.5)
            color = ax.collections[-1].get_facecolor()[0]
            groups = by_alpha(run["clients"])
            ax.plot([g["shift"] for g in groups], [scale * g[key] for g in groups], "-o",
                    color=color[:3], ms=4, label=label)
    ax_acc.set_ylabel("novel client's test accuracy after adaptation (%)")
    ax_gap.set_ylabel("generalization gap (training clients minus novel client, points)")
    for ax in (ax_acc, ax_gap):
        ax.set_xlabel("distribution shift: total variation distance to the training clients")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR|RESULTS.json")
    parser.add_argument("-o", "--out", default="novel.png", help="figure (default novel.png)")
    parser.add_argument("--table", help="also write the Markdown table here")
    parser.add_argument("--labels", nargs="+", help="legend names, one per run (default: "
                        "the algorithm)")
    parser.add_argument("--best", action="store_true", help="read the files of `pfedhn "
                        "generalize --best` (novel-best.json, novel_clients-best.csv)")
    args = parser.parse_args()
    if args.labels and len(args.labels) != len(args.runs):
        fail(f"--labels names {len(args.labels)} runs but {len(args.runs)} are given")
    runs = [read_run(d, args.best) for d in args.runs]  # every run checked before anything is drawn
    labels = args.labels or [r["label"] for r in runs]
    text = table(runs, labels)
    if args.table:
        with open(args.table, "w") as f:
            f.write(text)
    plot(runs, labels, args.out)
    print(text, end="")
    print(args.out)


if __name__ == "__main__":
    main()
