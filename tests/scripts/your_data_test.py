"""ctest: your data and your network end to end, with fixtures that PyTorch and Pillow write
as a user's would (tests/app/your_data_cli_test.cpp covers the bad input):

- CIFAR-10's bytes written as a tensors file in the official order give a run bit-identical to
  the built-in CIFAR-10 loader (same seed, a few rounds);
- the paper's CIFAR LeNet written in Python and scripted follows the built-in LeNet's accuracy
  and loss curve within float tolerance;
- an image folder of PNGs trains pFedHN-PC on the scripted LeNet (fc3 local), resumes
  bit-identically, exports, and scripts/load_export.py scores every exported client as pfedhn
  did; a module with BatchNorm is refused with one line.

The pfedhn binary is $PFEDHN_BINARY (set by CMake).
"""
import csv
import io
import json
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.join(HERE, "..", "..")
BINARY = os.environ.get("PFEDHN_BINARY", os.path.join(REPO, "build", "pfedhn"))
LOAD_EXPORT = os.path.join(REPO, "scripts", "load_export.py")
CIFAR_MEAN = "dataset.mean=[0.4914,0.4822,0.4465]"
CIFAR_STD = "dataset.std=[0.2023,0.1994,0.2010]"
TINY = ["model.n_kernels=4", "model.n_hidden=1", "server.hidden_dim=16", "client.num_nodes=4",
        "client.num_epochs=5", "client.batch_size=16", "num_threads=1", "seed=3"]
HOLDOUT = ["dataset.test_split=holdout", "dataset.val_size=400", "dataset.test_size=400"]


class LeNet(nn.Module):
    """The paper's CIFAR target network, as a PyTorch user writes it."""

    def __init__(self, k=4, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, k, 5)
        self.conv2 = nn.Conv2d(k, 2 * k, 5)
        self.fc1 = nn.Linear(2 * k * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.flatten(1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class WithBatchNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 30 * 30, 4)

    def forward(self, x):
        return self.fc(F.relu(self.bn(self.conv(x))).flatten(1))


def learnable_images(n, classes, rng):
    """uint8 [n, 3, 32, 32] images whose class is a fixed pattern plus noise, and labels."""
    templates = rng.integers(0, 256, size=(classes, 3, 32, 32)).astype(np.int16)
    labels = rng.integers(0, classes, size=n)
    out = np.empty((n, 3, 32, 32), np.uint8)
    for start in range(0, n, 10000):
        part = labels[start:start + 10000]
        noise = rng.integers(-70, 71, size=(len(part), 3, 32, 32), dtype=np.int16)
        out[start:start + len(part)] = np.clip(templates[part] + noise, 0, 255)
    return out, labels.astype(np.int64)


def pfedhn(*args):
    return subprocess.run([BINARY, *args], capture_output=True, text=True)


def metrics(run):
    with open(os.path.join(run, "metrics.csv")) as f:
        return list(csv.DictReader(f))


class YourDataTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = cls.tmp.name
        rng = np.random.default_rng(0)
        images, labels = learnable_images(50000, 10, rng)
        # CIFAR-10's binary batches (label byte, then the 3072 pixels) and the same bytes as a
        # tensors file, in the same (official) order.
        cifar = os.path.join(cls.dir, "data", "cifar-10-batches-bin")
        os.makedirs(cifar)
        records = np.concatenate([labels[:, None].astype(np.uint8), images.reshape(50000, -1)], 1)
        for k in range(5):
            records[k * 10000:(k + 1) * 10000].tofile(
                os.path.join(cifar, f"data_batch_{k + 1}.bin"))
        cls.tensors = os.path.join(cls.dir, "cifar10.pt")
        torch.save({"train_x": torch.from_numpy(images), "train_y": torch.from_numpy(labels)},
                   cls.tensors)
        torch.manual_seed(0)
        cls.lenet = os.path.join(cls.dir, "lenet.pt")
        torch.jit.script(LeNet()).save(cls.lenet)
        cls.lenet4 = os.path.join(cls.dir, "lenet4.pt")
        torch.jit.script(LeNet(classes=4)).save(cls.lenet4)
        # An image folder of PNGs: 4 classes, 60 training and 15 test images each.
        cls.folder = os.path.join(cls.dir, "images")
        pngs, png_labels = learnable_images(300, 4, np.random.default_rng(1))
        for i, (image, label) in enumerate(zip(pngs, png_labels)):
            split = "test" if i % 5 == 0 else "train"
            path = os.path.join(cls.folder, split, f"class_{label}", f"{i:04d}.png")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            Image.fromarray(image.transpose(1, 2, 0)).save(path)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def train(self, name, *overrides):
        run = os.path.join(self.dir, name)
        r = pfedhn("train", *TINY, *overrides, "--output-dir", run)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return run

    def test_cifar_bytes_as_a_tensors_file_give_the_built_in_loaders_run_bit_for_bit(self):
        common = [*HOLDOUT, "client.num_rounds=6", "eval_every=3"]
        builtin = self.train("builtin", "dataset.data=cifar10",
                             f"dataset.root={os.path.join(self.dir, 'data')}", *common)
        tensors = self.train("tensors", "dataset.data=tensors", f"dataset.file={self.tensors}",
                             CIFAR_MEAN, CIFAR_STD, *common)
        with open(os.path.join(builtin, "metrics.csv")) as a, \
                open(os.path.join(tensors, "metrics.csv")) as b:
            self.assertEqual(a.read(), b.read())
        results = []
        for run in (builtin, tensors):
            with open(os.path.join(run, "results.json")) as f:
                j = json.load(f)
            self.assertEqual(j.pop("dataset"), "cifar10" if run == builtin else "tensors")
            results.append(j)
        self.assertEqual(results[0], results[1])
        self.assertGreater(len(metrics(builtin)), 2)

    def test_the_scripted_python_lenet_follows_the_built_in_lenet(self):
        common = ["dataset.data=tensors", f"dataset.file={self.tensors}", CIFAR_MEAN, CIFAR_STD,
                  *HOLDOUT, "client.num_rounds=8", "eval_every=2"]
        builtin = metrics(self.train("lenet_builtin", *common))
        script = metrics(self.train("lenet_script", *common, "model.target=script",
                                    f"model.target_file={self.lenet}"))
        self.assertEqual(len(builtin), len(script))
        for a, b in zip(builtin, script):
            for key in ("val_acc", "test_acc"):  # 400 samples each: allow one flipped sample
                self.assertLessEqual(abs(float(a[key]) - float(b[key])), 1.5 / 400, (key, a, b))
            for key in ("val_loss", "test_loss", "train_loss"):
                self.assertAlmostEqual(float(a[key]), float(b[key]), delta=1e-3, msg=(key, a, b))

    def test_an_image_folder_trains_the_scripted_lenet_resumes_and_exports(self):
        common = ["dataset.data=folder", f"dataset.root={self.folder}", "dataset.val_size=40",
                  "algorithm=pfedhn_pc", "model.target=script", f"model.target_file={self.lenet4}",
                  "model.local_layer=fc3", "eval_every=4"]
        full = self.train("folder_full", *common, "client.num_rounds=12")
        # Stopped at an evaluated round (8): a shorter run evaluates its own last round too.
        part = self.train("folder_part", *common, "client.num_rounds=9")
        r = pfedhn("train", "--resume", part, "client.num_rounds=12")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for name in ("metrics.csv", "results.json"):
            with open(os.path.join(full, name)) as a, open(os.path.join(part, name)) as b:
                self.assertEqual(a.read(), b.read(), name)
        with open(os.path.join(full, "train.log")) as f:
            self.assertIn("4 classes: class_0, class_1, class_2, class_3", f.read())

        r = pfedhn("export", full)
        self.assertEqual(r.returncode, 0, r.stderr)
        check = subprocess.run([sys.executable, LOAD_EXPORT, os.path.join(full, "export")],
                               capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertIn("every client agrees", check.stdout)
        self.assertEqual(check.stdout.count("\n"), 4 + 2, check.stdout)  # header, 4, verdict

    def test_a_module_with_batchnorm_is_refused_in_one_line(self):
        path = os.path.join(self.dir, "bn.pt")
        torch.jit.script(WithBatchNorm()).save(path)
        out = os.path.join(self.dir, "bn_run")
        r = pfedhn("train", "dataset.data=folder", f"dataset.root={self.folder}",
                   "dataset.val_size=40", "model.target=script", f"model.target_file={path}",
                   *TINY, "--output-dir", out)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("has the buffer 'bn.running_mean'", r.stderr)
        self.assertEqual(r.stderr.strip().count("\n"), 0, r.stderr)
        self.assertFalse(os.path.exists(out))


if __name__ == "__main__":
    unittest.main()
