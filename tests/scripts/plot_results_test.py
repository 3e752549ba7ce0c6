"""ctest: scripts/plot_results.py on hand-written run directories (no training needed)."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "plot_results.py")
HEADER = ("round,client_updates,val_acc,val_loss,val_min_acc,val_max_acc,val_std_acc,"
          "test_acc,test_loss,test_min_acc,test_max_acc,test_std_acc,train_loss")


def make_run(root, name, algorithm, accs):
    run = os.path.join(root, name)
    os.makedirs(run)
    with open(os.path.join(run, "metrics.csv"), "w") as f:
        f.write(HEADER + "\n")
        for i, a in enumerate(accs):
            f.write(f"{i * 10},{i * 10 + 1},{a},0.5,0.1,0.9,0.1,{a},{1 - a + 0.01},0.1,0.9,0.1,nan\n")
    best = {"round": 10, "val": {"client_accuracy": [0.5, 0.9, None]},
            "test": {"client_accuracy": [0.6, 0.8, None]}}
    with open(os.path.join(run, "results.json"), "w") as f:
        json.dump({"algorithm": algorithm, "dataset": "mnist", "num_clients": 3,
                   "best_round": 10, "best": best, "final": best}, f)
    return run


def plot(*args):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True)


class PlotResultsTest(unittest.TestCase):
    def test_writes_both_figures_for_several_runs(self):
        with tempfile.TemporaryDirectory() as tmp:
            a = make_run(tmp, "a", "pfedhn", [0.1, 0.5, 0.7])
            b = make_run(tmp, "b", "fedavg", [0.1, 0.3, 0.4])
            out = os.path.join(tmp, "figs")
            r = plot(a, b, "-o", out, "--x", "client_updates")
            self.assertEqual(r.returncode, 0, r.stderr)
            for name in ("curves.png", "clients.png"):
                with open(os.path.join(out, name), "rb") as f:
                    self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n", name)

    def test_missing_results_is_one_line_and_exit_2(self):
        with tempfile.TemporaryDirectory() as tmp:
            run = make_run(tmp, "a", "pfedhn", [0.1, 0.5])
            os.remove(os.path.join(run, "results.json"))
            r = plot(run, "-o", tmp)
            self.assertEqual(r.returncode, 2)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
            self.assertIn("results.json is missing", r.stderr)
            self.assertFalse(os.path.exists(os.path.join(tmp, "curves.png")))

    def test_missing_metrics_is_one_line_and_exit_2(self):
        with tempfile.TemporaryDirectory() as tmp:
            r = plot(os.path.join(tmp, "nothing"), "-o", tmp)
            self.assertEqual(r.returncode, 2)
            self.assertIn("metrics.csv is missing", r.stderr)


if __name__ == "__main__":
    unittest.main()
