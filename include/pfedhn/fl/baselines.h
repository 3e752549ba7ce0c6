#pragma once

// The baselines of the paper's Table 1, in pfedhn's harness: the same partitions, the same
// target networks, the same client training code (client_update: SGD with the model.inner_*
// settings, batches from the (seed, round, client) stream that pFedHN uses too), the same
// round structure (one sampled client per round, client.num_epochs steps) and the same
// evaluation. Only what the server keeps and sends differs.

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "pfedhn/config/config.h"
#include "pfedhn/data/dataset.h"
#include "pfedhn/data/partition.h"
#include "pfedhn/fl/algorithm.h"
#include "pfedhn/fl/client_update.h"
#include "pfedhn/fl/sgd.h"
#include "pfedhn/models/target.h"

namespace pfedhn::fl {

// What every baseline shares: data, spec, client options, and helpers for training a client,
// building its evaluation model and checkpointing weight vectors.
class Baseline : public Algorithm {
 public:
  const std::vector<data::ClientIndices>& clients() const override { return clients_; }
  const models::TargetSpec& target_spec() const override { return spec_; }
  int64_t clients_per_round() const override { return clients_per_round_; }
  // The target network of client_network(client), without autograd.
  std::function<torch::Tensor(const torch::Tensor&)> client_model(int64_t client) final;

 protected:
  Baseline(const config::Config& cfg, const data::DatasetSplits& data,
           std::vector<data::ClientIndices> clients, torch::Device device);

  // client_update of `client` from `weights`, with the round's stream; `ids` are appended to
  // (round, client) to tell several updates of one round apart.
  ClientUpdateResult train_client(const models::Weights& weights, int64_t client, int64_t round,
                                  const ClientUpdateOptions& opts,
                                  std::initializer_list<uint64_t> ids = {}) const;
  // `weights` fine-tuned on the client's training data with `opts` before an evaluation
  // (stream kEvalFineTune: the same batches at every evaluation).
  models::Weights fine_tuned(const models::Weights& weights, int64_t client,
                             const ClientUpdateOptions& opts) const;
  // A fresh target network on the device: id 0 for a global model, 1 + client for a client's.
  models::Weights initial_weights(uint64_t id) const;
  // The round's clients, and their weights for averaging (train samples, summing to 1).
  std::vector<int64_t> round_clients(int64_t round) const;
  std::vector<double> average_weights(const std::vector<int64_t>& round_clients) const;
  std::function<torch::Tensor(const torch::Tensor&)> model_of(models::Weights weights) const;
  // The FedAvg round: `train(c)` runs client c's local training from `global` and returns its
  // update; `global` then moves by the sample-weighted mean of the round's deltas.
  RoundReport federated_round(int64_t round, models::Weights& global,
                              const std::function<ClientUpdateResult(int64_t)>& train) const;

  models::TargetSpec spec_;
  ClientUpdateOptions opts_;
  uint64_t seed_;
  const data::DatasetSplits& data_;
  std::vector<data::ClientIndices> clients_;
  torch::Device device_;
  int64_t clients_per_round_;
  int64_t num_training_;  // clients sampled for rounds: all but the novel ones
};

// w - delta, and the sum of `weights[k] * deltas[k]` (k over a round's clients).
models::Weights minus(const models::Weights& w, const models::Weights& delta);
models::Weights weighted_sum(const std::vector<models::Weights>& deltas,
                             const std::vector<double>& weights);

// Checkpoint helpers: tensors under "<name>_<i>"; load checks count and shapes (c10::Error)
// and moves them to `device`.
void save_weights(torch::serialize::OutputArchive& archive, const std::string& name,
                  const models::Weights& w);
void load_weights(torch::serialize::InputArchive& archive, const std::string& name,
                  models::Weights& w, const torch::Device& device);

// Local: each client trains its own target network alone; nothing is shared.
class LocalTraining : public Baseline {
 public:
  LocalTraining(const config::Config& cfg, const data::DatasetSplits& data,
                std::vector<data::ClientIndices> clients, torch::Device device);
  RoundReport run_round(int64_t round) override;
  models::ClientNetwork client_network(int64_t client) override;
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;
  std::string describe() const override;
  const models::Weights& client_weights(int64_t client) const {
    return locals_[static_cast<size_t>(client)];
  }

 private:
  std::vector<models::Weights> locals_;
};

// FedAvg (McMahan et al. 2017): the round's clients train the global network; the server
// replaces it by the average of their models weighted by training samples. With
// `finetune_steps` > 0 (fedavg_ft) each client first fine-tunes the global network for that
// many SGD steps on its training data before it is evaluated.
class FedAvg : public Baseline {
 public:
  FedAvg(const config::Config& cfg, const data::DatasetSplits& data,
         std::vector<data::ClientIndices> clients, torch::Device device, int64_t finetune_steps);
  RoundReport run_round(int64_t round) override;
  models::ClientNetwork client_network(int64_t client) override;
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;
  std::string describe() const override;
  const models::Weights& global_weights() const { return global_; }

 private:
  models::Weights global_;
  int64_t finetune_steps_;
};

// Per-FedAvg, first-order (Fallah et al. 2020): each local step takes one batch for an inner
// step with lr alpha and a second batch for the outer step with lr model.inner_lr, applied at
// the starting point (the first-order MAML update); the server averages as FedAvg. Before
// evaluation each client personalises the global network with one step of lr alpha.
class PerFedAvg : public Baseline {
 public:
  PerFedAvg(const config::Config& cfg, const data::DatasetSplits& data,
            std::vector<data::ClientIndices> clients, torch::Device device);
  RoundReport run_round(int64_t round) override;
  models::ClientNetwork client_network(int64_t client) override;
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;
  std::string describe() const override;

 private:
  models::Weights global_;
  ClientUpdateOptions inner_, outer_;  // one SGD step each, no momentum
};

// FedPer (Arivazhagan et al. 2019): the body (every layer but the last) is averaged as in
// FedAvg; each client keeps its own last layer, which never leaves it.
class FedPer : public Baseline {
 public:
  FedPer(const config::Config& cfg, const data::DatasetSplits& data,
         std::vector<data::ClientIndices> clients, torch::Device device);
  RoundReport run_round(int64_t round) override;
  models::ClientNetwork client_network(int64_t client) override;
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;
  std::string describe() const override;

 private:
  models::Weights with_head(int64_t client) const;
  models::Weights body_;
  std::vector<models::Weights> heads_;  // fc3 weight and bias, one pair per client
};

}  // namespace pfedhn::fl
