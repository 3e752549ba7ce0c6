#!/usr/bin/python3
"""Checks a `pfedhn export` folder from Python: loads every exported client model with
torch.jit.load, evaluates it on its test samples (manifest.json's test_indices, read from the
dataset files under --data-root, normalised with the manifest's mean and std) and prints its
accuracy beside the one pfedhn measured. Exits 1 when any client differs by more than one
sample, 2 on bad input. Run it with Debian's /usr/bin/python3 (python3-torch, python3-pil).

An image folder (dataset.data=folder) is read with Pillow in torchvision's order, and a tensors
file (dataset.data=tensors) with torch.load, from the manifest's `source` (as the run's config
named it) unless --data-root names the folder or the file.

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


def is_hidden(name):
    return name.startswith(".")


def folder_listing(split_dir, classes):
    """(path, label) pairs of one split of an image folder, in torchvision's order: classes
    sorted, each class's files as sorted(os.walk(...)) with sorted names; hidden names skipped,
    as pfedhn does."""
    samples = []
    present = sorted(e.name for e in os.scandir(split_dir) if e.is_dir() and not is_hidden(e.name))
    for name in present:
        if name not in classes:
            raise UserError(f"'{os.path.join(split_dir, name)}' is not a training class")
        walk = []
        for folder, dirs, files in os.walk(os.path.join(split_dir, name), followlinks=True):
            dirs[:] = [d for d in dirs if not is_hidden(d)]
            walk.append((folder, files))
        for folder, files in sorted(walk):
            samples += [(os.path.join(folder, f), classes.index(name))
                        for f in sorted(files) if not is_hidden(f)]
    return samples


def pixels(path):
    """An image as uint8 [C, H, W], decoded as stb_image decodes it for pfedhn: alpha
    dropped, 16-bit samples cut to their high byte, 1-bit ones scaled to 0/255."""
    from PIL import Image  # Debian's python3-pil; only image folders need it
    with Image.open(path) as img:
        if img.mode == "P":
            img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        a = np.asarray(img)
        mode = img.mode
    if mode == "1":
        a = a.astype(np.uint8) * 255
    elif a.dtype != np.uint8:
        a = (a.astype(np.uint32) >> 8).astype(np.uint8)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.shape[2] in (2, 4):
        a = a[:, :, :-1]
    return np.ascontiguousarray(a.transpose(2, 0, 1))


def read_folder_split(root, classes, from_training_set):
    split_dir = os.path.join(root, "train" if from_training_set else "test")
    if not os.path.isdir(split_dir):
        raise UserError(f"no folder '{split_dir}'")
    samples = folder_listing(split_dir, classes)
    images = np.stack([pixels(path) for path, _ in samples])
    return images, np.asarray([label for _, label in samples], dtype=np.int64)


def read_tensors_split(path, from_training_set):
    try:
        data = torch.load(path)
    except (OSError, RuntimeError) as e:
        raise UserError(f"cannot read '{path}': {e}")
    prefix = "train" if from_training_set else "test"
    if f"{prefix}_x" not in data:
        raise UserError(f"'{path}' has no {prefix}_x")
    return data[f"{prefix}_x"].numpy(), data[f"{prefix}_y"].numpy()


def read_split(root, dataset, from_training_set, manifest=None):
    """Images [N, C, H, W] (uint8) and labels of the official training or test set."""
    if dataset in ("folder", "tensors"):
        source = root or manifest.get("source")
        if dataset == "folder":
            return read_folder_split(source, manifest["class_names"], from_training_set)
        return read_tensors_split(source, from_training_set)
    if root is None:
        raise UserError(f"--data-root is needed for the built-in dataset '{dataset}'")
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
    images, labels = read_split(data_root, manifest["dataset"], from_training, manifest)
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
    p.add_argument("--data-root",
                   help="pfedhn's dataset.root (built-in datasets; for dataset.data=folder or "
                        "tensors: the image folder or the file, else the manifest's source)")
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
