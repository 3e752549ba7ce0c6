"""ctest: scripts/run_lib.sh (train_run, require_int) with a fake pfedhn binary, and the
experiment scripts' option checks (they fail before any training or binary is needed)."""
import os
import stat
import subprocess
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LIB = os.path.join(ROOT, "scripts", "run_lib.sh")

# Records its arguments; `train --output-dir D` writes D/config.yaml and D/results.json the way
# a finished run does; FAKE_FAIL=1 makes it fail.
FAKE_BIN = """#!/usr/bin/env bash
echo "$@" >>"$FAKE_LOG"
[ "${FAKE_FAIL:-0}" = 0 ] || exit 3
while [ $# -gt 0 ]; do
  if [ "$1" = --output-dir ]; then
    mkdir -p "$2"; printf 'client:\\n  num_rounds: 7\\n' >"$2/config.yaml"; echo '{}' >"$2/results.json"
  fi
  shift
done
"""


# For novel_clients.sh --protocol lab: `train` as above (with the asked client.num_rounds);
# `generalize RUN --out DIR novel.steps=S [novel.lr=L] novel.adapt=M` writes DIR/novel-sets<X>.json
# (X = -loss for novel.adapt=loss) whose validation accuracy is best at (10 rounds, lr 0.1) for
# pfedhn adapted by rounds, at (20 steps, lr 0) for pfedhn adapted by loss and at 20 steps for
# fedavg_ft, and whose test accuracy is best elsewhere, so a choice by test would show.
FAKE_LAB_BIN = """#!/usr/bin/python3
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as f:
    f.write(" ".join(args) + "\\n")
opts = dict(a.split("=", 1) for a in args if "=" in a)
if args[0] == "train":
    out = args[args.index("--output-dir") + 1]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.yaml"), "w") as f:
        f.write("client:\\n  num_rounds: %s\\n" % opts["client.num_rounds"])
    with open(os.path.join(out, "results.json"), "w") as f:
        f.write("{}")
    sys.exit(0)
run, out = args[1], args[args.index("--out") + 1]
algorithm = os.path.basename(run)
steps, lr = int(opts["novel.steps"]), float(opts.get("novel.lr", 0.01))
hn, mode = algorithm == "pfedhn", opts["novel.adapt"]
best = (steps, lr) == ((10, 0.1) if mode == "rounds" else (20, 0.01)) if hn else steps == 20
val, test = (0.6, 0.4) if best else (0.5, 0.8)
client = {"client": 90, "shift_tv": 0.5, "test_acc_before": 0.3, "test_acc_after": test,
          "gap": 0.9 - test}
a_set = {"set": 0, "alpha": 0.1, "num_clients": 1, "mean_shift_tv": 0.5,
         "novel_test_accuracy_before": 0.3, "novel_test_accuracy_after": test,
         "novel_val_accuracy_after": val, "generalization_gap": 0.9 - test, "clients": [client]}
summary = {"scheme": "sets", "algorithm": algorithm, "adapt": mode if hn else "baseline",
           "steps": steps if hn else steps * 50, "sgd_steps": steps * 50,
           "embedding_lr": lr if hn else None, "checkpoint": "newest",
           "training_clients_test_accuracy": 0.9, "novel_val_accuracy_after": val,
           "novel_test_accuracy_after": test, "generalization_gap": 0.9 - test, "sets": [a_set]}
os.makedirs(out, exist_ok=True)
name = "novel-sets-loss.json" if mode == "loss" else "novel-sets.json"
with open(os.path.join(out, name), "w") as f:
    json.dump(summary, f)
print("fake generalize")
"""


def write_fake_binary(folder, text):
    """An executable `pfedhn` in `folder` that runs `text`; its path."""
    path = os.path.join(folder, "pfedhn")
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, os.stat(path).st_mode | stat.S_IEXEC)
    return path


def lib_call(body, env=None):
    """Runs BODY in bash with run_lib.sh sourced and die() defined as the scripts define it."""
    script = f'die() {{ echo "test: $*" >&2; exit 2; }}\nprog=test\nsource "{LIB}"\n{body}\n'
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


class RequireIntTest(unittest.TestCase):
    def test_accepts_whole_numbers_at_or_above_the_minimum(self):
        r = lib_call("threads=1 updates=5000 seed=0\nrequire_int 1 threads updates\n"
                     "require_int 0 seed\necho ok")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "ok")

    def test_rejects_zero_below_a_minimum_of_one_naming_the_option(self):
        r = lib_call("threads=1 updates=0\nrequire_int 1 threads updates\necho reached")
        self.assertEqual(r.returncode, 2)
        self.assertNotIn("reached", r.stdout)
        self.assertIn("--updates must be a positive number, got '0'", r.stderr)

    def test_rejects_text_and_negative_numbers(self):
        for value in ["x", "-3", "1.5", ""]:
            r = lib_call(f"seed='{value}'\nrequire_int 0 seed")
            self.assertEqual(r.returncode, 2, value)
            self.assertIn(f"--seed must be a number, got '{value}'", r.stderr)


class TrainRunTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.bin = write_fake_binary(self.tmp.name, FAKE_BIN)
        self.log = os.path.join(self.tmp.name, "calls.log")
        self.run_dir = os.path.join(self.tmp.name, "out", "m")

    def tearDown(self):
        self.tmp.cleanup()

    def train(self, rounds=7, workers=1, env=None):
        return lib_call(f'train_run m "{self.run_dir}" {rounds} "{self.bin}" {workers} '
                        "seed=1 client.num_rounds=7", {"FAKE_LOG": self.log, **(env or {})})

    def calls(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return f.read().splitlines()

    def test_a_new_run_trains_with_its_arguments_and_output_dir(self):
        r = self.train()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.calls(),
                         [f"train seed=1 client.num_rounds=7 --output-dir {self.run_dir} --overwrite"])
        self.assertTrue(os.path.exists(self.run_dir + ".out"))

    def test_a_finished_run_is_skipped(self):
        self.assertEqual(self.train().returncode, 0)
        r = self.train()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("m: trained (skipped)", r.stdout)
        self.assertEqual(len(self.calls()), 1)

    def test_a_stopped_run_is_resumed_from_its_checkpoint_with_workers(self):
        os.makedirs(os.path.join(self.run_dir, "checkpoints"))
        with open(os.path.join(self.run_dir, "config.yaml"), "w") as f:
            f.write("client:\n  num_rounds: 7\n")
        open(os.path.join(self.run_dir, "checkpoints", "ckpt-4.pt"), "w").close()
        r = self.train(workers=2)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.calls(), [f"train --resume {self.run_dir} --workers 2"])

    def test_a_run_of_another_length_is_refused_untouched(self):
        self.assertEqual(self.train().returncode, 0)
        r = self.train(rounds=9)
        self.assertEqual(r.returncode, 2)
        self.assertIn("has client.num_rounds=7, this call asks for 9", r.stderr)
        self.assertEqual(len(self.calls()), 1)

    def test_a_failed_training_stops_the_script(self):
        r = self.train(env={"FAKE_FAIL": "1"})
        self.assertEqual(r.returncode, 2)
        self.assertIn("m: training failed (exit 3)", r.stderr)


# A `train` that writes the files of a finished run from its key=value arguments, enough for
# scripts/plot_k_curve.py; it records the arguments like FAKE_BIN.
FAKE_RUN_BIN = """#!/usr/bin/python3
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as f:
    f.write(" ".join(args) + "\\n")
kv = dict(a.split("=", 1) for a in args if "=" in a)
run = args[args.index("--output-dir") + 1]
os.makedirs(run, exist_ok=True)
rounds, k = int(kv["client.num_rounds"]), int(kv["client.clients_per_round"])
with open(os.path.join(run, "config.yaml"), "w") as f:
    f.write(f"algorithm: {kv['algorithm']}\\ndataset:\\n  data: cifar10\\n"
            f"client:\\n  num_rounds: {rounds}\\n  clients_per_round: {k}\\n"
            f"  num_nodes: {kv['client.num_nodes']}\\nserver:\\n  lr: {kv.get('server.lr', 0.5)}\\n")
with open(os.path.join(run, "metrics.csv"), "w") as f:
    f.write(f"round,client_updates,val_acc,test_acc\\n{rounds - 1},{rounds * k},0.5,0.5\\n")
with open(os.path.join(run, "results.json"), "w") as f:
    json.dump({"test_accuracy_at_best_val": 0.5, "best_round": rounds - 1,
               "final": {"test": {"accuracy": 0.5}}}, f)
with open(os.path.join(run, "run_info.json"), "w") as f:
    json.dump({"wall_seconds": 10.0}, f)
"""


class KCurveTest(unittest.TestCase):
    """scripts/k_curve.sh end to end with FAKE_RUN_BIN: the runs it asks for and its table."""

    def k_curve(self, tmp, *args):
        fake = os.path.join(tmp, "pfedhn")
        with open(fake, "w") as f:
            f.write(FAKE_RUN_BIN)
        os.chmod(fake, os.stat(fake).st_mode | stat.S_IEXEC)
        log = os.path.join(tmp, "calls.log")
        r = subprocess.run(["bash", os.path.join(ROOT, "scripts", "k_curve.sh"), "--bin", fake,
                            "--out", os.path.join(tmp, "k"), "--updates", "10", *args],
                           capture_output=True, text=True, env={**os.environ, "FAKE_LOG": log})
        calls = []
        if os.path.exists(log):
            with open(log) as f:
                calls = f.read().splitlines()
        return r, calls

    def test_each_k_gets_the_same_client_updates_at_the_preset_lr(self):
        with tempfile.TemporaryDirectory() as tmp:
            r, calls = self.k_curve(tmp, "--methods", "pfedhn", "--ks", "1 5")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(len(calls), 2)
            self.assertIn("client.clients_per_round=5 client.num_rounds=2 eval_every=6", calls[1])
            self.assertFalse(any("server.lr" in c for c in calls), calls)
            self.assertTrue(os.path.isdir(os.path.join(tmp, "k", "pfedhn_k5")))
            self.assertTrue(os.path.exists(os.path.join(tmp, "k", "k_curve.png")))

    def test_linear_lr_scale_multiplies_each_presets_lr_by_k(self):
        with tempfile.TemporaryDirectory() as tmp:
            r, calls = self.k_curve(tmp, "--ks", "1 5", "--lr-scale", "linear")
            self.assertEqual(r.returncode, 0, r.stderr)
            lrs = [[a for a in c.split() if a.startswith("server.lr=")] for c in calls]
            # conf/config.yaml has server.lr 0.01, conf/cifar10_pc.yaml 0.05
            self.assertEqual(lrs, [["server.lr=0.01"], ["server.lr=0.05"], ["server.lr=0.05"],
                                   ["server.lr=0.25"]])
            self.assertEqual(sorted(d for d in os.listdir(os.path.join(tmp, "k"))
                                    if os.path.isdir(os.path.join(tmp, "k", d))),
                             ["pfedhn_k1", "pfedhn_k5_lr-linear", "pfedhn_pc_k1",
                              "pfedhn_pc_k5_lr-linear"])
            with open(os.path.join(tmp, "k", "k_curve.md")) as f:
                self.assertIn("| pfedhn_pc | 5 | 2 | 10 | 0.25 |", f.read())

    def test_an_unknown_lr_scale_is_refused_before_training(self):
        with tempfile.TemporaryDirectory() as tmp:
            r, calls = self.k_curve(tmp, "--lr-scale", "sqrt")
            self.assertEqual(r.returncode, 2)
            self.assertIn("--lr-scale must be none or linear, got 'sqrt'", r.stderr)
            self.assertEqual(calls, [])


class HeteroWidthsTest(unittest.TestCase):
    def test_no_hetero_trains_only_the_homogeneous_widths_and_waits_for_the_table(self):
        with tempfile.TemporaryDirectory() as tmp:
            fake = write_fake_binary(tmp, FAKE_BIN)
            log, out = os.path.join(tmp, "calls.log"), os.path.join(tmp, "h")
            r = subprocess.run(["bash", os.path.join(ROOT, "scripts", "hetero_widths.sh"),
                                "--bin", fake, "--out", out, "--updates", "7",
                                "--homogeneous", "8 32", "--no-hetero"],
                               capture_output=True, text=True, env={**os.environ, "FAKE_LOG": log})
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(log) as f:
                calls = f.read().splitlines()
            self.assertEqual([[a for a in c.split() if a.startswith("model.")] for c in calls],
                             [["model.n_kernels=8"], ["model.n_kernels=32"]])
            self.assertIn(f"no table yet: {out}/hetero is not finished", r.stdout)
            self.assertFalse(os.path.exists(os.path.join(out, "hetero.md")))

    def test_no_hetero_without_homogeneous_widths_is_refused(self):
        r = subprocess.run(["bash", os.path.join(ROOT, "scripts", "hetero_widths.sh"),
                            "--homogeneous", "", "--with", ROOT, "--no-hetero"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("nothing to train", r.stderr)


class ScriptOptionTest(unittest.TestCase):
    def script(self, name, *args):
        return subprocess.run(["bash", os.path.join(ROOT, "scripts", name), *args],
                              capture_output=True, text=True)

    def test_each_experiment_script_rejects_a_bad_number_before_training(self):
        for name in ["novel_clients.sh", "k_curve.sh", "hetero_widths.sh"]:
            with tempfile.TemporaryDirectory() as tmp:
                r = self.script(name, "--updates", "0", "--out", tmp, "--bin", "/nonexistent")
                self.assertEqual(r.returncode, 2, name)
                self.assertIn("--updates must be a positive number, got '0'", r.stderr, name)
                self.assertEqual(os.listdir(tmp), [], name)

    def test_each_experiment_script_rejects_an_unknown_option(self):
        for name in ["novel_clients.sh", "k_curve.sh", "hetero_widths.sh"]:
            r = self.script(name, "--epochs", "3")
            self.assertEqual(r.returncode, 2, name)
            self.assertIn("unknown argument '--epochs'", r.stderr, name)


class NovelLabTest(unittest.TestCase):
    def test_the_setting_with_the_best_novel_validation_accuracy_is_picked_and_drawn(self):
        with tempfile.TemporaryDirectory() as tmp:
            fake = write_fake_binary(tmp, FAKE_LAB_BIN)
            log, out = os.path.join(tmp, "calls.log"), os.path.join(tmp, "lab")

            def lab():
                return subprocess.run(
                    ["bash", os.path.join(ROOT, "scripts", "novel_clients.sh"), "--protocol",
                     "lab", "--bin", fake, "--out", out, "--updates", "10", "--methods",
                     "pfedhn fedavg_ft", "--steps", "10 20", "--novel-lr", "0 0.1"],
                    capture_output=True, text=True, env={**os.environ, "FAKE_LOG": log})

            def generalize_calls():
                with open(log) as f:
                    return [c for c in f.read().splitlines() if c.startswith("generalize")]

            r = lab()
            self.assertEqual(r.returncode, 0, r.stderr)
            # Both adaptations by default: pfedhn 2 modes x 2 steps x 2 lrs, fedavg_ft 2 steps.
            calls = generalize_calls()
            self.assertEqual(len(calls), 10)
            self.assertEqual(sum("novel.adapt=loss" in c for c in calls), 4)
            with open(log) as f:
                trains = [c for c in f.read().splitlines() if c.startswith("train")]
            self.assertEqual(len(trains), 2)  # once per method, for every set
            # pfedhn evaluates every 30 client updates, the averaging baseline every 250 (50
            # rounds of 5), since each of its evaluations fine-tunes every training client.
            self.assertIn("client.num_rounds=10 eval_every=30", trains[0])
            self.assertIn("client.num_rounds=2 eval_every=50", trains[1])
            for option in ("client.num_nodes=100", "novel.num_clients=10",
                           "novel.alphas=[0.1, 0.25, 0.5, 0.75, 1.0]",
                           "client.partition=dirichlet_per_client", "client.dirichlet_alpha=0.1",
                           "novel.scheme=sets", "dataset.test_split=holdout"):
                self.assertTrue(all(option in t for t in trains), option)
            with open(os.path.join(out, "novel-grid.md")) as f:
                grid = f.read().splitlines()
            self.assertIn("| pfedhn | rounds | rounds-s10-lr0.1 | 0.6000 | **picked** |", grid)
            self.assertIn("| pfedhn | rounds | rounds-s20-lr0 | 0.5000 |  |", grid)
            self.assertIn("| pfedhn | loss | loss-s20-lr0 | 0.6000 | **picked** |", grid)
            self.assertIn("| pfedhn | loss | loss-s10-lr0.1 | 0.5000 |  |", grid)
            self.assertIn("| fedavg_ft | fine-tuning | finetune-s20 | 0.6000 | **picked** |", grid)
            self.assertEqual(sum("**picked**" in line for line in grid), 3)
            self.assertIn("pfedhn (rounds): picked rounds-s10-lr0.1", r.stdout)
            self.assertIn("pfedhn (loss): picked loss-s20-lr0", r.stdout)
            with open(os.path.join(out, "novel.md")) as f:
                table = f.read()
            self.assertIn("| pFedHN | 10 rounds of 50 steps, lr 0.1 | 1 | 0.500 | 90.00 | 30.00 | "
                          "40.00 | 50.00 |", table)
            self.assertIn("| pFedHN (loss) | 1000 loss steps, lr 0.01 | 1 | 0.500 | 90.00 | "
                          "30.00 | 40.00 | 50.00 |", table)
            self.assertIn("| FedAvg+FT | 1000 fine-tuning steps |", table)
            self.assertTrue(os.path.getsize(os.path.join(out, "novel.png")) > 0)
            # Again: training and every grid point are done, so nothing runs; the same pick.
            r = lab()
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(len(generalize_calls()), 10)
            self.assertIn("pfedhn (rounds-s20-lr0.1): adapted (skipped)", r.stdout)
            with open(os.path.join(out, "novel-grid.md")) as f:
                self.assertEqual(f.read().splitlines(), grid)

    def test_one_adaptation_mode_adapts_only_by_it(self):
        with tempfile.TemporaryDirectory() as tmp:
            fake = write_fake_binary(tmp, FAKE_LAB_BIN)
            log, out = os.path.join(tmp, "calls.log"), os.path.join(tmp, "lab")
            r = subprocess.run(
                ["bash", os.path.join(ROOT, "scripts", "novel_clients.sh"), "--protocol", "lab",
                 "--bin", fake, "--out", out, "--updates", "10", "--methods", "pfedhn",
                 "--adapt", "rounds", "--steps", "10", "--novel-lr", "0 0.1"],
                capture_output=True, text=True, env={**os.environ, "FAKE_LOG": log})
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(log) as f:
                calls = [c for c in f.read().splitlines() if c.startswith("generalize")]
            self.assertEqual(len(calls), 2)
            self.assertTrue(all("novel.adapt=rounds" in c for c in calls), calls)

    def test_mnist_trains_every_method_on_the_mnist_preset(self):
        with tempfile.TemporaryDirectory() as tmp:
            fake = write_fake_binary(tmp, FAKE_LAB_BIN)
            log, out = os.path.join(tmp, "calls.log"), os.path.join(tmp, "lab")
            r = subprocess.run(
                ["bash", os.path.join(ROOT, "scripts", "novel_clients.sh"), "--protocol", "lab",
                 "--dataset", "mnist", "--bin", fake, "--out", out, "--updates", "10",
                 "--methods", "pfedhn_pc fedavg_ft", "--train-only"],
                capture_output=True, text=True, env={**os.environ, "FAKE_LOG": log})
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(log) as f:
                calls = f.read().splitlines()
            self.assertEqual(len(calls), 2, calls)  # --train-only: no generalize
            self.assertTrue(all("--config conf/mnist.yaml" in c for c in calls), calls)
            self.assertIn("algorithm=pfedhn_pc", calls[0])
            r = subprocess.run(["bash", os.path.join(ROOT, "scripts", "novel_clients.sh"),
                                "--dataset", "cifar100", "--bin", fake],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 2)
            self.assertIn("--dataset must be cifar10 or mnist, got 'cifar100'", r.stderr)

    def test_lists_of_settings_are_refused_for_the_shifted_protocol(self):
        r = subprocess.run(["bash", os.path.join(ROOT, "scripts", "novel_clients.sh"),
                            "--steps", "10 20", "--bin", "/nonexistent"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--steps and --novel-lr take one value each with --protocol shifted",
                      r.stderr)

if __name__ == "__main__":
    unittest.main()
