#include <fmt/format.h>

#include "pfedhn/fl/baselines.h"

namespace pfedhn::fl {

FedAvg::FedAvg(const config::Config& cfg, const data::DatasetSplits& data,
               std::vector<data::ClientIndices> clients, torch::Device device,
               int64_t finetune_steps)
    : Baseline(cfg, data, std::move(clients), device),
      global_(initial_weights(0)),
      finetune_steps_(finetune_steps) {}

RoundReport FedAvg::run_round(int64_t round) {
  return federated_round(round, global_,
                         [&](int64_t c) { return train_client(global_, c, round, opts_); });
}

models::ClientNetwork FedAvg::client_network(int64_t client) {
  ClientUpdateOptions ft = opts_;
  ft.inner_steps = finetune_steps_;
  return {spec_, fine_tuned(global_, client, ft), {}};
}

void FedAvg::save(torch::serialize::OutputArchive& archive) const {
  save_weights(archive, "global", global_);
}

void FedAvg::load(torch::serialize::InputArchive& archive) {
  load_weights(archive, "global", global_, device_);
}

std::string FedAvg::describe() const {
  return fmt::format(
      "FedAvg: one global target network of {} parameters{}", spec_.num_parameters(),
      finetune_steps_ > 0
          ? fmt::format(", fine-tuned {} steps per client before evaluation", finetune_steps_)
          : "");
}

}  // namespace pfedhn::fl
