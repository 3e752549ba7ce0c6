#!/usr/bin/python3
"""Heterogeneous widths (the paper's Section 5.2): per-width accuracy against homogeneous runs.

    scripts/hetero_table.py HETERO_RUN HOMOGENEOUS_RUN... [-o OUT.png] [--table OUT.md]
                            [--at best|final]

HETERO_RUN is a finished `pfedhn train` run with model.hetero_kernels = [w_0, ..., w_{n-1}]:
client i has width w_(i mod n). Each HOMOGENEOUS_RUN is a finished run of the same dataset,
clients, seed and split with one width for every client (model.n_kernels). The partition
depends only on those, so the clients of subset j (i mod n = j) are the same in every run, and
each column reports the same clients: test accuracy pooled over the subset (the sum of the
clients' correct predictions over the sum of their test samples), at the evaluation of the
run's best validation accuracy (--at best, default) or at the last one (--at final). The
figure shows the same numbers as grouped bars. A missing or unreadable file, or runs that do
not share their clients, stop the script with one line naming it, exit 2.
"""
import argparse
import json

from run_files import read_file as read_run_file, fail as fail_in

PROG = "hetero_table"


def fail(message):
    fail_in(PROG, message)


def read_file(run_dir, name, reader):
    return read_run_file(PROG, run_dir, name, reader,
                         f"'{run_dir}' is not a finished run: {name} is missing")


def read_config(f):
    import yaml
    cfg = yaml.safe_load(f)
    model, data = cfg["model"], cfg["dataset"]
    return {"algorithm": str(cfg["algorithm"]), "seed": int(cfg["seed"]),
            "dataset": str(data["data"]), "test_split": str(data.get("test_split", "official")),
            "clients": int(cfg["client"]["num_nodes"]),
            "widths": [int(w) for w in model.get("hetero_kernels") or []],
            "n_kernels": int(model["n_kernels"])}


def read_run(run_dir, at):
    run = read_file(run_dir, "config.yaml", read_config)
    run["dir"] = run_dir
    results = read_file(run_dir, "results.json", json.load)
    try:
        evaluation = results[at]
        run["round"] = int(evaluation["round"])
        run["acc"] = [float(a) for a in evaluation["test"]["client_accuracy"]]
        run["samples"] = [int(n) for n in results["client_samples"]["test"]]
        run["per_width"] = results.get("per_width", {}).get(at, [])
    except (KeyError, TypeError, ValueError) as e:
        fail(f"'{run_dir}/results.json' has no per-client test accuracy at '{at}': {e}")
    if not (len(run["acc"]) == len(run["samples"]) == run["clients"]):
        fail(f"'{run_dir}/results.json' lists {len(run['acc'])} client accuracies and "
             f"{len(run['samples'])} sample counts for {run['clients']} clients")
    return run


def pooled(run, members):
    """(correct, total) over the clients in members; a client's correct count is recovered from
    its accuracy and its number of test samples."""
    correct = sum(round(run["acc"][i] * run["samples"][i]) for i in members)
    return correct, sum(run["samples"][i] for i in members)


def subsets(widths, clients):
    return [[i for i in range(clients) if i % len(widths) == j] for j in range(len(widths))]


def check_runs(hetero, homogeneous):
    if not hetero["widths"]:
        fail(f"'{hetero['dir']}' is not a heterogeneous run (model.hetero_kernels is [])")
    keys = ("dataset", "clients", "seed", "test_split")
    for run in homogeneous:
        if run["widths"]:
            fail(f"'{run['dir']}' is heterogeneous too (model.hetero_kernels={run['widths']}); "
                 "give one heterogeneous run first, then homogeneous ones")
        differ = [k for k in keys if run[k] != hetero[k]]
        if differ or run["samples"] != hetero["samples"]:
            what = ", ".join(f"{k} {run[k]} vs {hetero[k]}" for k in differ) or "test samples"
            fail(f"'{run['dir']}' does not share its clients with '{hetero['dir']}' ({what})")
    # The heterogeneous run's own per-width counts must agree with the subsets computed here.
    for j, members in enumerate(subsets(hetero["widths"], hetero["clients"])):
        counts = [(p["test_correct"], p["test_total"]) for p in hetero["per_width"]
                  if p["n_kernels"] == hetero["widths"][j]]
        if counts and counts[0] != pooled(hetero, members):
            fail(f"'{hetero['dir']}/results.json': per_width says {counts[0]} for width "
                 f"{hetero['widths'][j]}, its clients' accuracies give {pooled(hetero, members)}")


def rows(hetero, homogeneous):
    """[(label, [accuracy (%) per column])]: one row per width subset, then all clients."""
    runs = [hetero] + homogeneous
    groups = [(f"{len(m)} clients i with i mod {len(hetero['widths'])} = {j} (width {w})", m)
              for j, (w, m) in enumerate(zip(hetero["widths"],
                                             subsets(hetero["widths"], hetero["clients"])))]
    groups.append((f"all {hetero['clients']} clients", list(range(hetero["clients"]))))
    out = []
    for label, members in groups:
        accs = []
        for run in runs:
            correct, total = pooled(run, members)
            accs.append(100.0 * correct / total if total else float("nan"))
        out.append((label, accs))
    return out


def column_names(hetero, homogeneous):
    return ([f"heterogeneous {hetero['widths']}"] +
            [f"homogeneous width {r['n_kernels']}" for r in homogeneous])


def table(hetero, homogeneous, at):
    names = column_names(hetero, homogeneous)
    lines = ["| clients (width in the heterogeneous run) | " + " | ".join(names) + " |",
             "|---" * (len(names) + 1) + "|"]
    for label, accs in rows(hetero, homogeneous):
        lines.append(f"| {label} | " + " | ".join(f"{a:.2f}" for a in accs) + " |")
    evaluated = ", ".join(f"{n}: round {r['round']}"
                          for n, r in zip(names, [hetero] + homogeneous))
    which = "the best validation evaluation" if at == "best" else "the last evaluation"
    lines.append("")
    lines.append(f"Test accuracy (%) pooled over the clients of each row, at {which} of each "
                 f"run ({evaluated}); {hetero['algorithm']}, {hetero['dataset']}, "
                 f"{hetero['clients']} clients, seed {hetero['seed']}, {hetero['test_split']} "
                 "test split.")
    return "\n".join(lines) + "\n"


def plot(hetero, homogeneous, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = column_names(hetero, homogeneous)
    data = rows(hetero, homogeneous)
    fig, ax = plt.subplots(figsize=(2.2 + 1.6 * len(data), 4.4))
    width = 0.8 / len(names)
    for c, name in enumerate(names):
        xs = [g + (c - (len(names) - 1) / 2) * width for g in range(len(data))]
        ys = [accs[c] for _, accs in data]
        bars = ax.bar(xs, ys, width, label=name)
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks(range(len(data)))
    ax.set_xticklabels([label.replace(" (", "\n(") for label, _ in data], fontsize=7)
    finite = [a for _, accs in data for a in accs if a == a]
    if finite:
        ax.set_ylim(max(0.0, min(finite) - 5.0), min(100.0, max(finite) + 2.0))
    ax.set_ylabel("test accuracy (%), pooled over the row's clients")
    ax.set_title(f"{hetero['algorithm']}, {hetero['dataset']}, {hetero['clients']} clients: "
                 "one hypernetwork for several widths", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=len(names))
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("hetero", metavar="HETERO_RUN")
    parser.add_argument("homogeneous", nargs="+", metavar="HOMOGENEOUS_RUN")
    parser.add_argument("-o", "--out", default="hetero.png", help="figure (default hetero.png)")
    parser.add_argument("--table", help="also write the Markdown table here")
    parser.add_argument("--at", choices=("best", "final"), default="best")
    args = parser.parse_args()
    hetero = read_run(args.hetero, args.at)  # every run checked before anything is drawn
    homogeneous = sorted((read_run(d, args.at) for d in args.homogeneous),
                         key=lambda r: r["n_kernels"])
    check_runs(hetero, homogeneous)
    text = table(hetero, homogeneous, args.at)
    if args.table:
        with open(args.table, "w") as f:
            f.write(text)
    plot(hetero, homogeneous, args.out)
    print(text, end="")
    print(args.out)


if __name__ == "__main__":
    main()
