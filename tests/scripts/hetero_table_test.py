"""ctest: scripts/hetero_table.py on hand-written run directories (no training needed)."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "hetero_table.py")
SAMPLES = [100, 50, 80, 40, 20, 10]  # test samples of clients 0..5


def make_run(root, name, accs, widths=(), n_kernels=16, seed=1, clients=6, per_width=None):
    """A finished run whose best evaluation (round 9) has the given per-client test accuracies."""
    run = os.path.join(root, name)
    os.makedirs(run)
    hetero = "[" + ", ".join(str(w) for w in widths) + "]"
    with open(os.path.join(run, "config.yaml"), "w") as f:
        f.write(f"algorithm: pfedhn\nseed: {seed}\ndataset:\n  data: cifar10\n"
                f"  test_split: holdout\nmodel:\n  n_kernels: {n_kernels}\n"
                f"  hetero_kernels: {hetero}\nclient:\n  num_nodes: {clients}\n")
    evaluation = {"round": 9, "test": {"client_accuracy": accs}}
    results = {"best": evaluation, "final": {"round": 10, "test": {"client_accuracy": accs}},
               "client_samples": {"test": SAMPLES[:clients]}}
    if per_width is not None:
        results["per_width"] = {"best": per_width}
    with open(os.path.join(run, "results.json"), "w") as f:
        json.dump(results, f)
    return run


def run_script(*args):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True)


class HeteroTableTest(unittest.TestCase):
    def test_pooled_accuracy_per_width_subset_for_every_run(self):
        with tempfile.TemporaryDirectory() as tmp:
            # widths [8, 32]: clients 0, 2, 4 have width 8 (200 test samples), 1, 3, 5 width 32.
            het = make_run(tmp, "het", [0.5, 1.0, 0.25, 0.5, 1.0, 0.0], widths=(8, 32),
                           per_width=[{"n_kernels": 8, "test_correct": 90, "test_total": 200},
                                      {"n_kernels": 32, "test_correct": 70, "test_total": 100}])
            k32 = make_run(tmp, "k32", [1.0] * 6, n_kernels=32)
            k8 = make_run(tmp, "k8", [0.0, 0.0, 0.5, 0.5, 0.0, 1.0], n_kernels=8)
            png, md = os.path.join(tmp, "h.png"), os.path.join(tmp, "h.md")
            r = run_script(het, k32, k8, "-o", png, "--table", md)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(png, "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
            with open(md) as f:
                text = f.read()
            self.assertEqual(text, r.stdout[:len(text)])
            lines = text.splitlines()
            # homogeneous runs sorted by width
            self.assertEqual(lines[0], "| clients (width in the heterogeneous run) | "
                             "heterogeneous [8, 32] | homogeneous width 8 | "
                             "homogeneous width 32 |")
            # width 8: (50 + 20 + 20) / 200 = 45%; k8: 40 / 200 = 20%
            self.assertEqual(lines[2], "| 3 clients i with i mod 2 = 0 (width 8) | 45.00 | "
                                       "20.00 | 100.00 |")
            # width 32: (50 + 20 + 0) / 100 = 70%; k8: (20 + 10) / 100 = 30%
            self.assertEqual(lines[3], "| 3 clients i with i mod 2 = 1 (width 32) | 70.00 | "
                                       "30.00 | 100.00 |")
            self.assertEqual(lines[4], "| all 6 clients | 53.33 | 23.33 | 100.00 |")

    def test_final_evaluation_is_named(self):
        with tempfile.TemporaryDirectory() as tmp:
            het = make_run(tmp, "het", [0.5] * 6, widths=(8, 16))
            k8 = make_run(tmp, "k8", [0.5] * 6, n_kernels=8)
            r = run_script(het, k8, "-o", os.path.join(tmp, "h.png"), "--at", "final")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("at the last evaluation of each run (heterogeneous [8, 16]: round 10",
                          r.stdout)

    def test_runs_with_other_clients_are_refused_in_one_line(self):
        with tempfile.TemporaryDirectory() as tmp:
            het = make_run(tmp, "het", [0.5] * 6, widths=(8, 16))
            other_seed = make_run(tmp, "s2", [0.5] * 6, n_kernels=8, seed=2)
            png = os.path.join(tmp, "h.png")
            r = run_script(het, other_seed, "-o", png)
            self.assertEqual(r.returncode, 2)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
            self.assertIn("does not share its clients", r.stderr)
            self.assertIn("seed 2 vs 1", r.stderr)
            self.assertFalse(os.path.exists(png))

    def test_a_homogeneous_first_run_is_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            k8 = make_run(tmp, "k8", [0.5] * 6, n_kernels=8)
            k16 = make_run(tmp, "k16", [0.5] * 6)
            r = run_script(k8, k16, "-o", os.path.join(tmp, "h.png"))
            self.assertEqual(r.returncode, 2)
            self.assertIn("is not a heterogeneous run", r.stderr)

    def test_per_width_counts_that_disagree_with_the_clients_are_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            het = make_run(tmp, "het", [0.5] * 6, widths=(8, 16),
                           per_width=[{"n_kernels": 8, "test_correct": 1, "test_total": 200}])
            k8 = make_run(tmp, "k8", [0.5] * 6, n_kernels=8)
            r = run_script(het, k8, "-o", os.path.join(tmp, "h.png"))
            self.assertEqual(r.returncode, 2)
            self.assertIn("per_width says (1, 200) for width 8", r.stderr)

    def test_missing_results_is_one_line_and_exit_2(self):
        with tempfile.TemporaryDirectory() as tmp:
            het = make_run(tmp, "het", [0.5] * 6, widths=(8, 16))
            k8 = make_run(tmp, "k8", [0.5] * 6, n_kernels=8)
            os.remove(os.path.join(k8, "results.json"))
            r = run_script(het, k8, "-o", os.path.join(tmp, "h.png"))
            self.assertEqual(r.returncode, 2)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
            self.assertIn("results.json is missing", r.stderr)


if __name__ == "__main__":
    unittest.main()
