"""ctest: scripts/paper_tables.py on hand-written results.json files (no training needed)."""
import csv
import json
import os
import subprocess
import sys
import tempfile
import unittest

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "paper_tables.py")


def write_result(out, dataset, clients, method, seed, acc, split=None):
    run = os.path.join(out, "runs", dataset, f"n{clients}", method, f"seed{seed}")
    os.makedirs(run)
    result = {"test_accuracy_at_best_val": acc}
    if split is not None:
        result["data_split"] = split
    with open(os.path.join(run, "results.json"), "w") as f:
        json.dump(result, f)


def tables(out, *args):
    return subprocess.run([sys.executable, SCRIPT, out, *args], capture_output=True, text=True)


class PaperTablesTest(unittest.TestCase):
    def test_mean_and_std_over_seeds_beside_the_papers_number(self):
        with tempfile.TemporaryDirectory() as out:
            write_result(out, "cifar10", 50, "pfedhn", 1, 0.88)
            write_result(out, "cifar10", 50, "pfedhn", 2, 0.90)
            write_result(out, "cifar10", 50, "fedavg", 1, 0.5)
            r = tables(out, "--datasets", "cifar10", "cifar100", "--clients", "50",
                       "--methods", "pfedhn", "fedavg", "local", "--no-data", "cifar100",
                       "--note", "quick settings")
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(os.path.join(out, "paper_tables.md")) as f:
                md = f.read()
            self.assertIn("quick settings", md)
            # mean 89, sample std sqrt(2) = 1.41, beside the paper's 88.38 +- 0.29
            self.assertIn("| pFedHN | 89.00 ± 1.41 (n=2) | 88.38 ± 0.29 |", md)
            self.assertIn("| FedAvg | 50.00 ± 0.00 (n=1) | – |", md)
            self.assertIn("| Local | not run | – |", md)
            self.assertIn("## CIFAR-100", md)
            self.assertIn("| pFedHN | no data | 59.48 ± 0.67 |", md)
            with open(os.path.join(out, "paper_tables.csv")) as f:
                rows = {(r["dataset"], r["method"]): r for r in csv.DictReader(f)}
            self.assertEqual(len(rows), 6)
            self.assertEqual(rows[("cifar10", "pfedhn")]["mean"], "89.0000")
            self.assertEqual(rows[("cifar10", "pfedhn")]["seeds"], "2")
            self.assertEqual(rows[("cifar10", "local")]["status"], "not run")
            self.assertEqual(rows[("cifar100", "pfedhn")]["status"], "no data")

    def test_holdout_cells_are_labelled_with_their_split(self):
        holdout = {"test_split": "holdout", "train": 40000, "val": 5000, "test": 5000}
        official = {"test_split": "official", "train": 40000, "val": 10000, "test": 10000}
        with tempfile.TemporaryDirectory() as out:
            write_result(out, "cifar10", 50, "pfedhn", 1, 0.88, holdout)
            write_result(out, "cifar10", 50, "pfedhn", 2, 0.90, holdout)
            write_result(out, "cifar10", 50, "pfedhn_pc", 1, 0.91, official)
            write_result(out, "cifar10", 50, "local", 1, 0.80, holdout)
            write_result(out, "cifar10", 50, "local", 2, 0.82, official)
            r = tables(out, "--datasets", "cifar10", "--clients", "50",
                       "--methods", "pfedhn", "pfedhn_pc", "local")
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(os.path.join(out, "paper_tables.md")) as f:
                md = f.read()
            self.assertIn("| pFedHN | 89.00 ± 1.41 (n=2, holdout) | 88.38 ± 0.29 |", md)
            self.assertIn("| pFedHN-PC | 91.00 ± 0.00 (n=1) | 90.08 ± 0.63 |", md)
            self.assertIn("(n=2, mixed)", md)
            self.assertIn("train 40000 / val 5000 / test 5000", md)
            with open(os.path.join(out, "paper_tables.csv")) as f:
                rows = {r["method"]: r for r in csv.DictReader(f)}
            self.assertEqual(rows["pfedhn"]["test_split"], "holdout")
            self.assertEqual(rows["pfedhn_pc"]["test_split"], "official")
            self.assertEqual(rows["local"]["test_split"], "mixed")


if __name__ == "__main__":
    unittest.main()
