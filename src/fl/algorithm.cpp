#include "pfedhn/fl/algorithm.h"

#include "pfedhn/fl/baselines.h"
#include "pfedhn/fl/trainer.h"
#include "pfedhn/util/rng.h"

namespace pfedhn::fl {

std::unique_ptr<Algorithm> make_algorithm(const config::Config& cfg,
                                          const data::DatasetSplits& data,
                                          std::vector<data::ClientIndices> clients,
                                          torch::Device device) {
  using config::Algorithm;
  switch (cfg.algorithm) {
    case Algorithm::kPFedHN:
    case Algorithm::kPFedHNPC:
      return std::make_unique<Trainer>(cfg, data, std::move(clients), device);
    case Algorithm::kLocal:
      return std::make_unique<LocalTraining>(cfg, data, std::move(clients), device);
    case Algorithm::kFedAvg:
      return std::make_unique<FedAvg>(cfg, data, std::move(clients), device, 0);
    case Algorithm::kFedAvgFT:
      return std::make_unique<FedAvg>(cfg, data, std::move(clients), device,
                                      cfg.baseline.finetune_steps);
    case Algorithm::kPerFedAvg:
      return std::make_unique<PerFedAvg>(cfg, data, std::move(clients), device);
    case Algorithm::kFedPer:
      return std::make_unique<FedPer>(cfg, data, std::move(clients), device);
  }
  TORCH_CHECK(false, "make_algorithm: unknown algorithm");
}

ClientUpdateOptions client_options_from_config(const config::Config& cfg) {
  ClientUpdateOptions opts;
  opts.inner_steps = cfg.client.num_epochs;
  opts.batch_size = cfg.client.batch_size;
  opts.lr = cfg.model.inner_lr;
  opts.momentum = cfg.model.inner_momentum;
  opts.weight_decay = cfg.model.wd;
  opts.grad_clip = cfg.model.inner_grad_clip;
  return opts;
}

std::vector<models::Weights> take_mean_stats(RoundReport& report,
                                             std::vector<ClientUpdateResult>& results) {
  TORCH_CHECK(!results.empty(), "take_mean_stats: no client updates");
  std::vector<models::Weights> deltas;
  deltas.reserve(results.size());
  report.loss = report.accuracy = 0.0;
  for (auto& r : results) {
    report.loss += r.mean_loss;
    report.accuracy += r.accuracy;
    deltas.push_back(std::move(r.delta));
  }
  const double k = static_cast<double>(results.size());
  report.loss /= k;
  report.accuracy /= k;
  return deltas;
}

std::vector<int64_t> sample_round_clients(uint64_t seed, int64_t round, int64_t num_clients,
                                          int64_t k) {
  Rng rng(derive_seed(seed, {stream::kClientSampling, static_cast<uint64_t>(round)}));
  std::vector<int64_t> scratch, out(static_cast<size_t>(k));
  rng.sample_without_replacement(num_clients, k, scratch, out.data());
  return out;
}

}  // namespace pfedhn::fl
