"""ctest: scripts/plot_k_curve.py on hand-written run directories (no training needed)."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "plot_k_curve.py")
HEADER = ("round,client_updates,val_acc,val_loss,val_min_acc,val_max_acc,val_std_acc,"
          "test_acc,test_loss,test_min_acc,test_max_acc,test_std_acc,train_loss")


def make_run(root, name, algorithm, k, rounds, accs, wall_s, dataset="cifar10", clients=50,
             lr=0.01):
    """A finished run of `rounds` rounds of K clients, evaluated evenly; best val = best test."""
    run = os.path.join(root, name)
    os.makedirs(run)
    with open(os.path.join(run, "config.yaml"), "w") as f:
        f.write(f"algorithm: {algorithm}\ndataset:\n  data: {dataset}\n"
                f"client:\n  num_rounds: {rounds}\n  clients_per_round: {k}\n"
                f"  num_nodes: {clients}\nserver:\n  lr: {lr}\n")
    step = rounds // len(accs)
    evaluated = [(i + 1) * step - 1 for i in range(len(accs))]
    with open(os.path.join(run, "metrics.csv"), "w") as f:
        f.write(HEADER + "\n")
        for r, a in zip(evaluated, accs):
            f.write(f"{r},{(r + 1) * k},{a},0.5,0.1,0.9,0.1,{a},0.4,0.1,0.9,0.1,nan\n")
    best = max(range(len(accs)), key=lambda i: accs[i])
    with open(os.path.join(run, "results.json"), "w") as f:
        json.dump({"algorithm": algorithm, "test_accuracy_at_best_val": accs[best],
                   "best_round": evaluated[best], "final": {"test": {"accuracy": accs[-1]}}}, f)
    with open(os.path.join(run, "run_info.json"), "w") as f:
        json.dump({"wall_seconds": wall_s}, f)
    return run


def plot(*args):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True)


class PlotKCurveTest(unittest.TestCase):
    def test_table_and_figure_for_three_k_and_two_algorithms(self):
        with tempfile.TemporaryDirectory() as tmp:
            runs = [make_run(tmp, "k1", "pfedhn", 1, 5000, [0.5, 0.8, 0.87, 0.86], 2400.0),
                    make_run(tmp, "k2", "pfedhn", 2, 2500, [0.6, 0.85, 0.885, 0.88], 1800.0),
                    make_run(tmp, "k5", "pfedhn", 5, 1000, [0.4, 0.7, 0.75, 0.8], 1200.0),
                    make_run(tmp, "pc1", "pfedhn_pc", 1, 5000, [0.5, 0.9], 2500.0)]
            out, md = os.path.join(tmp, "k.png"), os.path.join(tmp, "k.md")
            r = plot(*runs, "-o", out, "--table", md)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(out, "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
            with open(md) as f:
                text = f.read()
            self.assertEqual(text, r.stdout[:len(text)])
            rows = [line for line in text.splitlines() if line.startswith("| pfedhn")]
            # sorted by algorithm, then K; best at the third of four evaluations of 2500 rounds
            self.assertEqual(len(rows), 4)
            self.assertEqual(rows[1], "| pfedhn | 2 | 2500 | 5000 | 0.01 | 88.50 (1874) | 88.00 | "
                                      "30.0 min | 2.78 |")
            self.assertTrue(rows[2].startswith("| pfedhn | 5 | 1000 | 5000 | 0.01 | 80.00 (999) |"))
            self.assertTrue(
                rows[3].startswith("| pfedhn_pc | 1 | 5000 | 5000 | 0.01 | 90.00 (4999) |"))

    def test_runs_of_one_k_with_other_server_lrs_are_rows_of_their_own(self):
        with tempfile.TemporaryDirectory() as tmp:
            runs = [make_run(tmp, "k5x", "pfedhn", 5, 1000, [0.6, 0.89], 900.0, lr=0.05),
                    make_run(tmp, "k5", "pfedhn", 5, 1000, [0.5, 0.8], 1000.0, lr=0.01)]
            r = plot(*runs, "-o", os.path.join(tmp, "k.png"))
            self.assertEqual(r.returncode, 0, r.stderr)
            rows = [line for line in r.stdout.splitlines() if line.startswith("| pfedhn")]
            self.assertEqual([row.split(" | ")[4:6] for row in rows],
                             [["0.01", "80.00 (999)"], ["0.05", "89.00 (999)"]])

    def test_missing_run_info_is_one_line_and_exit_2(self):
        with tempfile.TemporaryDirectory() as tmp:
            run = make_run(tmp, "k1", "pfedhn", 1, 100, [0.5, 0.6], 10.0)
            os.remove(os.path.join(run, "run_info.json"))
            out = os.path.join(tmp, "k.png")
            r = plot(run, "-o", out)
            self.assertEqual(r.returncode, 2)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
            self.assertIn("run_info.json is missing", r.stderr)
            self.assertFalse(os.path.exists(out))

    def test_runs_of_different_client_counts_are_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            a = make_run(tmp, "a", "pfedhn", 1, 100, [0.5], 10.0, clients=50)
            b = make_run(tmp, "b", "pfedhn", 2, 50, [0.5], 10.0, clients=100)
            r = plot(a, b, "-o", os.path.join(tmp, "k.png"))
            self.assertEqual(r.returncode, 2)
            self.assertIn("mix datasets or client counts", r.stderr)


if __name__ == "__main__":
    unittest.main()
