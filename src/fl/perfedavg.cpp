#include <fmt/format.h>

#include "pfedhn/fl/baselines.h"

namespace pfedhn::fl {

PerFedAvg::PerFedAvg(const config::Config& cfg, const data::DatasetSplits& data,
                     std::vector<data::ClientIndices> clients, torch::Device device)
    : Baseline(cfg, data, std::move(clients), device), global_(initial_weights(0)) {
  inner_ = opts_;
  inner_.inner_steps = 1;
  inner_.momentum = 0.0;
  inner_.lr = cfg.baseline.perfedavg_alpha;
  outer_ = inner_;
  outer_.lr = cfg.model.inner_lr;
}

RoundReport PerFedAvg::run_round(int64_t round) {
  return federated_round(round, global_, [&](int64_t c) {
    // First-order MAML: w <- w - beta * grad f(w - alpha * grad f(w; D), D'), one batch each.
    models::Weights w = global_;
    ClientUpdateResult sum;
    for (int64_t step = 0; step < opts_.inner_steps; ++step) {
      const auto s = static_cast<uint64_t>(step);
      const auto inner = train_client(w, c, round, inner_, {s, 0});
      const auto outer = train_client(minus(w, inner.delta), c, round, outer_, {s, 1});
      w = minus(w, outer.delta);
      sum.mean_loss += outer.mean_loss;
      sum.accuracy += outer.accuracy;
    }
    const double n = static_cast<double>(opts_.inner_steps);
    sum.mean_loss /= n;
    sum.accuracy /= n;
    for (size_t i = 0; i < w.size(); ++i) sum.delta.push_back(global_[i] - w[i]);
    return sum;
  });
}

models::ClientNetwork PerFedAvg::client_network(int64_t client) {
  return {spec_, fine_tuned(global_, client, inner_), {}};
}

void PerFedAvg::save(torch::serialize::OutputArchive& archive) const {
  save_weights(archive, "global", global_);
}

void PerFedAvg::load(torch::serialize::InputArchive& archive) {
  load_weights(archive, "global", global_, device_);
}

std::string PerFedAvg::describe() const {
  return fmt::format(
      "Per-FedAvg (first order): one global target network of {} parameters; alpha {}, beta {}",
      spec_.num_parameters(), inner_.lr, outer_.lr);
}

}  // namespace pfedhn::fl
