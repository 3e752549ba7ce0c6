#include "pfedhn/fl/trainer.h"

#include <fmt/format.h>

#include <chrono>

#include "pfedhn/data/catalog.h"
#include "pfedhn/fl/hetero.h"
#include "pfedhn/models/script_target.h"
#include "pfedhn/util/error.h"
#include "pfedhn/util/rng.h"

namespace pfedhn::fl {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

models::TargetSpec target_spec_from_config(const config::Config& cfg,
                                           const data::DatasetInfo& info) {
  const auto& m = cfg.model;
  if (m.target == config::TargetKind::kScript) {
    return models::make_script_target_spec(models::ScriptTarget::load(
        m.target_file, {{m.in_channels, info.height, info.width}, m.out_dim, m.local_layer}));
  }
  const models::TargetArch arch =
      m.target == config::TargetKind::kLeNet      ? models::TargetArch::kLeNet
      : m.target == config::TargetKind::kMnistCnn ? models::TargetArch::kMnistCnn
                                                  : models::arch_for_dataset(info.name);
  try {
    return models::make_target_spec(arch, m.in_channels, m.n_kernels, m.out_dim, info.height,
                                    info.width,
                                    /*with_head=*/cfg.algorithm != config::Algorithm::kPFedHNPC);
  } catch (const std::invalid_argument&) {
    throw UserError(fmt::format(
        "model.target={}: the images of dataset '{}' ({}x{}) are too small for the built-in "
        "network {}; use model.target=script with a network of your own",
        config::to_string(m.target), info.name, info.height, info.width,
        arch == models::TargetArch::kLeNet ? "lenet" : "mnist_cnn"));
  }
}

models::TargetSpec target_spec_from_config(const config::Config& cfg) {
  const auto* info = data::find_dataset(cfg.dataset.data);
  TORCH_CHECK(info != nullptr, "unknown dataset ", cfg.dataset.data);
  return target_spec_from_config(cfg, *info);
}

Trainer::Trainer(const config::Config& cfg, const data::DatasetSplits& data,
                 std::vector<data::ClientIndices> clients, torch::Device device)
    : server_grad_clip_(cfg.server.grad_clip),
      clients_per_round_(cfg.client.clients_per_round),
      seed_(cfg.seed),
      num_training_(num_training_clients(cfg)),
      novel_adapt_(cfg.novel.adapt),
      novel_lr_(cfg.effective_novel_lr()),
      data_(data),
      clients_(std::move(clients)) {
  client_opts_ = client_options_from_config(cfg);

  models::HyperNetworkOptions hopts;
  hopts.num_clients = num_clients();
  hopts.embedding_dim = cfg.effective_embedding_dim();
  hopts.hidden_dim = cfg.server.hidden_dim;
  hopts.n_hidden = cfg.model.n_hidden;
  hopts.spectral_norm = cfg.model.spec_norm;
  hopts.client_spec = hetero_assignment(cfg);
  std::vector<models::TargetSpec> specs = target_specs_from_config(cfg, *data.info);
  spec_ = specs.front();
  hnet_ = models::HyperNetwork(std::move(specs), hopts);
  hnet_->reset_parameters(derive_seed(seed_, {stream::kHypernetInit}));
  hnet_->to(device);

  ServerOptimizerOptions sopts;
  sopts.lr = cfg.server.lr;
  sopts.embed_lr = cfg.effective_embed_lr();
  sopts.momentum = cfg.server.momentum;
  sopts.weight_decay = cfg.server.wd;
  server_opt_ = make_server_optimizer(hnet_, sopts);

  if (cfg.algorithm == config::Algorithm::kPFedHNPC) {
    locals_.reserve(clients_.size());
    for (int64_t i = 0; i < num_clients(); ++i) {
      locals_.push_back(make_local_state(
          spec_, derive_seed(seed_, {stream::kLocalLayerInit, static_cast<uint64_t>(i)}),
          client_opts_, device));
    }
  }
}

std::vector<int64_t> Trainer::sample_clients(int64_t round) const {
  return sample_round_clients(seed_, round, num_training_, clients_per_round_);
}

std::string Trainer::describe() const {
  const auto& specs = hnet_->target_specs();
  std::string targets = specs.size() == 1
                            ? fmt::format("target network {} parameters", spec_.num_parameters())
                            : fmt::format("target networks of {} widths", specs.size());
  if (spec_.script) targets += " (" + spec_.script->describe() + ")";
  return fmt::format("{}; hypernetwork embedding dim {}", targets, hnet_->options().embedding_dim);
}

RoundReport Trainer::run_round(int64_t round) {
  const auto generate_start = Clock::now();
  RoundPlan plan = begin_round(round);
  const double generate_seconds = seconds_since(generate_start);
  const auto local_start = Clock::now();
  std::vector<ClientUpdateResult> results;
  results.reserve(plan.clients.size());
  for (size_t k = 0; k < plan.clients.size(); ++k) {
    results.push_back(run_client(round, plan.clients[k], plan.thetas[k]));
  }
  const double local_seconds = seconds_since(local_start);
  RoundReport report = finish_round(std::move(plan), std::move(results));
  report.generate_seconds = generate_seconds;
  report.local_seconds = local_seconds;
  return report;
}

Trainer::RoundPlan Trainer::begin_round(int64_t round) {
  RoundPlan plan;
  plan.round = round;
  plan.clients = sample_clients(round);
  hnet_->train();
  plan.thetas = hnet_->forward(plan.clients);
  return plan;
}

ClientUpdateResult Trainer::run_client(int64_t round, int64_t client,
                                       const models::Weights& theta) {
  TORCH_CHECK(client >= 0 && client < num_clients(), "run_client: no client ", client);
  LocalState* local = locals_.empty() ? nullptr : &locals_[static_cast<size_t>(client)];
  const uint64_t stream_seed = derive_seed(
      seed_, {stream::kClientUpdate, static_cast<uint64_t>(round), static_cast<uint64_t>(client)});
  return client_update(target_spec(client), theta, data_.train,
                       clients_[static_cast<size_t>(client)].train, local, client_opts_,
                       stream_seed);
}

RoundReport Trainer::finish_round(RoundPlan plan, std::vector<ClientUpdateResult> results) {
  TORCH_CHECK(results.size() == plan.clients.size(), "finish_round: one result per client");
  RoundReport report;
  report.round = plan.round;
  report.clients = std::move(plan.clients);
  const std::vector<models::Weights> deltas = take_mean_stats(report, results);
  const auto server_start = Clock::now();
  report.grad_norm = server_update(hnet_, *server_opt_, plan.thetas, deltas, server_grad_clip_);
  report.server_seconds = seconds_since(server_start);
  return report;
}

void Trainer::save(torch::serialize::OutputArchive& archive) const {
  torch::serialize::OutputArchive hnet, server_opt;
  hnet_->save(hnet);
  server_opt_->save(server_opt);
  archive.write("hypernetwork", hnet);
  archive.write("server_optimizer", server_opt);
  archive.write("num_locals", c10::IValue(static_cast<int64_t>(locals_.size())));
  for (size_t i = 0; i < locals_.size(); ++i) {
    torch::serialize::OutputArchive layer, opt;
    locals_[i].layer->save(layer);
    locals_[i].optimizer->save(opt);
    archive.write("local_layer_" + std::to_string(i), layer);
    archive.write("local_optimizer_" + std::to_string(i), opt);
  }
}

namespace {

// torch's Module::load adopts whatever shapes the archive holds; a checkpoint must not.
void load_same_shapes(torch::nn::Module& module, torch::serialize::InputArchive& archive,
                      const std::string& what) {
  std::vector<std::vector<int64_t>> before;
  for (const auto& t : module.parameters()) before.push_back(t.sizes().vec());
  for (const auto& t : module.buffers()) before.push_back(t.sizes().vec());
  module.load(archive);
  size_t i = 0;
  for (const auto& t : module.parameters()) {
    TORCH_CHECK(t.sizes().vec() == before[i++], what, " in the checkpoint has another shape");
  }
  for (const auto& t : module.buffers()) {
    TORCH_CHECK(t.sizes().vec() == before[i++], what, " in the checkpoint has another shape");
  }
}

}  // namespace

void Trainer::load(torch::serialize::InputArchive& archive) {
  c10::IValue num_locals;
  archive.read("num_locals", num_locals);
  TORCH_CHECK(num_locals.toInt() == static_cast<int64_t>(locals_.size()), "checkpoint holds ",
              num_locals.toInt(), " local layers, the config needs ", locals_.size());
  torch::serialize::InputArchive hnet, server_opt;
  archive.read("hypernetwork", hnet);
  archive.read("server_optimizer", server_opt);
  load_same_shapes(
      *hnet_, hnet,
      "the hypernetwork");  // parameters keep their identity, so the optimiser still refers to them
  server_opt_->load(server_opt);
  for (size_t i = 0; i < locals_.size(); ++i) {
    torch::serialize::InputArchive layer, opt;
    archive.read("local_layer_" + std::to_string(i), layer);
    archive.read("local_optimizer_" + std::to_string(i), opt);
    load_same_shapes(*locals_[i].layer, layer, "a local layer");
    locals_[i].optimizer->load(opt);
  }
}

models::Weights Trainer::eval_weights(int64_t client) {
  torch::NoGradGuard no_grad;
  hnet_->eval();
  return hnet_->forward(client);
}

std::function<torch::Tensor(const torch::Tensor&)> Trainer::client_model(int64_t client) {
  return client_model(client, eval_weights(client));
}

models::ClientNetwork Trainer::client_network(int64_t client) {
  models::ClientNetwork net{target_spec(client), eval_weights(client), {}};
  if (!locals_.empty()) {
    for (const auto& t : locals_[static_cast<size_t>(client)].layer->tensors()) {
      net.local_layer.push_back(t.detach());
    }
  }
  return net;
}

std::function<torch::Tensor(const torch::Tensor&)> Trainer::client_model(int64_t client,
                                                                         models::Weights weights) {
  models::LocalLayer local =
      locals_.empty() ? models::LocalLayer(nullptr) : locals_[static_cast<size_t>(client)].layer;
  return [spec = target_spec(client), weights = std::move(weights),
          local](const torch::Tensor& x) mutable {
    torch::NoGradGuard no_grad;
    return models::network_forward(spec, weights, local ? local->tensors() : models::Weights{}, x,
                                   models::Mode::kEval);
  };
}

}  // namespace pfedhn::fl
