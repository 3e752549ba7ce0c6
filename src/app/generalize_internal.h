// What the two halves of `pfedhn generalize` share: generalize.cpp (the command, and the novel
// clients of novel.scheme last and shifted) and generalize_sets.cpp (novel.scheme=sets).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pfedhn/app/train.h"
#include "pfedhn/config/config.h"
#include "pfedhn/data/partition.h"
#include "pfedhn/eval/evaluator.h"
#include "pfedhn/fl/algorithm.h"

namespace pfedhn::app::detail {

// A run as generalize reads it: its config (with the adaptation's overrides), the checkpoint to
// adapt and its round, the data and partition it was trained on, and where the results go.
struct GeneralizeRun {
  config::Config cfg;
  std::filesystem::path checkpoint;  // the checkpoint file whose model is adapted
  int64_t round = 0;                 // the last round that model trained
  torch::Device device = torch::kCPU;
  RunData data;
  std::filesystem::path run_dir, out_dir;
  bool at_best = false;
};

// The trained model of the checkpoint, on `clients` (the run's training clients, then novel
// clients), read afresh from the checkpoint file each call: adapting it changes no other copy.
// `cfg`: the run's config, or one that differs in what the model does with it.
std::unique_ptr<fl::Algorithm> load_model(const GeneralizeRun& run,
                                          const std::vector<data::ClientIndices>& clients,
                                          const config::Config& cfg);
std::unique_ptr<fl::Algorithm> load_model(const GeneralizeRun& run,
                                          const std::vector<data::ClientIndices>& clients);

// The training clients' (the first fl::num_training_clients) val and test evaluation.
eval::EvalRecord evaluate_training_clients(const GeneralizeRun& run, fl::Algorithm& algorithm);

// The novel clients (the clients of `algorithm` from fl::num_training_clients on, `clients` of
// the same list) evaluated before and after `algorithm` adapts to each of them.
struct NovelEvaluations {
  eval::EvalRecord before, after;
};
NovelEvaluations adapt_novel_clients(const GeneralizeRun& run, fl::Algorithm& algorithm,
                                     const std::vector<data::ClientIndices>& clients);

// The label histogram of clients [begin, end) of `clients`' training data, normalised.
torch::Tensor label_distribution(const data::DatasetSplits& d,
                                 const std::vector<data::ClientIndices>& clients, size_t begin,
                                 size_t end);

// The total-variation distance between two distributions over the same classes.
double total_variation(const torch::Tensor& p, const torch::Tensor& q);

// The fields every result summary has: algorithm, checkpoint, checkpoint_round, novel_clients,
// steps, sgd_steps, adapt, embedding_lr.
nlohmann::json adaptation_json(const GeneralizeRun& run);

// The suffix of the result files: "", "-loss" (novel.adapt=loss), "-best" (--best), "-loss-best".
std::string results_suffix(const config::Config& cfg, bool at_best);

// novel.scheme=sets: adapts and evaluates the novel-client sets `sets` (indices into
// novel.alphas) and writes novel-sets{suffix}.json and novel_clients-sets{suffix}.csv.
void generalize_sets(const GeneralizeRun& run, const std::vector<size_t>& sets);

}  // namespace pfedhn::app::detail
