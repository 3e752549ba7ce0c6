#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "pfedhn/data/dataset.h"
#include "pfedhn/data/partition.h"

namespace pfedhn::eval {

struct ClientCounts {
  int64_t correct = 0;
  int64_t total = 0;
  double loss_sum = 0.0;  // sum of per-sample cross-entropy
};

// One split's summary over all clients (reference page, "Evaluation").
struct SplitMetrics {
  double accuracy = 0.0;   // pooled: sum correct / sum samples
  double mean_loss = 0.0;  // mean over clients of each client's mean loss
  double min_accuracy = 0.0, max_accuracy = 0.0,
         std_accuracy = 0.0;  // over clients (population std)
  int64_t correct = 0, total = 0;
  std::vector<double> client_accuracy;  // NaN for a client with no samples in the split
};

struct EvalRecord {
  int64_t round = 0;  // 0-based index of the last round completed before this evaluation
  SplitMetrics val, test;
};

// A client's personalised model: inputs [B, C, H, W] -> logits.
using ClientModel = std::function<torch::Tensor(const torch::Tensor&)>;

ClientCounts evaluate_client(const ClientModel& model, const data::Split& split,
                             const torch::Tensor& indices, int64_t batch_size);

// Clients with no samples are left out of the min/max/std and the loss mean.
SplitMetrics summarise(const std::vector<ClientCounts>& clients);

// Evaluates every client on its whole val and test splits.
EvalRecord evaluate_all(int64_t round, const std::function<ClientModel(int64_t)>& model_for,
                        const data::DatasetSplits& data,
                        const std::vector<data::ClientIndices>& clients, int64_t batch_size);

// Tracks the headline number: test accuracy at the evaluation with the best val accuracy
// (first one wins ties, as in the authors' code).
struct BestTracker {
  bool has_best = false;
  EvalRecord best;
  bool update(const EvalRecord& record);  // true when `record` is the new best
};

}  // namespace pfedhn::eval
