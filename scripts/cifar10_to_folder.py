#!/usr/bin/python3
"""Writes CIFAR-10's training set (the binary batches under --cifar) as an image folder of
PNGs in torchvision's ImageFolder layout, for `pfedhn train dataset.data=folder`:

    OUT/train/<class name>/<index>.png      index = the image's position in the official order

With --test, test_batch.bin becomes OUT/test/... too (the offline copy has no test_batch.bin:
train then with dataset.test_split=holdout). PNG is lossless, so the pixels are CIFAR's bytes.
Run it with Debian's /usr/bin/python3 (python3-pil, python3-numpy).

    scripts/cifar10_to_folder.py --cifar data/cifar-10-batches-bin --out data/cifar10_png
    build/pfedhn train dataset.data=folder dataset.root=data/cifar10_png \\
        dataset.test_split=holdout dataset.val_size=5000 dataset.test_size=5000
"""

import argparse
import os
import sys

import numpy as np

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck"]
RECORD = 1 + 3 * 32 * 32


def read_batches(paths):
    """Images [N, 32, 32, 3] and labels of CIFAR-10 binary batch files, in file order."""
    images, labels = [], []
    for path in paths:
        with open(path, "rb") as f:
            raw = np.frombuffer(f.read(), np.uint8)
        if raw.size == 0 or raw.size % RECORD:
            raise SystemExit(f"cifar10_to_folder: '{path}' is not a CIFAR-10 binary batch")
        rows = raw.reshape(-1, RECORD)
        if rows[:, 0].max() >= len(CLASSES):
            raise SystemExit(f"cifar10_to_folder: '{path}' holds a label outside 0..9")
        labels.append(rows[:, 0].astype(np.int64))
        images.append(rows[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return np.concatenate(images), np.concatenate(labels)


def write_split(out, images, labels):
    from PIL import Image
    width = len(str(len(labels) - 1))
    for name in CLASSES:
        os.makedirs(os.path.join(out, name), exist_ok=True)
    for i, (image, label) in enumerate(zip(images, labels)):
        Image.fromarray(np.ascontiguousarray(image)).save(
            os.path.join(out, CLASSES[label], f"{i:0{width}d}.png"))


def main(argv):
    p = argparse.ArgumentParser(prog="cifar10_to_folder.py", description=__doc__.splitlines()[0])
    p.add_argument("--cifar", required=True, help="the folder of data_batch_1.bin ... 5")
    p.add_argument("--out", required=True, help="the image folder to write (must not exist)")
    p.add_argument("--test", action="store_true", help="also write test_batch.bin as OUT/test")
    args = p.parse_args(argv)
    if os.path.exists(args.out):
        raise SystemExit(f"cifar10_to_folder: '{args.out}' exists; choose a new folder")
    train = [os.path.join(args.cifar, f"data_batch_{k}.bin") for k in range(1, 6)]
    for path in train + ([os.path.join(args.cifar, "test_batch.bin")] if args.test else []):
        if not os.path.isfile(path):
            raise SystemExit(f"cifar10_to_folder: no '{path}'")
    images, labels = read_batches(train)
    write_split(os.path.join(args.out, "train"), images, labels)
    if args.test:
        test_images, test_labels = read_batches([os.path.join(args.cifar, "test_batch.bin")])
        write_split(os.path.join(args.out, "test"), test_images, test_labels)
    print(f"cifar10_to_folder: wrote {len(labels)} training images"
          f"{' and the test set' if args.test else ''} to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
