#!/usr/bin/python3
"""Checks a `pfedhn export` folder from Python: loads every exported client model with
torch.jit.load, evaluates it on its test samples (manifest.json's test_indices, read from the
dataset files under --data-root, normalised with the manifest's mean and std) and prints its
accuracy beside the one pfedhn measured. Exits 1 when any client differs by more than one
sample, 2 on bad input. Run it with Debian's /usr/bin/python3 (python3-torch).

    import torch
    model = torch.jit.load("export/client_7.pt")      # forward(x) -> logits
    logits = model(x)                                  # x: [N, C, H, W], normalised
"""

import argparse
import gzip
import json
import os
import sys

import numpy as np
import torch

# dataset -> (folder under the data root, format)
LAYOUT = {
    "mnist": ("mnist", "idx"),
    "fashion_mnist": ("fashion_mnist", "idx"),
    "cifar10": ("cifar-10-batches-bin", "cifar10"),
    "cifar100": ("cifar-100-binary", "cifar100"),
}


class UserError(Exception):
    pass


def read_maybe_gz(folder, name):
    for candidate in (name, name + ".gz"):
        path = os.path.join(folder, candidate)
        if os.path.exists(path):
            opener = gzip.open if candidate.endswith(".gz") else open
            try:
                with opener(path, "rb") as f:
                    return f.read()
            except OSError as e:
                raise UserError(f"cannot read '{path}': {e}")
    raise UserError(f"no {name}[.gz] in '{folder}'")


def read_idx(folder, prefix):
    images = np.frombuffer(read_maybe_gz(folder, f"{prefix}-images-idx3-ubyte"), np.uint8)
    labels = np.frombuffer(read_maybe_gz(folder, f"{prefix}-labels-idx1-ubyte"), np.uint8)
    n, h, w = (int.from_bytes(images[4 * k:4 * k + 4].tobytes(), "big") for k in (1, 2, 3))
    return images[16:16 + n * h * w].reshape(n, 1, h, w), labels[8:8 + n].astype(np.int64)


def read_cifar(files, label_bytes, label_offset):
    record = label_bytes + 3 * 32 * 32
    images, labels = [], []
    for path in files:
        try:
            with open(path, "rb") as f:
                raw = np.frombuffer(f.read(), np.uint8)
        except OSError as e:
            raise UserError(f"cannot read '{path}': {e.strerror}")
        if raw.size == 0 or raw.size % record:
            raise UserError(f"'{path}' is not a CIFAR binary file")
        rows = raw.reshape(-1, record)
        labels.append(rows[:, label_offset].astype(np.int64))
        images.append(rows[:, label_bytes:].reshape(-1, 3, 32, 32))
    return np.concatenate(images), np.concatenate(labels)


def read_split(root, dataset, from_training_set):
    """Images [N, C, H, W] (uint8) and labels of the official training or test set."""
    if dataset not in LAYOUT:
        raise UserError(f"manifest dataset '{dataset}' is not one of {sorted(LAYOUT)}")
    sub, fmt = LAYOUT[dataset]
    folder = os.path.join(root, sub)
    if fmt == "idx":
        return read_idx(folder, "train" if from_training_set else "t10k")
    if fmt == "cifar10":
        names = ([f"data_batch_{k}.bin" for k in range(1, 6)] if from_training_set
                 else ["test_batch.bin"])
        return read_cifar([os.path.join(folder, n) for n in names], 1, 0)
    name = "train.bin" if from_training_set else "test.bin"
    return read_cifar([os.path.join(folder, name)], 2, 1)  # fine label


def client_accuracy(module, images, labels, mean, std, batch=500):
    mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    correct = 0
    with torch.no_grad():
        for start in range(0, len(labels), batch):
            x = torch.from_numpy(images[start:start + batch].astype(np.float32) / 255.0)
            x = (x - mean) / std
            pred = module(x).argmax(1)
            correct += int((pred == torch.from_numpy(labels[start:start + batch])).sum())
    return correct


def check(folder, data_root, log=print):
    try:
        with open(os.path.join(folder, "manifest.json")) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read '{os.path.join(folder, 'manifest.json')}': {e}")
    from_training = manifest["test_split"] == "holdout"
    images, labels = read_split(data_root, manifest["dataset"], from_training)
    mean, std = manifest["normalization"]["mean"], manifest["normalization"]["std"]
    mismatches = 0
    log(f"{'client':>6}  {'samples':>7}  {'pfedhn':>8}  {'python':>8}")
    for entry in manifest["clients"]:
        idx = np.asarray(entry["test_indices"], dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= len(labels)):
            raise UserError(f"client {entry['client']}: test_indices outside the dataset")
        module = torch.jit.load(os.path.join(folder, entry["file"]))
        module.eval()
        correct = client_accuracy(module, images[idx], labels[idx], mean, std)
        n = max(len(idx), 1)
        ok = abs(correct - entry["test_correct"]) <= 1
        mismatches += not ok
        log(f"{entry['client']:>6}  {len(idx):>7}  {entry['test_accuracy']:>8.4f}  "
            f"{correct / n:>8.4f}{'' if ok else '  MISMATCH'}")
    return mismatches


def main(argv):
    p = argparse.ArgumentParser(prog="load_export.py", description=__doc__.splitlines()[0])
    p.add_argument("folder", help="the output folder of pfedhn export")
    p.add_argument("--data-root", required=True, help="pfedhn's dataset.root")
    args = p.parse_args(argv)
    try:
        mismatches = check(args.folder, args.data_root)
    except UserError as e:
        print(f"load_export: error: {e}", file=sys.stderr)
        return 2
    if mismatches:
        print(f"load_export: {mismatches} client(s) differ by more than one sample",
              file=sys.stderr)
        return 1
    print("load_export: every client agrees with pfedhn (within one sample)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
