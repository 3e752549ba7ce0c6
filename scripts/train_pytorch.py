#!/usr/bin/python3
"""The authors' pFedHN / pFedHN-PC training on real CIFAR-10, for comparison with a pfedhn run.

Trains with the round and the evaluation of scripts/bench_pytorch.py (the authors' released
code: torchvision datasets, one DataLoader per client and split, the hypernetwork's
vector-Jacobian product with delta_theta) on the real images of a CIFAR-10 binary copy
(data_batch_1..5.bin). The test split is held out of the official training set, as pfedhn's
dataset.test_split=holdout: a seeded random_split of the 50,000 training images into
train / val / test of 50,000 - val_size - test_size, val_size and test_size. The official test
file is not read.

Writes OUT/metrics.csv (round, val_acc, val_loss, test_acc, test_loss: pooled over the clients,
after rounds 0, eval_every, ... and the last) and OUT/results.json (test accuracy at the best
validation evaluation, its round, the final test accuracy, the wall time). Same config presets
and dotted overrides as pfedhn; run with Debian's /usr/bin/python3.
"""

import argparse
import csv
import json
import os
import sys
import time

import numpy as np
import torch
from torchvision import transforms
from torchvision.datasets import CIFAR10, VisionDataset

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_pytorch as bp  # noqa: E402

RECORD = 1 + 3 * 32 * 32  # CIFAR-10 binary: one label byte, then the image as CHW bytes


def read_cifar10_batches(root):
    """Labels and HWC uint8 images of data_batch_1..5.bin under ROOT (or its
    cifar-10-batches-bin folder)."""
    folder = os.path.join(root, "cifar-10-batches-bin")
    if not os.path.isdir(folder):
        folder = root
    images, labels = [], []
    for k in range(1, 6):
        path = os.path.join(folder, f"data_batch_{k}.bin")
        try:
            with open(path, "rb") as f:
                raw = np.frombuffer(f.read(), dtype=np.uint8)
        except OSError as e:
            raise bp.UserError(f"cannot read '{path}': {e.strerror}")
        if raw.size == 0 or raw.size % RECORD:
            raise bp.UserError(f"'{path}' is not a CIFAR-10 binary batch ({raw.size} bytes)")
        rows = raw.reshape(-1, RECORD)
        labels.append(rows[:, 0].astype(np.int64))
        images.append(rows[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return np.concatenate(images), np.concatenate(labels)


def cifar10_dataset(images, labels):
    """A torchvision CIFAR10 object over the given arrays, with the authors' transform."""
    _, _, _, _, _, mean, std = bp.DATASETS["cifar10"]
    ds = CIFAR10.__new__(CIFAR10)
    VisionDataset.__init__(ds, root="files", transform=transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize(mean, std)]))
    ds.data, ds.targets = np.ascontiguousarray(images), labels.tolist()
    return ds


def holdout_splits(cfg, images, labels):
    n = len(labels)
    val_size, test_size = int(cfg["dataset.val_size"]), int(cfg["dataset.test_size"])
    if val_size < 1 or test_size < 1 or val_size + test_size >= n:
        raise bp.UserError(f"dataset.val_size={val_size} and dataset.test_size={test_size} must "
                           f"be >= 1 and leave training samples out of {n}")
    full = cifar10_dataset(images, labels)
    gen = torch.Generator().manual_seed(int(cfg["seed"]))
    return torch.utils.data.random_split(full, [n - val_size - test_size, val_size, test_size],
                                         generator=gen)


def pooled(results):
    """The authors' summary of one split: accuracy over all samples, mean of client losses."""
    correct = sum(r[1] for r in results)
    samples = sum(r[2] for r in results)
    return correct / max(samples, 1), float(np.mean([r[0] for r in results]))


def train(cfg, data_root, out, rounds, eval_every, log=print):
    threads = bp.start_torch(cfg)
    seed = int(cfg["seed"])
    if cfg["dataset.data"] != "cifar10":
        raise bp.UserError("train_pytorch.py reads CIFAR-10 only (dataset.data=cifar10)")
    images, labels = read_cifar10_batches(data_root)
    bench = bp.Bench(cfg, holdout_splits(cfg, images, labels))
    os.makedirs(out, exist_ok=True)
    rows, best = [], None
    times = dict(generate=0.0, local=0.0, server=0.0)
    start = time.perf_counter()
    with open(os.path.join(out, "metrics.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["round", "val_acc", "val_loss", "test_acc", "test_loss"])
        for step in range(rounds):
            bench.round(times)
            if step % eval_every and step != rounds - 1:
                continue
            test, val = bench.evaluate()
            (test_acc, test_loss), (val_acc, val_loss) = pooled(test), pooled(val)
            row = dict(round=step, val_acc=val_acc, val_loss=val_loss, test_acc=test_acc,
                       test_loss=test_loss)
            writer.writerow([row[k] for k in ("round", "val_acc", "val_loss", "test_acc",
                                              "test_loss")])
            f.flush()
            rows.append(row)
            if best is None or val_acc > best["val_acc"]:
                best = row
            elapsed = time.perf_counter() - start
            eta = elapsed / (step + 1) * (rounds - step - 1)
            log(f"round {step + 1}/{rounds}: val {val_acc:.4f} test {test_acc:.4f} "
                f"(best val at round {best['round']}: test {best['test_acc']:.4f}) "
                f"{elapsed / 60:.1f} min, ETA {eta / 60:.1f} min")
    result = dict(tool="pytorch", dataset="cifar10", variant=bench.variant,
                  test_split="holdout", seed=seed, threads=threads,
                  num_clients=bench.num_nodes, rounds=rounds, eval_every=eval_every,
                  train_size=len(bench.clients.subsets["train"][0].dataset),
                  best=dict(round=best["round"], val_acc=best["val_acc"],
                            test_acc=best["test_acc"]),
                  final=dict(round=rows[-1]["round"], test_acc=rows[-1]["test_acc"]),
                  wall_seconds=time.perf_counter() - start)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(result, f, indent=2)
    return result


def main(argv):
    parser = argparse.ArgumentParser(
        prog="train_pytorch.py",
        description="Train the authors' PyTorch pFedHN on real CIFAR-10 with the test split "
                    "held out of the training set, for comparison with pfedhn.")
    parser.add_argument("--config", default=bp.DEFAULT_CONFIG,
                        help="YAML preset (default: conf/config.yaml)")
    parser.add_argument("--data-root", required=True,
                        help="folder with data_batch_1..5.bin (or its cifar-10-batches-bin)")
    parser.add_argument("--out", required=True, help="folder for metrics.csv and results.json")
    parser.add_argument("--rounds", type=int, help="rounds (default: client.num_rounds)")
    parser.add_argument("--eval-every", type=int, help="default: the config's eval_every")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="config overrides, e.g. seed=2 num_threads=1")
    args = parser.parse_args(argv)
    try:
        cfg = bp.load_config(args.config, args.overrides)
        rounds = args.rounds if args.rounds is not None else int(cfg["client.num_rounds"])
        every = args.eval_every if args.eval_every is not None else int(cfg["eval_every"])
        if rounds < 1 or every < 1:
            raise bp.UserError("--rounds and --eval-every must be >= 1")
        res = train(cfg, args.data_root, args.out, rounds, every,
                    log=lambda line: print(line, flush=True))
    except bp.UserError as e:
        print(f"train_pytorch: error: {e}", file=sys.stderr)
        return 2
    print(f"done in {res['wall_seconds'] / 60:.1f} min: test accuracy at best val (round "
          f"{res['best']['round']}) = {res['best']['test_acc']:.4f}; final "
          f"{res['final']['test_acc']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
