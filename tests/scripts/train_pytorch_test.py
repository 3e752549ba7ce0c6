"""ctest: scripts/train_pytorch.py and scripts/compare_curves.py on tiny CIFAR-10 fixture files."""
import csv
import json
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "..", "..", "scripts")
sys.path.insert(0, SCRIPTS)
import train_pytorch  # noqa: E402

PER_BATCH = 40  # 5 batches: 200 images, 20 of each class


def write_batches(root, corrupt=False):
    folder = os.path.join(root, "cifar-10-batches-bin")
    os.makedirs(folder)
    rng = np.random.default_rng(0)
    for k in range(1, 6):
        labels = (np.arange(PER_BATCH) + k) % 10
        images = rng.integers(0, 256, size=(PER_BATCH, 3 * 32 * 32), dtype=np.uint8)
        # A recognisable first pixel: the red channel of image j of batch k is 10 k + j % 10.
        images[:, 0] = 10 * k + np.arange(PER_BATCH) % 10
        rows = np.concatenate([labels[:, None].astype(np.uint8), images], axis=1)
        data = rows.tobytes()
        if corrupt and k == 3:
            data = data[:-5]
        with open(os.path.join(folder, f"data_batch_{k}.bin"), "wb") as f:
            f.write(data)
    return folder


def train(root, out, *overrides, rounds="3", every="2"):
    cmd = [sys.executable, os.path.join(SCRIPTS, "train_pytorch.py"), "--data-root", root,
           "--out", out, "--rounds", rounds, "--eval-every", every, "client.num_nodes=2",
           "client.num_epochs=2", "client.batch_size=8", "dataset.val_size=40",
           "dataset.test_size=40", "num_threads=1", "seed=3", *overrides]
    return subprocess.run(cmd, capture_output=True, text=True)


class ReadBatchesTest(unittest.TestCase):
    def test_reads_labels_and_turns_chw_bytes_into_hwc_images(self):
        with tempfile.TemporaryDirectory() as root:
            write_batches(root)
            images, labels = train_pytorch.read_cifar10_batches(root)
            self.assertEqual(images.shape, (200, 32, 32, 3))
            self.assertEqual(labels[0], 1)           # batch 1, image 0: (0 + 1) % 10
            self.assertEqual(labels[PER_BATCH], 2)   # batch 2, image 0
            self.assertEqual(images[PER_BATCH + 3, 0, 0, 0], 23)  # red channel, pixel (0, 0)

    def test_holdout_splits_are_disjoint_and_seeded(self):
        with tempfile.TemporaryDirectory() as root:
            write_batches(root)
            images, labels = train_pytorch.read_cifar10_batches(root)
            cfg = {"dataset.val_size": 30, "dataset.test_size": 50, "seed": 4}
            tr, va, te = train_pytorch.holdout_splits(cfg, images, labels)
            self.assertEqual((len(tr), len(va), len(te)), (120, 30, 50))
            idx = [set(s.indices) for s in (tr, va, te)]
            self.assertEqual(len(idx[0] | idx[1] | idx[2]), 200)
            again = train_pytorch.holdout_splits(cfg, images, labels)
            self.assertEqual(list(again[2].indices), list(te.indices))
            cfg["seed"] = 5
            other = train_pytorch.holdout_splits(cfg, images, labels)
            self.assertNotEqual(list(other[2].indices), list(te.indices))


class TrainTest(unittest.TestCase):
    def test_a_short_run_writes_the_evaluations_and_the_best_validation_result(self):
        with tempfile.TemporaryDirectory() as tmp:
            write_batches(tmp)
            out = os.path.join(tmp, "out")
            r = train(tmp, out, rounds="5", every="2")
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(os.path.join(out, "metrics.csv")) as f:
                rows = list(csv.DictReader(f))
            self.assertEqual([int(x["round"]) for x in rows], [0, 2, 4])
            with open(os.path.join(out, "results.json")) as f:
                res = json.load(f)
            self.assertEqual(res["train_size"], 120)
            self.assertEqual(res["test_split"], "holdout")
            best = max(rows, key=lambda x: float(x["val_acc"]))  # first of equal ones
            self.assertEqual(res["best"]["round"], int(best["round"]))
            self.assertAlmostEqual(res["best"]["test_acc"], float(best["test_acc"]))
            self.assertAlmostEqual(res["final"]["test_acc"], float(rows[-1]["test_acc"]))
            for x in rows:
                self.assertTrue(0.0 <= float(x["test_acc"]) <= 1.0)

    def test_a_truncated_batch_file_is_one_line_and_exit_2(self):
        with tempfile.TemporaryDirectory() as tmp:
            write_batches(tmp, corrupt=True)
            r = train(tmp, os.path.join(tmp, "out"))
            self.assertEqual(r.returncode, 2)
            self.assertIn("data_batch_3.bin", r.stderr)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)

    def test_splits_that_leave_no_training_samples_are_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            write_batches(tmp)
            r = train(tmp, os.path.join(tmp, "out"), "dataset.test_size=160")
            self.assertEqual(r.returncode, 2)
            self.assertIn("dataset.test_size=160", r.stderr)


def write_metrics(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["round", "client_updates", "val_acc", "test_acc"])
        for rnd, val, test in rows:
            w.writerow([rnd, rnd + 1, val, test])


class CompareCurvesTest(unittest.TestCase):
    def run_compare(self, *args):
        return subprocess.run([sys.executable, os.path.join(SCRIPTS, "compare_curves.py"), *args],
                              capture_output=True, text=True)

    def test_common_rounds_and_test_accuracy_at_the_best_validation_so_far(self):
        with tempfile.TemporaryDirectory() as tmp:
            a, b = os.path.join(tmp, "a.csv"), os.path.join(tmp, "b.csv")
            write_metrics(a, [(0, 0.1, 0.2), (30, 0.6, 0.5), (60, 0.4, 0.9)])
            write_metrics(b, [(0, 0.1, 0.1), (25, 0.3, 0.3), (60, 0.7, 0.6)])
            out = os.path.join(tmp, "table.csv")
            r = self.run_compare(a, b, "--csv", out)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(out) as f:
                rows = list(csv.reader(f))[1:]
            self.assertEqual([int(x[0]) for x in rows], [0, 60])
            # A at round 60: val fell to 0.4, so the best validation is still round 30's
            self.assertAlmostEqual(float(rows[1][2]), 0.5)
            self.assertAlmostEqual(float(rows[1][4]), 0.6)
            self.assertIn("+10.00", r.stdout)

    def test_runs_without_a_common_round_are_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            a, b = os.path.join(tmp, "a.csv"), os.path.join(tmp, "b.csv")
            write_metrics(a, [(0, 0.1, 0.2)])
            write_metrics(b, [(5, 0.1, 0.1)])
            r = self.run_compare(a, b)
            self.assertEqual(r.returncode, 2)
            self.assertIn("no evaluation round in common", r.stderr)


if __name__ == "__main__":
    unittest.main()
