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

A run of novel.scheme=sets (the pFedHN authors' lab's protocol; docs/algorithms.md) is read from
its novel-sets<X>.json (RUN_DIR, or the file itself, e.g. a grid point's
RUN_DIR/grid/rounds-s10-lr0/novel-sets.json): every set of novel clients (one per alpha_gen),
each client's shift and generalization gap. The figure is then the paper's Figure 2: per novel
client, the gap (the training clients' pooled test accuracy minus the client's) against its
shift, one colour per method, each set's mean shift and pooled gap joined by a line, and
beside it the novel clients' accuracy; the table has one section per alpha_gen with a row per
method (its adaptation, the mean shift, the training clients' and the novel clients' pooled
accuracy, before and after, and the gap), then the pooled numbers over every set. Legends name
the methods as the paper does (pFedHN, pFedHN-PC, FedAvg+FT, Per-FedAvg). Sets runs and other
runs cannot be drawn together.
A missing or unreadable file stops the script with one line naming it, exit 2.
"""
import argparse
import csv
import json
import math
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
    """(run dir, summary file name, clients file name) of a RUN_DIR or a novel<X>.json; the
    clients file is None for a sets run's novel-sets<X>.json, which holds its clients."""
    if path.endswith(".json"):
        run_dir, name = os.path.split(path)
        if not (name.startswith("novel") and not name.startswith("novel_clients")):
            fail(f"'{path}': a results file must be a run's novel<X>.json")
        if name.startswith("novel-sets"):
            return run_dir or ".", name, None
        return run_dir or ".", name, "novel_clients" + name[len("novel"):-len(".json")] + ".csv"
    suffix = "-best" if best else ""
    if (not os.path.isfile(os.path.join(path, f"novel{suffix}.json"))
            and os.path.isfile(os.path.join(path, f"novel-sets{suffix}.json"))):
        return path, f"novel-sets{suffix}.json", None
    return path, f"novel{suffix}.json", f"novel_clients{suffix}.csv"


# The paper's names of the methods, for the sets protocol's figure and tables.
NAMES = {"pfedhn": "pFedHN", "pfedhn_pc": "pFedHN-PC", "fedavg_ft": "FedAvg+FT",
         "perfedavg": "Per-FedAvg"}


def adaptation_notes(summary):
    """What sets this adaptation apart in a legend: the mode unless rounds, the best model."""
    notes = []
    if summary.get("adapt") not in (None, "rounds", "baseline"):
        notes.append(str(summary["adapt"]))
    if summary.get("checkpoint") == "best":
        notes.append("best val model")
    return notes


def number(value):
    """A JSON accuracy: null (a client without samples in the split) becomes NaN."""
    return math.nan if value is None else float(value)


def read_sets_summary(f):
    summary = json.load(f)
    if summary.get("scheme") != "sets" or not summary.get("sets"):
        raise ValueError("not the results of `pfedhn generalize` on a novel.scheme=sets run")
    for s in summary["sets"]:
        if not s.get("clients"):
            raise ValueError(f"set {s.get('set')} lists no novel client")
    return summary


def read_sets_run(run_dir, summary_name, best):
    summary = read_file(run_dir, summary_name, read_sets_summary, best)
    training = float(summary["training_clients_test_accuracy"])
    clients, groups = [], []
    for s in summary["sets"]:
        alpha = float(s["alpha"])
        for c in s["clients"]:
            clients.append({"client": int(c["client"]), "alpha": alpha,
                            "shift": float(c["shift_tv"]), "before": number(c["test_acc_before"]),
                            "after": number(c["test_acc_after"]), "gap": number(c["gap"])})
        groups.append({"alpha": alpha, "n": len(s["clients"]), "shift": float(s["mean_shift_tv"]),
                       "before": number(s["novel_test_accuracy_before"]),
                       "after": number(s["novel_test_accuracy_after"]),
                       "gap": number(s["generalization_gap"])})
    notes = adaptation_notes(summary)
    algorithm = str(summary["algorithm"])
    label = NAMES.get(algorithm, algorithm) + (f" ({', '.join(notes)})" if notes else "")
    return {"dir": run_dir, "algorithm": algorithm, "label": label, "summary": summary,
            "training": training, "clients": clients, "groups": groups, "sets": True}


def read_run(path, best=False):
    run_dir, summary_name, clients_name = results_files(path, best)
    if clients_name is None:
        return read_sets_run(run_dir, summary_name, best)
    summary = read_file(run_dir, summary_name, json.load, best)
    training = float(summary["training_clients_test_accuracy"])
    clients = read_file(run_dir, clients_name, read_clients, best)
    for c in clients:
        c["gap"] = training - c["after"]
    notes = adaptation_notes(summary)
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


def adaptation_text(summary):
    """How a run's novel clients were adapted, e.g. "10 rounds of 50 steps, lr 0.01"."""
    adapt, steps = summary.get("adapt"), int(summary.get("steps", 0))
    sgd, lr = int(summary.get("sgd_steps", 0)), summary.get("embedding_lr")
    if adapt == "rounds":
        per_round = f" of {sgd // steps} steps" if steps else ""
        return f"{steps} round{'' if steps == 1 else 's'}{per_round}, lr {float(lr):g}"
    if adapt == "loss":
        return f"{sgd} loss steps, lr {float(lr):g}"
    if summary.get("algorithm") == "fedavg_ft":
        return f"{steps} fine-tuning steps"
    return "its own personalisation" if summary.get("algorithm") == "perfedavg" else "none"


def percent(x):
    return "–" if math.isnan(x) else f"{100 * x:.2f}"


def sets_table(runs, labels):
    """One section per alpha_gen (in the order of the first run's sets), a row per run; then
    the pooled numbers over every set."""
    alphas = []
    for run in runs:
        alphas += [g["alpha"] for g in run["groups"] if g["alpha"] not in alphas]
    header = ["| method | adaptation | novel clients | mean shift (TV) | training clients | "
              "novel, before | novel, after | gap |", "|---|---|---|---|---|---|---|---|"]
    def row(*cells):
        return "| " + " | ".join(cells) + " |"

    lines = []
    for alpha in alphas:
        lines += [f"### alpha_gen = {alpha:g}", ""] + header
        for run, label in zip(runs, labels):
            lines += [row(label, adaptation_text(run["summary"]), str(g["n"]), f"{g['shift']:.3f}",
                          *map(percent, (run["training"], g["before"], g["after"], g["gap"])))
                      for g in run["groups"] if g["alpha"] == alpha]
        lines.append("")
    lines += ["### every set, pooled", "",
              "| method | adaptation | sets | training clients | novel, val after | "
              "novel, test after | gap |", "|---|---|---|---|---|---|---|"]
    for run, label in zip(runs, labels):
        s = run["summary"]
        pooled = [number(s[k]) for k in ("novel_val_accuracy_after", "novel_test_accuracy_after",
                                         "generalization_gap")]
        lines.append(row(label, adaptation_text(s), str(len(run["groups"])),
                         *map(percent, [run["training"], *pooled])))
    return "\n".join(lines) + "\n"


def plot(runs, labels, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = any(run.get("sets") for run in runs)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    ax_gap, ax_acc = axes if sets else axes[::-1]  # sets: Figure 2's gap first
    for run, label in zip(runs, labels):
        for ax, key, scale in ((ax_acc, "after", 100), (ax_gap, "gap", 100)):
            drawn = [c for c in run["clients"] if not math.isnan(c[key])]
            ax.scatter([c["shift"] for c in drawn], [scale * c[key] for c in drawn], s=14,
                       alpha=0.5)
            color = ax.collections[-1].get_facecolor()[0]
            groups = run.get("groups") or by_alpha(run["clients"])
            ax.plot([g["shift"] for g in groups], [scale * g[key] for g in groups], "-o",
                    color=color[:3], ms=4, label=label)
    ax_acc.set_ylabel("novel client's test accuracy after adaptation (%)")
    ax_gap.set_ylabel("generalization gap (training clients minus novel client, points)")
    if sets:
        ax_gap.set_ylabel("generalization gap: training clients minus novel client (points)",
                          fontsize=9)
        fig.suptitle("novel clients, one set per alpha_gen: dots are clients, lines join each "
                     "set's mean shift and pooled accuracy", fontsize=10)
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
    if len({bool(r.get("sets")) for r in runs}) > 1:
        fail("novel.scheme=sets runs (novel-sets<X>.json) and other runs cannot be drawn "
             "together")
    labels = args.labels or [r["label"] for r in runs]
    text = sets_table(runs, labels) if runs[0].get("sets") else table(runs, labels)
    if args.table:
        with open(args.table, "w") as f:
            f.write(text)
    plot(runs, labels, args.out)
    print(text, end="")
    print(args.out)


if __name__ == "__main__":
    main()
