#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "pfedhn/config/config.h"
#include "pfedhn/data/dataset.h"
#include "pfedhn/data/partition.h"
#include "pfedhn/fl/client_update.h"
#include "pfedhn/models/target.h"

namespace pfedhn::fl {

struct RoundReport {
  int64_t round = 0;
  std::vector<int64_t> clients;
  double loss = 0.0;      // mean inner training loss over the round's clients
  double accuracy = 0.0;  // mean inner training accuracy
  // pFedHN: hypernetwork gradient norm before clipping; baselines: norm of the server's
  // update. Either way non-finite when training diverged.
  double grad_norm = 0.0;
  // Wall time of the round's phases (for benchmarks and timing logs; never part of results).
  double generate_seconds = 0.0;  // hypernetwork forward
  double local_seconds = 0.0;     // the clients' inner training
  double server_seconds = 0.0;    // vector-Jacobian product and the hypernetwork step
};

// What the round loop (run/run_loop.h) needs from a federated algorithm: pFedHN / pFedHN-PC
// (fl::Trainer) and the baselines (fl/baselines.h) all run on the same partitions, the same
// client training code (client_update) and the same evaluation.
class Algorithm {
 public:
  virtual ~Algorithm() = default;

  // Runs round `round` (0-based). Every random stream derives from (seed, round, client), so a
  // round's result does not depend on which rounds ran in this process.
  virtual RoundReport run_round(int64_t round) = 0;

  // The client's personalised model as a function from inputs to logits, without autograd;
  // used by the evaluator.
  virtual std::function<torch::Tensor(const torch::Tensor&)> client_model(int64_t client) = 0;
  // The same model as tensors (`pfedhn export`): models::client_forward of the result computes
  // what client_model(client) computes.
  virtual models::ClientNetwork client_network(int64_t client) = 0;

  // The whole model state for checkpoints. `load` expects an object built from the same
  // config; it throws c10::Error on a mismatch.
  virtual void save(torch::serialize::OutputArchive& archive) const = 0;
  virtual void load(torch::serialize::InputArchive& archive) = 0;

  virtual const std::vector<data::ClientIndices>& clients() const = 0;
  virtual const models::TargetSpec& target_spec() const = 0;
  virtual int64_t clients_per_round() const = 0;
  int64_t num_clients() const { return static_cast<int64_t>(clients().size()); }
  // One line for the log: what is trained and how big it is.
  virtual std::string describe() const = 0;

  // Generalisation to novel clients (Section 5.3): the last novel.num_clients clients take no
  // part in training; afterwards `pfedhn generalize` calls this for each of them. pFedHN
  // trains only the client's embedding (hypernetwork frozen) for `steps` rounds; a baseline
  // has nothing to fit here (fedavg_ft and perfedavg personalise in client_model).
  virtual void adapt_novel_client(int64_t client, int64_t steps) {
    (void)client;
    (void)steps;
  }
};

// The algorithm `cfg.algorithm` names, on `clients` (a partition of `data`, which must outlive
// the result).
std::unique_ptr<Algorithm> make_algorithm(const config::Config& cfg,
                                          const data::DatasetSplits& data,
                                          std::vector<data::ClientIndices> clients,
                                          torch::Device device);

// The client optimiser of a config (client.num_epochs steps, client.batch_size, model.inner_*).
ClientUpdateOptions client_options_from_config(const config::Config& cfg);

// The clients that take part in training: all but the last novel.num_clients.
inline int64_t num_training_clients(const config::Config& cfg) {
  return cfg.client.num_nodes - cfg.novel.num_clients;
}

// Sets report.loss and report.accuracy to the means over a round's client updates and moves
// their deltas out, in order.
std::vector<models::Weights> take_mean_stats(RoundReport& report,
                                             std::vector<ClientUpdateResult>& results);

// The clients of round `round`: `k` of `num_clients`, uniformly without replacement, a pure
// function of (seed, round).
std::vector<int64_t> sample_round_clients(uint64_t seed, int64_t round, int64_t num_clients,
                                          int64_t k);

}  // namespace pfedhn::fl
