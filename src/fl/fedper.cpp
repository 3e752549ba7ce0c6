#include <fmt/format.h>

#include "pfedhn/fl/baselines.h"

namespace pfedhn::fl {
namespace {
constexpr size_t kHeadTensors = 2;  // the last layer's weight and bias
}

FedPer::FedPer(const config::Config& cfg, const data::DatasetSplits& data,
               std::vector<data::ClientIndices> clients, torch::Device device)
    : Baseline(cfg, data, std::move(clients), device) {
  body_ = initial_weights(0);
  body_.resize(body_.size() - kHeadTensors);
  for (int64_t c = 0; c < num_clients(); ++c) {
    auto w = initial_weights(1 + static_cast<uint64_t>(c));
    heads_.emplace_back(w.end() - kHeadTensors, w.end());
  }
}

models::Weights FedPer::with_head(int64_t client) const {
  models::Weights w = body_;
  const auto& head = heads_[static_cast<size_t>(client)];
  w.insert(w.end(), head.begin(), head.end());
  return w;
}

RoundReport FedPer::run_round(int64_t round) {
  return federated_round(round, body_, [&](int64_t c) {
    auto update = train_client(with_head(c), c, round, opts_);
    auto& head = heads_[static_cast<size_t>(c)];
    const models::Weights head_delta(update.delta.end() - kHeadTensors, update.delta.end());
    head = minus(head, head_delta);  // the head stays with the client
    update.delta.resize(update.delta.size() - kHeadTensors);
    return update;
  });
}

models::ClientNetwork FedPer::client_network(int64_t client) {
  return {spec_, with_head(client), {}};
}

void FedPer::save(torch::serialize::OutputArchive& archive) const {
  save_weights(archive, "body", body_);
  for (size_t c = 0; c < heads_.size(); ++c) {
    save_weights(archive, "head_" + std::to_string(c), heads_[c]);
  }
}

void FedPer::load(torch::serialize::InputArchive& archive) {
  load_weights(archive, "body", body_, device_);
  for (size_t c = 0; c < heads_.size(); ++c) {
    load_weights(archive, "head_" + std::to_string(c), heads_[c], device_);
  }
}

std::string FedPer::describe() const {
  return fmt::format(
      "FedPer: shared body of {} parameters, a personal last layer per client",
      spec_.num_parameters() - heads_.front()[0].numel() - heads_.front()[1].numel());
}

}  // namespace pfedhn::fl
