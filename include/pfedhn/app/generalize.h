#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace pfedhn::app {

struct GeneralizeOptions {
  std::filesystem::path run_dir;  // a finished (or checkpointed) run with novel.num_clients > 0
  std::vector<std::string> overrides;  // only novel.steps, baseline.finetune_steps and the
                                       // keys that never change results may be given
  bool at_best = false;  // adapt the model of the best validation evaluation (checkpoints/best.pt)
                         // and write novel-best.json, novel_clients-best.csv; else the newest
  // novel.scheme=sets: the sets to adapt, by their alpha (values of the run's novel.alphas);
  // empty = every set. Refused for the other schemes.
  std::vector<double> alphas;
  std::filesystem::path out_dir;  // where the result files go (created); empty = run_dir
};

// `pfedhn generalize RUN_DIR`: generalisation to novel clients (Section 5.3 of the paper).
// Loads the run's newest checkpoint (or, with at_best, its best.pt); for each novel client (the
// last novel.num_clients, held out of training) evaluates its model, lets the algorithm adapt to it
// (pFedHN: its embedding alone, hypernetwork frozen, for novel.steps rounds; fedavg_ft:
// fine-tuning), evaluates again, and writes RUN_DIR/novel_clients.csv (one row per novel client
// with its distribution shift: the total-variation distance between its label distribution and the
// training clients') and RUN_DIR/novel.json (with at_best: novel_clients-best.csv,
// novel-best.json).
// A novel.scheme=sets run does this once per novel-client set (per alpha of novel.alphas, or of
// `alphas`), each time with its novel clients' data replaced by the set's and the model loaded
// afresh from the checkpoint, and writes novel-sets.json and novel_clients-sets.csv instead
// (suffixes as above: novel-sets-loss-best.json, ...). Returns the exit code; bad input throws
// UserError.
int run_generalize(const GeneralizeOptions& options);

}  // namespace pfedhn::app
