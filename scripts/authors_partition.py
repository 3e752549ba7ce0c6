#!/usr/bin/python3
"""Write the partition that the pFedHN authors' paper-era code draws for a seed, as a pfedhn
partition file (client.partition=file client.partition_file=OUT).

Their algorithm is the reference page's "classes per client" partition; their random stream is
numpy's legacy RandomState seeded by np.random.seed(seed), and the partition is its first use:
for every class in order, `uniform(0.4, 0.6, size=count_per_class)` normalised to sum 1 (a stack
of proportions); then for every client and every slot, `choice` among the classes with the
largest remaining count; then each client pops the last proportion of each class it chose.
count_per_class = (classes_per_client * num_clients) // num_classes in the code of 2021-02-10
(arXiv v1 and the camera-ready), where the trainer asserts that it divides; pfedhn's
`exact` count takes its ceiling where it does not. --spare adds the one unused share of their
code before and since 2022-11 (pfedhn's client.class_shares=spare).

The file holds the class assignment and proportions only: which samples of a class a client
gets depends on each split's shuffle, which pfedhn draws from its own seed.

Examples:
  scripts/authors_partition.py --seed 42 --clients 10 -o partitions/authors_s42_n10.json
  build/pfedhn train --config conf/cifar10_holdout.yaml client.num_nodes=10 \\
      client.partition=file client.partition_file=partitions/authors_s42_n10.json
"""
import argparse
import json
import math
import sys

PROG = "authors_partition.py"


def fail(message):
    print(f"{PROG}: error: {message}", file=sys.stderr)
    sys.exit(2)


def shares_per_class(num_clients, num_classes, classes_per_client, spare):
    slots = classes_per_client * num_clients
    if spare:
        return slots // num_classes + 1
    return math.ceil(slots / num_classes)


def authors_assignment(seed, num_clients, num_classes=10, classes_per_client=2, spare=False,
                       low=0.4, high=0.6):
    """(classes, proportions) per client, as the authors' gen_classes_per_node draws them after
    np.random.seed(seed)."""
    import numpy as np

    rng = np.random.RandomState(seed)  # the stream np.random.seed(seed) gives the global one
    count = shares_per_class(num_clients, num_classes, classes_per_client, spare)
    remaining = [count] * num_classes
    stacks = []
    for _ in range(num_classes):
        weights = rng.uniform(low, high, size=count)
        stacks.append((weights / weights.sum()).tolist())
    classes, proportions = [], []
    for _ in range(num_clients):
        chosen = []
        for _ in range(classes_per_client):
            largest = max(remaining)
            tied = np.where(np.array(remaining) == largest)[0]
            c = int(rng.choice(tied))
            remaining[c] -= 1
            chosen.append(c)
        classes.append(chosen)
        proportions.append([stacks[c].pop() for c in chosen])
    return classes, proportions


def partition_record(seed, num_clients, num_classes, classes_per_client, spare):
    classes, proportions = authors_assignment(seed, num_clients, num_classes, classes_per_client,
                                              spare)
    return {
        "format": "pfedhn partition 1",
        "source": "the pFedHN authors' paper-era partition (gen_classes_per_node after "
                  f"np.random.seed({seed}))" + (", with the spare share" if spare else ""),
        "num_classes": num_classes,
        "scheme": "classes",
        "class_shares": "spare" if spare else "exact",
        "seed": seed,
        "clients": [{"client": i, "classes": c, "proportions": p}
                    for i, (c, p) in enumerate(zip(classes, proportions))],
    }


def main(argv=None):
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, required=True, help="the authors' --seed (theirs: 42)")
    ap.add_argument("--clients", type=int, required=True, help="number of clients (--num-nodes)")
    ap.add_argument("--classes", type=int, default=10, help="classes in the dataset (10)")
    ap.add_argument("--per-client", type=int, default=2,
                    help="classes per client (2 for CIFAR-10, 10 for CIFAR-100)")
    ap.add_argument("--spare", action="store_true",
                    help="one unused share per class (their code before and since 2022-11)")
    ap.add_argument("-o", "--out", required=True, help="the JSON file to write ('-': stdout)")
    a = ap.parse_args(argv)
    if not 0 <= a.seed < 2**32:
        fail(f"--seed {a.seed} is out of range: numpy's RandomState takes 0 to 2**32 - 1")
    for name, value in (("--clients", a.clients), ("--classes", a.classes),
                        ("--per-client", a.per_client)):
        if value < 1:
            fail(f"{name} {value} is out of range: must be >= 1")
    if a.per_client > a.classes:
        fail(f"--per-client {a.per_client} is more than --classes {a.classes}")
    record = partition_record(a.seed, a.clients, a.classes, a.per_client, a.spare)
    text = json.dumps(record, indent=1) + "\n"
    if a.out == "-":
        sys.stdout.write(text)
        return 0
    try:
        with open(a.out, "w") as f:
            f.write(text)
    except OSError as e:
        fail(f"cannot write '{a.out}': {e.strerror}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
