"""ctest: scripts/authors_partition.py draws the pFedHN authors' partitions.

The expected assignments were produced by the authors' own gen_classes_per_node (their
experiments/dataset.py) after np.random.seed(seed), on a dataset with 10 classes, 2 per client:
  paper-era code (commit df7da18):  for seed, n: np.random.seed(seed); random.seed(seed);
      gen_classes_per_node(ds, n, 2)   -> classes and 'prob' of the first clients below
  later code (commit 47c957d, the `+ 1`): the same call, for the --spare cases.
(A checkout of AvivSham/pFedHN at each commit, run once by hand on 2026-12-06; every client's
classes and proportions of seeds 42, 27, 13 at 10, 50 and 100 clients were identical.)
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(ROOT, "scripts", "authors_partition.py")
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import authors_partition  # noqa: E402

# (seed, clients) -> (first four clients' classes, last client's classes, client 0's first
# proportion), from the authors' paper-era code.
EXACT = {
    (42, 10): ([[9, 2], [4, 8], [5, 0], [6, 1]], [8, 3], 0.48510367459341913),
    (42, 50): ([[6, 0], [4, 7], [5, 9], [3, 8]], [6, 1], 0.12105546170060479),
    (42, 100): ([[7, 3], [2, 0], [6, 8], [4, 9]], [8, 3], 0.05546739990724657),
    (27, 10): ([[2, 8], [4, 0], [9, 3], [6, 1]], [7, 4], 0.555574671974415),
    (27, 50): ([[3, 6], [4, 7], [5, 1], [0, 2]], [6, 0], 0.08396684768411893),
    (27, 100): ([[2, 9], [1, 3], [8, 0], [4, 5]], [0, 3], 0.042529159793458504),
    (13, 10): ([[6, 2], [5, 8], [4, 0], [9, 7]], [2, 4], 0.5812263778937261),
    (13, 50): ([[2, 9], [7, 8], [6, 3], [1, 5]], [0, 9], 0.11092763735240618),
    (13, 100): ([[9, 5], [8, 6], [4, 0], [7, 3]], [3, 7], 0.043887550510978604),
}
# Their later code (the spare share), 10 clients.
SPARE = {
    42: ([[2, 7], [5, 0], [3, 8], [1, 6]], 0.34564591018390206),
    27: ([[1, 2], [9, 0], [7, 3], [4, 6]], 0.3619869190969286),
    13: ([[6, 3], [4, 9], [5, 0], [8, 7]], 0.4030556750794423),
}


def run(*args):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True)


class AuthorsPartitionTest(unittest.TestCase):
    def test_matches_the_authors_paper_era_draws(self):
        for (seed, n), (first, last, p0) in EXACT.items():
            classes, proportions = authors_partition.authors_assignment(seed, n)
            self.assertEqual(classes[:4], first, (seed, n))
            self.assertEqual(classes[-1], last, (seed, n))
            self.assertEqual(proportions[0][0], p0, (seed, n))  # the very same double
            self.assertEqual(len(classes), n)

    def test_spare_matches_their_later_code(self):
        for seed, (first, p0) in SPARE.items():
            classes, proportions = authors_partition.authors_assignment(seed, 10, spare=True)
            self.assertEqual(classes[:4], first, seed)
            self.assertEqual(proportions[0][0], p0, seed)

    def test_every_class_is_handed_out_whole(self):
        classes, proportions = authors_partition.authors_assignment(42, 50)
        sums = [0.0] * 10
        for cs, ps in zip(classes, proportions):
            for c, p in zip(cs, ps):
                sums[c] += p
        for c, s in enumerate(sums):
            self.assertAlmostEqual(s, 1.0, places=12, msg=f"class {c}")

    def test_writes_a_pfedhn_partition_file(self):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "p.json")
            r = run("--seed", "27", "--clients", "10", "-o", out)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(out) as f:
                j = json.load(f)
            self.assertEqual(j["class_shares"], "exact")
            self.assertEqual(len(j["clients"]), 10)
            self.assertEqual([c["classes"] for c in j["clients"][:4]], EXACT[(27, 10)][0])
            self.assertEqual(j["clients"][0]["proportions"][0], EXACT[(27, 10)][2])

    def test_bad_arguments_are_one_line_errors_with_exit_2(self):
        for args, expected in ((["--seed", "-1", "--clients", "10", "-o", "-"], "--seed -1"),
                               (["--seed", "1", "--clients", "0", "-o", "-"], "--clients 0"),
                               (["--seed", "1", "--clients", "5", "--per-client", "11", "-o", "-"],
                                "--per-client 11"),
                               (["--seed", "1", "--clients", "5", "-o", "/nonexistent/dir/p.json"],
                                "cannot write")):
            r = run(*args)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn(expected, r.stderr)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)


if __name__ == "__main__":
    unittest.main()
