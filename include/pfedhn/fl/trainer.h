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
#include "pfedhn/fl/algorithm.h"
#include "pfedhn/fl/client_update.h"
#include "pfedhn/fl/server_update.h"
#include "pfedhn/models/hypernetwork.h"

namespace pfedhn::fl {

// The server's whole training state and the paper's round (Algorithm 1). Everything a round
// depends on is either in this object (hypernetwork, its optimiser, the PC local states) or
// derived from (seed, round, client), so a round's result does not depend on which rounds ran
// in this process, and the state can be saved and restored between rounds.
class Trainer : public Algorithm {
 public:
  Trainer(const config::Config& cfg, const data::DatasetSplits& data,
          std::vector<data::ClientIndices> clients, torch::Device device);

  // Runs round `round` (0-based): sample, generate, local updates, hypernetwork step.
  // Equals begin_round, run_client for each client in order, finish_round.
  RoundReport run_round(int64_t round) override;

  // The three phases of a round, so that the client updates can run elsewhere (fl/distributed.h).
  // begin_round: the round's K clients and their weights from one batched hypernetwork forward
  // (with the autograd graph). run_client: one client's local update, a pure function of
  // (theta, its data, seed, round, client) plus its pFedHN-PC local state. finish_round: one
  // hypernetwork step on the average of the K vector-Jacobian products; results[k] belongs to
  // plan.clients[k].
  struct RoundPlan {
    int64_t round = 0;
    std::vector<int64_t> clients;
    std::vector<models::Weights> thetas;
  };
  RoundPlan begin_round(int64_t round);
  ClientUpdateResult run_client(int64_t round, int64_t client, const models::Weights& theta);
  RoundReport finish_round(RoundPlan plan, std::vector<ClientUpdateResult> results);

  // The clients of round `round`: uniformly sampled, a pure function of (seed, round).
  std::vector<int64_t> sample_clients(int64_t round) const;

  // The client's personalised model as a function from inputs to logits, with no autograd
  // and the hypernetwork in eval mode; used by the evaluator.
  std::function<torch::Tensor(const torch::Tensor&)> client_model(int64_t client) override;
  models::ClientNetwork client_network(int64_t client) override;
  // The same in two steps: the client's weights (hypernetwork in eval mode, no autograd), and
  // the model from given weights plus the client's pFedHN-PC local layer.
  models::Weights eval_weights(int64_t client);
  std::function<torch::Tensor(const torch::Tensor&)> client_model(int64_t client,
                                                                  models::Weights weights);

  // The whole model state for checkpoints: hypernetwork parameters and buffers, the server
  // optimiser's state (momentum buffers), and each pFedHN-PC local layer with its optimiser.
  // `load` expects a trainer built from the same config; it throws c10::Error on a mismatch.
  // No generator state: every random stream derives from (seed, round, client).
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;
  std::string describe() const override;
  void adapt_novel_client(int64_t client, int64_t steps) override;

  models::HyperNetwork& hypernetwork() { return hnet_; }
  const models::HyperNetwork& hypernetwork() const { return hnet_; }
  torch::optim::SGD& server_optimizer() { return *server_opt_; }
  std::vector<LocalState>& local_states() { return locals_; }
  const std::vector<data::ClientIndices>& clients() const override { return clients_; }
  const data::DatasetSplits& data() const { return data_; }
  bool has_local_states() const { return !locals_.empty(); }
  // The target network (with model.hetero_kernels: the first width's), and one client's.
  const models::TargetSpec& target_spec() const override { return spec_; }
  const models::TargetSpec& target_spec(int64_t client) const { return hnet_->target_spec(client); }
  int64_t clients_per_round() const override { return clients_per_round_; }

 private:
  // The two ways of adapt_novel_client (config::NovelAdapt), for `rounds` rounds each.
  void adapt_by_rounds(int64_t client, int64_t rounds);
  void adapt_by_loss(int64_t client, int64_t rounds);

  models::TargetSpec spec_;
  ClientUpdateOptions client_opts_;
  double server_grad_clip_;
  int64_t clients_per_round_ = 1;
  uint64_t seed_;
  int64_t num_training_;            // clients sampled for rounds: all but the novel ones
  config::NovelAdapt novel_adapt_;  // for adapt_novel_client
  double novel_lr_;
  const data::DatasetSplits& data_;
  std::vector<data::ClientIndices> clients_;
  models::HyperNetwork hnet_{nullptr};
  std::unique_ptr<torch::optim::SGD> server_opt_;
  std::vector<LocalState> locals_;  // one per client for pFedHN-PC, empty for pFedHN
};

// Builds the target-network spec that a config describes, for the dataset `info` describes
// (images of info.height x info.width). model.target=script loads model.target_file; a bad
// module, or images too small for a built-in network, throw UserError (one line).
models::TargetSpec target_spec_from_config(const config::Config& cfg,
                                           const data::DatasetInfo& info);
// The same for a built-in dataset (the catalog's facts).
models::TargetSpec target_spec_from_config(const config::Config& cfg);

}  // namespace pfedhn::fl
