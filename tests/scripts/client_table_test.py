"""ctest: scripts/client_table.py on hand-written results.json files."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "client_table.py")


def make_run(root, name, classes, accs, dataset="cifar10"):
    run = os.path.join(root, name)
    os.makedirs(run)
    best = {"round": 30, "test": {"client_accuracy": accs}}
    with open(os.path.join(run, "results.json"), "w") as f:
        json.dump({"dataset": dataset, "best": best, "final": best, "client_classes": classes}, f)
    return run


def table(*args):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True)


class ClientTableTest(unittest.TestCase):
    def test_one_row_per_client_with_class_names_and_one_column_per_run(self):
        with tempfile.TemporaryDirectory() as d:
            a = make_run(d, "a", [[3, 5], [0, 9]], [0.69, 0.95])
            b = make_run(d, "b", [[3, 5], [0, 9]], [0.71, None])
            r = table(a, b, "--labels", "pFedHN", "PC")
            self.assertEqual(r.returncode, 0, r.stderr)
            lines = r.stdout.strip().splitlines()
            self.assertEqual(lines[0], "| client | classes | pFedHN test acc. (%) | PC test acc. (%) |")
            self.assertEqual(lines[2], "| 0 | cat/dog | 69.0 | 71.0 |")
            self.assertEqual(lines[3], "| 1 | airplane/truck | 95.0 | – |")

    def test_by_pair_averages_the_clients_of_a_class_set_and_sorts(self):
        with tempfile.TemporaryDirectory() as d:
            a = make_run(d, "a", [[2, 4], [0, 9], [2, 4]], [0.80, 0.96, 0.84])
            r = table(a, "--by-pair", "--sort", "accuracy")
            self.assertEqual(r.returncode, 0, r.stderr)
            lines = r.stdout.strip().splitlines()
            self.assertEqual(lines[2], "| bird/deer | 2 | 82.0 |")
            self.assertEqual(lines[3], "| airplane/truck | 1 | 96.0 |")

    def test_different_partitions_and_old_runs_are_one_line_errors(self):
        with tempfile.TemporaryDirectory() as d:
            a = make_run(d, "a", [[3, 5]], [0.7])
            b = make_run(d, "b", [[3, 6]], [0.7])
            r = table(a, b)
            self.assertEqual(r.returncode, 2)
            self.assertIn("client 0 holds classes [3, 6]", r.stderr)
            old = os.path.join(d, "old")
            os.makedirs(old)
            with open(os.path.join(old, "results.json"), "w") as f:
                json.dump({"best": {"test": {"client_accuracy": [0.5]}}}, f)
            r = table(old)
            self.assertEqual(r.returncode, 2)
            self.assertIn("has no client_classes", r.stderr)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1)


if __name__ == "__main__":
    unittest.main()
