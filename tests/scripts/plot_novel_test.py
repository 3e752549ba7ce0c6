"""ctest: scripts/plot_novel.py on hand-written generalize outputs (no training needed)."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "plot_novel.py")
CSV_HEADER = "client,alpha,shift_tv,train_samples,test_acc_before,test_acc_after,val_acc_after"


def make_run(root, name, algorithm, training_acc, rows, suffix="", adapt=None, checkpoint=None):
    """rows: (alpha or None, shift, acc before, acc after) per novel client. suffix "-best"
    writes the files of `pfedhn generalize --best`, "-loss" those of novel.adapt=loss."""
    run = os.path.join(root, name)
    os.makedirs(run, exist_ok=True)
    with open(os.path.join(run, f"novel_clients{suffix}.csv"), "w") as f:
        f.write(CSV_HEADER + "\n")
        for i, (alpha, shift, before, after) in enumerate(rows):
            a = "" if alpha is None else f"{alpha}"
            f.write(f"{90 + i},{a},{shift},400,{before},{after},{after}\n")
    pooled_after = sum(r[3] for r in rows) / len(rows)
    with open(os.path.join(run, f"novel{suffix}.json"), "w") as f:
        summary = {"algorithm": algorithm, "steps": 10, "sgd_steps": 500,
                   "training_clients_test_accuracy": training_acc,
                   "novel_test_accuracy_before": 0.3, "novel_test_accuracy_after": pooled_after,
                   "generalization_gap": training_acc - pooled_after}
        if adapt:
            summary["adapt"] = adapt
        if checkpoint:
            summary["checkpoint"] = checkpoint
        json.dump(summary, f)
    return run


def make_sets_file(path, algorithm, training_acc, sets, adapt="rounds", steps=10, sgd_steps=500,
                   lr=0.01, checkpoint="newest"):
    """A novel-sets.json of `pfedhn generalize` on a novel.scheme=sets run. sets: per set
    (alpha, [(shift, test acc before, test acc after or None) per client]); the set's pooled
    accuracy is the clients' mean (equal test sizes)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    out_sets, all_after = [], []
    for k, (alpha, clients) in enumerate(sets):
        rows = []
        for i, (shift, before, after) in enumerate(clients):
            rows.append({"client": 90 + i, "shift_tv": shift, "test_acc_before": before,
                         "test_acc_after": after, "val_acc_before": before,
                         "val_acc_after": after,
                         "gap": None if after is None else training_acc - after,
                         "samples": {"train": 40, "val": 5, "test": 5},
                         "label_counts": {"train": [40, 0], "val": [5, 0], "test": [5, 0]}})
        afters = [c[2] for c in clients if c[2] is not None]
        after = sum(afters) / len(afters)
        all_after += afters
        out_sets.append({"set": k, "alpha": alpha, "num_clients": len(clients),
                         "mean_shift_tv": sum(c[0] for c in clients) / len(clients),
                         "novel_test_accuracy_before": sum(c[1] for c in clients) / len(clients),
                         "novel_test_accuracy_after": after, "novel_val_accuracy_after": after,
                         "generalization_gap": training_acc - after, "clients": rows})
    pooled = sum(all_after) / len(all_after)
    summary = {"scheme": "sets", "algorithm": algorithm, "adapt": adapt, "steps": steps,
               "sgd_steps": sgd_steps, "embedding_lr": lr, "checkpoint": checkpoint,
               "training_clients_test_accuracy": training_acc,
               "novel_val_accuracy_after": pooled, "novel_test_accuracy_after": pooled,
               "generalization_gap": training_acc - pooled, "sets": out_sets}
    with open(path, "w") as f:
        json.dump(summary, f)
    return path


def plot(*args):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True)


def plot_table(test, tmp, *runs):
    """Draws `runs` into tmp/n.png and tmp/n.md, checks that the figure is a PNG, and returns
    the table's lines."""
    out, md = os.path.join(tmp, "n.png"), os.path.join(tmp, "n.md")
    r = plot(*runs, "-o", out, "--table", md)
    test.assertEqual(r.returncode, 0, r.stderr)
    with open(out, "rb") as f:
        test.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
    with open(md) as f:
        return f.read().splitlines()


class PlotNovelTest(unittest.TestCase):
    def test_groups_clients_by_alpha_and_draws_the_figure(self):
        with tempfile.TemporaryDirectory() as tmp:
            hn = make_run(tmp, "hn", "pfedhn", 0.9,
                          [(0.1, 0.7, 0.2, 0.8), (0.1, 0.5, 0.3, 0.9), (10.0, 0.1, 0.4, 0.6)])
            ft = make_run(tmp, "ft", "fedavg_ft", 0.8, [(None, 0.3, 0.5, 0.7)])
            lines = plot_table(self, tmp, hn, ft)
            # per alpha, ordered by mean shift: alpha 10 first, then alpha 0.1 (mean of two)
            self.assertEqual(lines[2], "| pfedhn | 10 | 1 | 0.100 | 40.00 | 60.00 | 30.00 |")
            self.assertEqual(lines[3], "| pfedhn | 0.1 | 2 | 0.600 | 25.00 | 85.00 | 5.00 |")
            self.assertEqual(lines[4], "| fedavg_ft | – | 1 | 0.300 | 50.00 | 70.00 | 10.00 |")
            self.assertIn("| run | steps | SGD steps | training clients | novel, before | "
                          "novel, after | gap |", lines)
            self.assertIn("| pfedhn | 10 | 500 | 90.00 | 30.00 | 76.67 | 13.33 |", lines)

    def test_run_without_generalize_output_is_one_line_and_exit_2(self):
        with tempfile.TemporaryDirectory() as tmp:
            run = make_run(tmp, "hn", "pfedhn", 0.9, [(0.1, 0.7, 0.2, 0.8)])
            os.remove(os.path.join(run, "novel_clients.csv"))
            out = os.path.join(tmp, "n.png")
            r = plot(run, "-o", out)
            self.assertEqual(r.returncode, 2)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
            self.assertIn("pfedhn generalize", r.stderr)
            self.assertFalse(os.path.exists(out))

    def test_best_reads_the_files_of_generalize_best(self):
        with tempfile.TemporaryDirectory() as tmp:
            run = make_run(tmp, "hn", "pfedhn", 0.9, [(0.1, 0.7, 0.2, 0.8)])
            out, md = os.path.join(tmp, "n.png"), os.path.join(tmp, "n.md")
            r = plot("--best", run, "-o", out)
            self.assertEqual(r.returncode, 2)
            self.assertIn("pfedhn generalize --best", r.stderr)
            self.assertIn("novel-best.json", r.stderr)
            make_run(tmp, "hn", "pfedhn", 0.95, [(0.1, 0.7, 0.2, 0.5)], suffix="-best")
            r = plot("--best", run, "-o", out, "--table", md)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(md) as f:
                lines = f.read().splitlines()
            self.assertEqual(lines[2], "| pfedhn | 0.1 | 1 | 0.700 | 20.00 | 50.00 | 45.00 |")
            r = plot(run, "-o", out, "--table", md)
            with open(md) as f:
                self.assertEqual(f.read().splitlines()[2],
                                 "| pfedhn | 0.1 | 1 | 0.700 | 20.00 | 80.00 | 10.00 |")

    def test_a_results_file_names_one_adaptation_and_labels_its_mode(self):
        with tempfile.TemporaryDirectory() as tmp:
            run = make_run(tmp, "hn", "pfedhn", 0.9, [(0.1, 0.7, 0.2, 0.3)], adapt="rounds")
            make_run(tmp, "hn", "pfedhn", 0.9, [(0.1, 0.7, 0.2, 0.8)], suffix="-loss",
                     adapt="loss")
            out, md = os.path.join(tmp, "n.png"), os.path.join(tmp, "n.md")
            r = plot(run, os.path.join(run, "novel-loss.json"), "-o", out, "--table", md)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(md) as f:
                lines = f.read().splitlines()
            self.assertEqual(lines[2], "| pfedhn | 0.1 | 1 | 0.700 | 20.00 | 30.00 | 60.00 |")
            self.assertEqual(lines[3],
                             "| pfedhn (loss) | 0.1 | 1 | 0.700 | 20.00 | 80.00 | 10.00 |")
            os.remove(os.path.join(run, "novel_clients-loss.csv"))
            r = plot(os.path.join(run, "novel-loss.json"), "-o", out)
            self.assertEqual(r.returncode, 2)
            self.assertIn("novel_clients-loss.csv", r.stderr)
            r = plot(os.path.join(run, "results.json"), "-o", out)
            self.assertEqual(r.returncode, 2)
            self.assertIn("novel<X>.json", r.stderr)

    def test_the_best_model_adaptation_is_labelled_apart_from_the_newest(self):
        with tempfile.TemporaryDirectory() as tmp:
            run = make_run(tmp, "hn", "pfedhn", 0.9, [(0.1, 0.7, 0.2, 0.3)], adapt="rounds",
                           checkpoint="newest")
            make_run(tmp, "hn", "pfedhn", 0.9, [(0.1, 0.7, 0.2, 0.8)], suffix="-loss-best",
                     adapt="loss", checkpoint="best")
            out, md = os.path.join(tmp, "n.png"), os.path.join(tmp, "n.md")
            r = plot(run, os.path.join(run, "novel-loss-best.json"), "-o", out, "--table", md)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(md) as f:
                lines = f.read().splitlines()
            self.assertTrue(lines[2].startswith("| pfedhn | 0.1 |"), lines[2])
            self.assertTrue(lines[3].startswith("| pfedhn (loss, best val model) | 0.1 |"),
                            lines[3])

    def test_labels_must_match_the_runs(self):
        with tempfile.TemporaryDirectory() as tmp:
            run = make_run(tmp, "hn", "pfedhn", 0.9, [(0.1, 0.7, 0.2, 0.8)])
            r = plot(run, "--labels", "a", "b", "-o", os.path.join(tmp, "n.png"))
            self.assertEqual(r.returncode, 2)
            self.assertIn("--labels names 2 runs but 1", r.stderr)


    def test_sets_runs_draw_gap_against_shift_and_a_table_per_alpha(self):
        with tempfile.TemporaryDirectory() as tmp:
            hn = os.path.join(tmp, "pfedhn")
            make_sets_file(os.path.join(hn, "novel-sets.json"), "pfedhn", 0.9,
                           [(0.1, [(0.8, 0.2, 0.6), (0.6, 0.3, 0.8)]),
                            (1.0, [(0.2, 0.4, 0.7), (0.4, 0.5, None)])])
            ft = make_sets_file(os.path.join(tmp, "fedavg_ft", "grid", "finetune-s10",
                                             "novel-sets.json"), "fedavg_ft", 0.8,
                                [(0.1, [(0.7, 0.5, 0.75)]), (1.0, [(0.3, 0.6, 0.7)])],
                                adapt="baseline", steps=500, sgd_steps=500, lr=None)
            loss = make_sets_file(os.path.join(hn, "grid", "loss-s10-lr0.1",
                                               "novel-sets-loss-best.json"), "pfedhn", 0.9,
                                  [(0.1, [(0.8, 0.2, 0.9)]), (1.0, [(0.2, 0.4, 0.8)])],
                                  adapt="loss", lr=0.1, checkpoint="best")
            lines = plot_table(self, tmp, hn, ft, loss)
            first = lines.index("### alpha_gen = 0.1")
            self.assertEqual(lines[first + 4], "| pFedHN | 10 rounds of 50 steps, lr 0.01 | 2 | "
                             "0.700 | 90.00 | 25.00 | 70.00 | 20.00 |")
            self.assertEqual(lines[first + 5], "| FedAvg+FT | 500 fine-tuning steps | 1 | 0.700 | "
                             "80.00 | 50.00 | 75.00 | 5.00 |")
            self.assertEqual(lines[first + 6], "| pFedHN (loss, best val model) | 500 loss steps, "
                             "lr 0.1 | 1 | 0.800 | 90.00 | 20.00 | 90.00 | 0.00 |")
            # alpha 1: the client without test samples is left out of the pooled accuracy
            second = lines.index("### alpha_gen = 1")
            self.assertEqual(lines[second + 4], "| pFedHN | 10 rounds of 50 steps, lr 0.01 | 2 | "
                             "0.300 | 90.00 | 45.00 | 70.00 | 20.00 |")
            pooled = lines.index("### every set, pooled")
            self.assertEqual(lines[pooled + 4], "| pFedHN | 10 rounds of 50 steps, lr 0.01 | 2 | "
                             "90.00 | 70.00 | 70.00 | 20.00 |")

    def test_sets_and_other_runs_are_not_drawn_together_and_bad_sets_files_fail(self):
        with tempfile.TemporaryDirectory() as tmp:
            sets = make_sets_file(os.path.join(tmp, "a", "novel-sets.json"), "pfedhn", 0.9,
                                  [(0.1, [(0.8, 0.2, 0.6)])])
            other = make_run(tmp, "b", "pfedhn", 0.9, [(0.1, 0.7, 0.2, 0.8)])
            out = os.path.join(tmp, "n.png")
            r = plot(sets, other, "-o", out)
            self.assertEqual(r.returncode, 2)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
            self.assertIn("cannot be drawn together", r.stderr)
            with open(sets, "w") as f:
                json.dump({"scheme": "sets", "algorithm": "pfedhn", "sets": []}, f)
            r = plot(sets, "-o", out)
            self.assertEqual(r.returncode, 2)
            self.assertIn("novel-sets.json", r.stderr)
            self.assertFalse(os.path.exists(out))
            r = plot("--best", os.path.dirname(sets), "-o", out)
            self.assertEqual(r.returncode, 2)
            self.assertIn("novel-best.json", r.stderr)

if __name__ == "__main__":
    unittest.main()
