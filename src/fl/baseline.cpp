#include <numeric>

#include "pfedhn/fl/baselines.h"
#include "pfedhn/fl/trainer.h"
#include "pfedhn/models/target_init.h"
#include "pfedhn/util/rng.h"

namespace pfedhn::fl {

Baseline::Baseline(const config::Config& cfg, const data::DatasetSplits& data,
                   std::vector<data::ClientIndices> clients, torch::Device device)
    : spec_(target_spec_from_config(cfg, *data.info)),
      seed_(cfg.seed),
      data_(data),
      clients_(std::move(clients)),
      device_(device),
      clients_per_round_(cfg.client.clients_per_round),
      num_training_(num_training_clients(cfg)) {
  opts_ = client_options_from_config(cfg);
}

ClientUpdateResult Baseline::train_client(const models::Weights& weights, int64_t client,
                                          int64_t round, const ClientUpdateOptions& opts,
                                          std::initializer_list<uint64_t> ids) const {
  uint64_t stream_seed = derive_seed(
      seed_, {stream::kClientUpdate, static_cast<uint64_t>(round), static_cast<uint64_t>(client)});
  if (ids.size() > 0) stream_seed = derive_seed(stream_seed, ids);
  return client_update(spec_, weights, data_.train, clients_[static_cast<size_t>(client)].train,
                       /*local=*/nullptr, opts, stream_seed);
}

models::Weights Baseline::fine_tuned(const models::Weights& weights, int64_t client,
                                     const ClientUpdateOptions& opts) const {
  if (opts.inner_steps == 0) return weights;
  const auto update = client_update(
      spec_, weights, data_.train, clients_[static_cast<size_t>(client)].train, nullptr, opts,
      derive_seed(seed_, {stream::kEvalFineTune, static_cast<uint64_t>(client)}));
  return minus(weights, update.delta);
}

models::Weights Baseline::initial_weights(uint64_t id) const {
  auto w = models::init_target_weights(spec_, derive_seed(seed_, {stream::kTargetInit, id}));
  for (auto& t : w) t = t.to(device_);
  return w;
}

std::vector<int64_t> Baseline::round_clients(int64_t round) const {
  return sample_round_clients(seed_, round, num_training_, clients_per_round_);
}

std::vector<double> Baseline::average_weights(const std::vector<int64_t>& round_clients) const {
  std::vector<double> w;
  for (int64_t c : round_clients) {
    w.push_back(static_cast<double>(clients_[static_cast<size_t>(c)].train.numel()));
  }
  const double total = std::accumulate(w.begin(), w.end(), 0.0);
  for (auto& x : w) x /= total;
  return w;
}

std::function<torch::Tensor(const torch::Tensor&)> Baseline::client_model(int64_t client) {
  return model_of(client_network(client).weights);
}

std::function<torch::Tensor(const torch::Tensor&)> Baseline::model_of(
    models::Weights weights) const {
  return [spec = spec_, weights = std::move(weights)](const torch::Tensor& x) {
    torch::NoGradGuard no_grad;
    return models::network_forward(spec, weights, {}, x, models::Mode::kEval);
  };
}

RoundReport Baseline::federated_round(
    int64_t round, models::Weights& global,
    const std::function<ClientUpdateResult(int64_t)>& train) const {
  RoundReport report;
  report.round = round;
  report.clients = round_clients(round);
  std::vector<ClientUpdateResult> results;
  for (int64_t c : report.clients) results.push_back(train(c));
  const auto deltas = take_mean_stats(report, results);
  const auto step = weighted_sum(deltas, average_weights(report.clients));
  report.grad_norm = global_norm(step);
  global = minus(global, step);
  return report;
}

models::Weights minus(const models::Weights& w, const models::Weights& delta) {
  TORCH_CHECK(w.size() == delta.size(), "minus: ", w.size(), " vs ", delta.size(), " tensors");
  torch::NoGradGuard no_grad;
  models::Weights out;
  out.reserve(w.size());
  for (size_t i = 0; i < w.size(); ++i) out.push_back(w[i].detach() - delta[i]);
  return out;
}

models::Weights weighted_sum(const std::vector<models::Weights>& deltas,
                             const std::vector<double>& weights) {
  TORCH_CHECK(!deltas.empty() && deltas.size() == weights.size(), "weighted_sum: bad sizes");
  torch::NoGradGuard no_grad;
  models::Weights out;
  for (const auto& t : deltas[0]) out.push_back(torch::zeros_like(t));
  for (size_t k = 0; k < deltas.size(); ++k) {
    for (size_t i = 0; i < out.size(); ++i) out[i].add_(deltas[k][i], weights[k]);
  }
  return out;
}

void save_weights(torch::serialize::OutputArchive& archive, const std::string& name,
                  const models::Weights& w) {
  archive.write(name + "_count", c10::IValue(static_cast<int64_t>(w.size())));
  for (size_t i = 0; i < w.size(); ++i) {
    archive.write(name + "_" + std::to_string(i), w[i], /*is_buffer=*/true);
  }
}

void load_weights(torch::serialize::InputArchive& archive, const std::string& name,
                  models::Weights& w, const torch::Device& device) {
  c10::IValue count;
  archive.read(name + "_count", count);
  TORCH_CHECK(count.toInt() == static_cast<int64_t>(w.size()), "checkpoint holds ", count.toInt(),
              " tensors of ", name, ", the config needs ", w.size());
  for (size_t i = 0; i < w.size(); ++i) {
    torch::Tensor t;
    archive.read(name + "_" + std::to_string(i), t, /*is_buffer=*/true);
    TORCH_CHECK(t.sizes() == w[i].sizes(), name, " in the checkpoint has another shape");
    w[i] = t.to(device);
  }
}

}  // namespace pfedhn::fl
