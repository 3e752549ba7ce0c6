"""ctest: `pfedhn export` and scripts/load_export.py on short runs over tiny MNIST fixture files.

The pfedhn binary is $PFEDHN_BINARY (set by CMake). Every exported client model, loaded by
Python's torch.jit.load, must score what pfedhn says it scores, for pFedHN-PC, FedAvg+FT (on the
held-out split), a heterogeneous-width run and pFedHN's hypernetwork module.
"""
import gzip
import json
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.join(HERE, "..", "..")
SCRIPT = os.path.join(REPO, "scripts", "load_export.py")
BINARY = os.environ.get("PFEDHN_BINARY", os.path.join(REPO, "build", "pfedhn"))
TRAIN, TEST = 60000, 10000  # pfedhn insists on the official sizes


def write_idx(folder, prefix, n, rng, templates):
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    noise = rng.integers(-60, 61, size=(n, 28, 28), dtype=np.int16)
    images = np.clip(templates[labels] + noise, 0, 255).astype(np.uint8)
    header = (2051).to_bytes(4, "big") + b"".join(v.to_bytes(4, "big") for v in (n, 28, 28))
    with open(os.path.join(folder, f"{prefix}-images-idx3-ubyte"), "wb") as f:
        f.write(header + images.tobytes())
    with gzip.open(os.path.join(folder, f"{prefix}-labels-idx1-ubyte.gz"), "wb") as f:
        f.write((2049).to_bytes(4, "big") + n.to_bytes(4, "big") + labels.tobytes())


def write_mnist(root):
    folder = os.path.join(root, "mnist")
    os.makedirs(folder)
    rng = np.random.default_rng(0)
    templates = rng.integers(0, 256, size=(10, 28, 28)).astype(np.int16)
    write_idx(folder, "train", TRAIN, rng, templates)
    write_idx(folder, "t10k", TEST, rng, templates)


def pfedhn(*args):
    return subprocess.run([BINARY, *args], capture_output=True, text=True)


def load_export(folder, root):
    return subprocess.run([sys.executable, SCRIPT, folder, "--data-root", root],
                          capture_output=True, text=True)


class ExportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.root = os.path.join(cls.tmp.name, "data")
        write_mnist(cls.root)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def train(self, name, *overrides):
        run = os.path.join(self.tmp.name, name)
        r = pfedhn("train", "--config", os.path.join(REPO, "conf", "mnist.yaml"),
                   f"dataset.root={self.root}", "dataset.val_size=100", "client.num_nodes=4",
                   "client.num_rounds=8", "client.num_epochs=5", "eval_every=4", "model.n_kernels=2",
                   "server.hidden_dim=16",
                   "num_threads=1", "seed=5", *overrides, "--output-dir", run)
        self.assertEqual(r.returncode, 0, r.stderr)
        return run

    def export_and_check(self, run, *args):
        out = os.path.join(run, "export")
        r = pfedhn("export", run, *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("exported", r.stdout)
        check = load_export(out, self.root)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        with open(os.path.join(out, "manifest.json")) as f:
            return out, json.load(f)

    def test_pfedhn_pc_clients_and_the_hypernetwork_load_in_python(self):
        run = self.train("pc", "algorithm=pfedhn_pc")
        out, m = self.export_and_check(run)
        self.assertEqual((m["dataset"], m["algorithm"], m["test_split"]),
                         ("mnist", "pfedhn_pc", "official"))
        self.assertEqual(m["input_shape"], [1, 28, 28])
        self.assertEqual(m["normalization"]["mean"], [0.1307])
        self.assertEqual(m["round"], 7)
        self.assertEqual([c["client"] for c in m["clients"]], [0, 1, 2, 3])
        every = sorted(i for c in m["clients"] for i in c["test_indices"])
        self.assertEqual(len(every), len(set(every)))  # disjoint clients
        self.assertLess(max(every), TEST)  # positions in the official test set
        with open(os.path.join(run, "results.json")) as f:
            final = json.load(f)["final"]["test"]["accuracy"]
        correct = sum(c["test_correct"] for c in m["clients"])
        self.assertAlmostEqual(correct / len(every), final, places=4)
        hnet = torch.jit.load(os.path.join(out, m["hypernetwork"]))
        client = torch.jit.load(os.path.join(out, "client_2.pt"))
        generated = hnet(2)
        self.assertNotIn("fc3.weight", generated)  # pFedHN-PC: the last layer is local
        self.assertTrue(torch.allclose(generated["conv1.weight"], client.conv1_weight,
                                       atol=1e-6))
        self.assertEqual(tuple(client.local_weight.shape), (10, 84))

    def test_fedavg_ft_on_the_held_out_split_exports_its_fine_tuned_models(self):
        run = self.train("ft", "algorithm=fedavg_ft", "client.clients_per_round=2",
                         "baseline.finetune_steps=3", "dataset.test_split=holdout",
                         "dataset.test_size=150")
        out, m = self.export_and_check(run, "--clients", "1,3")
        self.assertEqual(m["test_split"], "holdout")
        self.assertIsNone(m["hypernetwork"])
        self.assertEqual([c["client"] for c in m["clients"]], [1, 3])
        self.assertLess(max(i for c in m["clients"] for i in c["test_indices"]), TRAIN)
        # fine-tuned per client: the two modules differ although FedAvg has one global model
        a = torch.jit.load(os.path.join(out, "client_1.pt")).conv1_weight
        b = torch.jit.load(os.path.join(out, "client_3.pt")).conv1_weight
        self.assertFalse(torch.equal(a, b))

    def test_heterogeneous_widths_export_each_client_at_its_own_width(self):
        run = self.train("hetero", "model.hetero_kernels=[4,8]")
        out, m = self.export_and_check(run)
        self.assertEqual([c["n_kernels"] for c in m["clients"]], [4, 8, 4, 8])
        for c in m["clients"]:
            w = torch.jit.load(os.path.join(out, c["file"])).conv1_weight
            self.assertEqual(w.shape[0], c["n_kernels"])
        hnet = torch.jit.load(os.path.join(out, m["hypernetwork"]))
        self.assertEqual(list(hnet.widths), [4, 8])
        self.assertEqual(hnet.spec_of(1), 1)

    def test_bad_input_is_one_line_and_exit_2(self):
        run = self.train("bad", "algorithm=fedavg", "client.clients_per_round=2")
        r = pfedhn("export", run, "--clients", "0,9")
        self.assertEqual(r.returncode, 2)
        self.assertIn("'9' is not a client", r.stderr)
        self.assertEqual(pfedhn("export", run).returncode, 0)
        r = pfedhn("export", run)  # the folder exists now
        self.assertEqual(r.returncode, 2)
        self.assertIn("--overwrite", r.stderr)
        self.assertEqual(pfedhn("export", run, "--overwrite").returncode, 0)
        empty = os.path.join(self.tmp.name, "not_a_run")
        os.makedirs(empty)
        r = pfedhn("export", empty)
        self.assertEqual(r.returncode, 2)
        self.assertIn("not a run directory", r.stderr)
        for r in (pfedhn("export", run, "--clients", "0,9"), pfedhn("export", empty)):
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        # a mismatch is caught: damage pfedhn's figure for one client
        manifest = os.path.join(run, "export", "manifest.json")
        with open(manifest) as f:
            m = json.load(f)
        m["clients"][0]["test_correct"] += 2
        with open(manifest, "w") as f:
            json.dump(m, f)
        self.assertEqual(load_export(os.path.join(run, "export"), self.root).returncode, 1)


if __name__ == "__main__":
    unittest.main()
