#!/usr/bin/python3
"""Per-client test accuracy of runs with the classes each client holds: the tasks a pooled
number is made of. Reads RUN_DIR/results.json (its "client_classes", written since 2026-12-06)
and prints a markdown table, one row per client, one accuracy column per run; with --by-pair,
one row per class set (the mean over the clients holding it).

  scripts/client_table.py RUN_DIR... [--model best|final] [--labels NAME...] [--by-pair]
                          [--sort accuracy|client] [-o OUT.md]

Runs must have the same clients and classes (e.g. two methods on one pinned partition), else
it says which client differs. Errors are one line on stderr, exit 2.
"""
import argparse
import json
import sys

from run_files import fail, read_file

PROG = "client_table.py"
CLASS_NAMES = {
    "cifar10": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                "truck"],
}


def read_run(run_dir, model):
    def reader(f):
        return json.load(f)

    j = read_file(PROG, run_dir, "results.json", reader,
                  f"'{run_dir}' has no results.json (not a finished pfedhn run)")
    if "client_classes" not in j:
        fail(PROG, f"'{run_dir}/results.json' has no client_classes (a run made before "
                   "2026-12-06: its partition is in partition.json only if it was resumed since)")
    try:
        acc = j[model]["test"]["client_accuracy"]
    except (KeyError, TypeError):
        fail(PROG, f"'{run_dir}/results.json' has no {model}.test.client_accuracy")
    classes = j["client_classes"]
    if len(classes) != len(acc):
        fail(PROG, f"'{run_dir}/results.json': {len(classes)} clients with classes but "
                   f"{len(acc)} accuracies")
    return j.get("dataset", ""), classes, acc


def class_label(dataset, classes):
    names = CLASS_NAMES.get(dataset)
    if names is None:
        return "/".join(str(c) for c in classes)
    return "/".join(names[c] if 0 <= c < len(names) else str(c) for c in classes)


def pct(a):
    return "–" if a is None else f"{100 * a:.1f}"


def main(argv=None):
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", metavar="RUN_DIR")
    ap.add_argument("--model", choices=["best", "final"], default="best",
                    help="the evaluation at the best validation accuracy (default) or the last")
    ap.add_argument("--labels", nargs="+", help="column names (default: the run folders)")
    ap.add_argument("--by-pair", action="store_true",
                    help="one row per class set: the mean accuracy of its clients")
    ap.add_argument("--sort", choices=["accuracy", "client"], default="client",
                    help="row order (accuracy: of the first run, ascending)")
    ap.add_argument("-o", "--out", help="write the table here too")
    a = ap.parse_args(argv)
    labels = a.labels or a.runs
    if len(labels) != len(a.runs):
        fail(PROG, f"--labels gives {len(labels)} names for {len(a.runs)} runs")
    runs = [read_run(r, a.model) for r in a.runs]
    dataset, classes, _ = runs[0]
    for r, (_, other, _) in zip(a.runs[1:], runs[1:]):
        if len(other) != len(classes):
            fail(PROG, f"'{r}' has {len(other)} clients, '{a.runs[0]}' {len(classes)}")
        for i, (x, y) in enumerate(zip(classes, other)):
            if x != y:
                fail(PROG, f"client {i} holds classes {y} in '{r}' but {x} in '{a.runs[0]}': "
                           "not the same partition")
    rows = []
    if a.by_pair:
        groups = {}
        for i, cs in enumerate(classes):
            groups.setdefault(tuple(cs), []).append(i)
        for cs, members in groups.items():
            means = []
            for _, _, acc in runs:
                vals = [acc[i] for i in members if acc[i] is not None]
                means.append(sum(vals) / len(vals) if vals else None)
            rows.append((class_label(dataset, cs), len(members), means))
        header = ["classes", "clients"]
    else:
        for i, cs in enumerate(classes):
            rows.append((str(i), class_label(dataset, cs), [acc[i] for _, _, acc in runs]))
        header = ["client", "classes"]
    if a.sort == "accuracy":
        rows.sort(key=lambda r: (r[2][0] is None, r[2][0] if r[2][0] is not None else 0))
    lines = ["| " + " | ".join(header + [f"{l} test acc. (%)" for l in labels]) + " |",
             "|" + "---|" * (len(header) + len(labels))]
    for first, second, accs in rows:
        lines.append("| " + " | ".join([str(first), str(second)] + [pct(x) for x in accs]) + " |")
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if a.out:
        try:
            with open(a.out, "w") as f:
                f.write(text)
        except OSError as e:
            fail(PROG, f"cannot write '{a.out}': {e.strerror}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
