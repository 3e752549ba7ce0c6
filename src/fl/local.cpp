#include <fmt/format.h>

#include "pfedhn/fl/baselines.h"

namespace pfedhn::fl {

LocalTraining::LocalTraining(const config::Config& cfg, const data::DatasetSplits& data,
                             std::vector<data::ClientIndices> clients, torch::Device device)
    : Baseline(cfg, data, std::move(clients), device) {
  for (int64_t c = 0; c < num_clients(); ++c) {
    locals_.push_back(initial_weights(1 + static_cast<uint64_t>(c)));
  }
}

RoundReport LocalTraining::run_round(int64_t round) {
  RoundReport report;
  report.round = round;
  report.clients = round_clients(round);
  std::vector<ClientUpdateResult> results;
  for (int64_t c : report.clients) {
    auto& w = locals_[static_cast<size_t>(c)];
    results.push_back(train_client(w, c, round, opts_));
    w = minus(w, results.back().delta);
    report.grad_norm += global_norm(results.back().delta);
  }
  take_mean_stats(report, results);
  return report;
}

models::ClientNetwork LocalTraining::client_network(int64_t client) {
  return {spec_, locals_[static_cast<size_t>(client)], {}};
}

void LocalTraining::save(torch::serialize::OutputArchive& archive) const {
  for (size_t c = 0; c < locals_.size(); ++c) {
    save_weights(archive, "local_" + std::to_string(c), locals_[c]);
  }
}

void LocalTraining::load(torch::serialize::InputArchive& archive) {
  for (size_t c = 0; c < locals_.size(); ++c) {
    load_weights(archive, "local_" + std::to_string(c), locals_[c], device_);
  }
}

std::string LocalTraining::describe() const {
  return fmt::format("local training: {} separate target networks of {} parameters", num_clients(),
                     spec_.num_parameters());
}

}  // namespace pfedhn::fl
