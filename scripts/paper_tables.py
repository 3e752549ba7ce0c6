#!/usr/bin/python3
"""Collects the runs of scripts/reproduce_paper.sh into paper_tables.md and paper_tables.csv.

    scripts/paper_tables.py OUT_DIR [--datasets D...] [--clients N...] [--methods M...]
                            [--no-data D...] [--note TEXT]

Runs are OUT_DIR/runs/<dataset>/n<clients>/<method>/seed<k>/results.json. Each cell is the mean
+- std (sample std over seeds) of test_accuracy_at_best_val, in %, with the number of seeds,
beside the paper's number where the reference page (pfedhn-reference.md) gives one. A cell
whose runs drew their test split from the training set (results.json "data_split": dataset.
test_split=holdout) says so, in the cell and in the CSV's test_split column, and its section
gives the split sizes: such a cell is not measured on the official test set the paper used.
"""
import argparse
import csv
import glob
import json
import os
import statistics

# The paper's numbers as the reference page states them ("Published numbers"): 50 clients with
# their std, 10 and 100 clients without. The reference page gives none for the baselines.
PAPER = {
    ("mnist", 50, "pfedhn"): "99.28 ± 0.11",
    ("cifar10", 10, "pfedhn"): "90.83",
    ("cifar10", 50, "pfedhn"): "88.38 ± 0.29",
    ("cifar10", 100, "pfedhn"): "87.97",
    ("cifar10", 10, "pfedhn_pc"): "92.47",
    ("cifar10", 50, "pfedhn_pc"): "90.08 ± 0.63",
    ("cifar10", 100, "pfedhn_pc"): "88.09",
    ("cifar100", 10, "pfedhn"): "65.74",
    ("cifar100", 50, "pfedhn"): "59.48 ± 0.67",
    ("cifar100", 100, "pfedhn"): "53.24",
    ("cifar100", 10, "pfedhn_pc"): "68.15",
    ("cifar100", 50, "pfedhn_pc"): "60.17 ± 1.63",
    ("cifar100", 100, "pfedhn_pc"): "52.40",
}
NAMES = {"pfedhn": "pFedHN", "pfedhn_pc": "pFedHN-PC", "local": "Local", "fedavg": "FedAvg",
         "fedavg_ft": "FedAvg + FT", "perfedavg": "Per-FedAvg (FO)", "fedper": "FedPer"}
DATASET_NAMES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10",
                 "cifar100": "CIFAR-100"}


def cell_runs(out, dataset, clients, method):
    """(accuracies in %, data_split objects) of the cell's finished runs."""
    pattern = os.path.join(out, "runs", dataset, f"n{clients}", method, "seed*", "results.json")
    accs, splits = [], []
    for path in sorted(glob.glob(pattern)):
        with open(path) as f:
            result = json.load(f)
        value = result.get("test_accuracy_at_best_val")
        if value is not None:
            accs.append(100.0 * value)
            splits.append(result.get("data_split", {"test_split": "official"}))
    return accs, splits


def split_label(splits):
    """official | holdout | mixed (runs of one cell made with different test splits) | ''."""
    kinds = {s.get("test_split", "official") for s in splits}
    return "" if not kinds else kinds.pop() if len(kinds) == 1 else "mixed"


def mean_std(accs):
    if not accs:
        return None, None
    return statistics.mean(accs), statistics.stdev(accs) if len(accs) > 1 else 0.0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--datasets", nargs="+", default=["mnist", "cifar10", "cifar100"])
    p.add_argument("--clients", nargs="+", type=int, default=[10, 50, 100])
    p.add_argument("--methods", nargs="+", default=list(NAMES))
    p.add_argument("--no-data", nargs="*", default=[], help="datasets that were not available")
    p.add_argument("--note", default="", help="a line under the title (e.g. the run settings)")
    args = p.parse_args()

    rows = []
    md = ["# pfedhn: the paper's tables, measured", ""]
    if args.note:
        md += [args.note, ""]
    md += ["Test accuracy (%) at the best validation evaluation, mean ± std over seeds (n = seeds "
           "finished); paper = the number the reference page gives for that cell (– = none).", ""]
    for dataset in args.datasets:
        md += [f"## {DATASET_NAMES.get(dataset, dataset)}", ""]
        holdout_sizes = set()
        for n in args.clients:
            for method in args.methods:
                for split in cell_runs(args.out, dataset, n, method)[1]:
                    if split.get("test_split") == "holdout":
                        holdout_sizes.add((split.get("train"), split.get("val"), split.get("test")))
        for train, val, test in sorted(holdout_sizes, key=str):
            md += [f"Held-out test split (cells marked holdout): train {train} / val {val} / "
                   f"test {test}, all drawn (seeded, disjoint) from the official training set, "
                   "not the official test set the paper used.", ""]
        header = "| method | " + " | ".join(f"{n} clients | paper" for n in args.clients) + " |"
        md += [header, "|---|" + "---|---|" * len(args.clients)]
        for method in args.methods:
            cells = []
            for n in args.clients:
                paper = PAPER.get((dataset, n, method), "–")
                label = ""
                if dataset in args.no_data:
                    measured, m, s, k = "no data", None, None, 0
                else:
                    accs, splits = cell_runs(args.out, dataset, n, method)
                    m, s = mean_std(accs)
                    k = len(accs)
                    label = split_label(splits)
                    tag = "" if label in ("", "official") else f", {label}"
                    measured = "not run" if m is None else f"{m:.2f} ± {s:.2f} (n={k}{tag})"
                cells += [measured, paper]
                rows.append({"dataset": dataset, "clients": n, "method": method,
                             "mean": "" if m is None else f"{m:.4f}",
                             "std": "" if s is None else f"{s:.4f}", "seeds": k,
                             "status": "no data" if dataset in args.no_data else
                             ("ok" if m is not None else "not run"),
                             "paper": "" if paper == "–" else paper, "test_split": label})
            md.append(f"| {NAMES.get(method, method)} | " + " | ".join(cells) + " |")
        md.append("")
    with open(os.path.join(args.out, "paper_tables.md"), "w") as f:
        f.write("\n".join(md))
    with open(os.path.join(args.out, "paper_tables.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["dataset"])
        w.writeheader()
        w.writerows(rows)
    print(os.path.join(args.out, "paper_tables.md"))
    print(os.path.join(args.out, "paper_tables.csv"))


if __name__ == "__main__":
    main()
