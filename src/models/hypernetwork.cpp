#include "pfedhn/models/hypernetwork.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>

namespace pfedhn::models {
namespace {

// PyTorch's default Linear init: kaiming_uniform(a=sqrt(5)) for the weight reduces to
// U(-1/sqrt(fan_in), 1/sqrt(fan_in)); the bias uses the same bound.
void init_linear(torch::Tensor& weight, torch::Tensor& bias, at::Generator& gen) {
  torch::NoGradGuard no_grad;
  const double bound = 1.0 / std::sqrt(static_cast<double>(weight.size(1)));
  weight.uniform_(-bound, bound, gen);
  bias.uniform_(-bound, bound, gen);
}

torch::Tensor unit_normal(int64_t n, at::Generator& gen) {
  auto t = torch::empty({n});
  t.normal_(0.0, 1.0, gen);
  return t / t.norm().clamp_min(1e-12);
}

}  // namespace

MaybeSpectralLinearImpl::MaybeSpectralLinearImpl(int64_t in_features, int64_t out_features,
                                                 bool spectral_norm)
    : spectral_norm_(spectral_norm) {
  weight = register_parameter("weight", torch::empty({out_features, in_features}));
  bias = register_parameter("bias", torch::empty({out_features}));
  if (spectral_norm_) {
    u_ = register_buffer("u", torch::empty({out_features}));
    v_ = register_buffer("v", torch::empty({in_features}));
  }
}

void MaybeSpectralLinearImpl::reset_parameters(at::Generator& gen) {
  init_linear(weight, bias, gen);
  if (spectral_norm_) {
    torch::NoGradGuard no_grad;
    u_.copy_(unit_normal(u_.size(0), gen));
    v_.copy_(unit_normal(v_.size(0), gen));
  }
}

torch::Tensor MaybeSpectralLinearImpl::normalised_weight() {
  if (is_training()) {
    // One power iteration (Miyato et al. 2018), as torch.nn.utils.spectral_norm does.
    torch::NoGradGuard no_grad;
    v_.copy_(torch::nn::functional::normalize(
        torch::mv(weight.t(), u_), torch::nn::functional::NormalizeFuncOptions().dim(0)));
    u_.copy_(torch::nn::functional::normalize(
        torch::mv(weight, v_), torch::nn::functional::NormalizeFuncOptions().dim(0)));
  }
  const auto sigma = torch::dot(u_, torch::mv(weight, v_));
  return weight / sigma;
}

torch::Tensor MaybeSpectralLinearImpl::inference_weight() const {
  if (!spectral_norm_) return weight;
  return weight / torch::dot(u_, torch::mv(weight, v_));
}

torch::Tensor MaybeSpectralLinearImpl::forward(const torch::Tensor& x) {
  return torch::linear(x, spectral_norm_ ? normalised_weight() : weight, bias);
}

HyperNetworkImpl::HyperNetworkImpl(TargetSpec spec, HyperNetworkOptions options)
    : HyperNetworkImpl(std::vector<TargetSpec>{std::move(spec)}, std::move(options)) {}

HyperNetworkImpl::HyperNetworkImpl(std::vector<TargetSpec> specs, HyperNetworkOptions options)
    : specs_(std::move(specs)), options_(std::move(options)) {
  TORCH_CHECK(!specs_.empty(), "HyperNetwork: no target spec");
  const bool hetero = !options_.client_spec.empty();
  TORCH_CHECK(hetero || specs_.size() == 1, "HyperNetwork: ", specs_.size(),
              " target specs need options.client_spec");
  TORCH_CHECK(!hetero || static_cast<int64_t>(options_.client_spec.size()) == options_.num_clients,
              "HyperNetwork: options.client_spec needs one entry per client");
  for (const int64_t s : options_.client_spec) {
    TORCH_CHECK(s >= 0 && s < static_cast<int64_t>(specs_.size()),
                "HyperNetwork: client_spec entry ", s, " names no target spec");
  }
  embeddings_ = register_parameter("embeddings",
                                   torch::empty({options_.num_clients, options_.embedding_dim}));
  int64_t in = options_.embedding_dim;
  for (int64_t i = 0; i <= options_.n_hidden; ++i) {
    mlp_.push_back(
        register_module("mlp" + std::to_string(i),
                        MaybeSpectralLinear(in, options_.hidden_dim, options_.spectral_norm)));
    in = options_.hidden_dim;
  }
  for (const auto& spec : specs_) {
    auto& heads = heads_.emplace_back();
    const std::string prefix = hetero ? "head_k" + std::to_string(spec.n_kernels) + "_" : "head_";
    for (const auto& t : spec.tensors) {
      std::string name = t.name;
      std::replace(name.begin(), name.end(), '.', '_');
      heads.push_back(register_module(
          prefix + name,
          MaybeSpectralLinear(options_.hidden_dim, t.numel(), options_.spectral_norm)));
    }
  }
}

size_t HyperNetworkImpl::spec_index(int64_t client) const {
  TORCH_CHECK(client >= 0 && client < options_.num_clients, "HyperNetwork: no client ", client);
  return options_.client_spec.empty()
             ? 0
             : static_cast<size_t>(options_.client_spec[static_cast<size_t>(client)]);
}

void HyperNetworkImpl::reset_parameters(uint64_t seed) {
  TORCH_CHECK(embeddings_.device().is_cpu(),
              "HyperNetwork::reset_parameters: initialise on the CPU, then move to the device");
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  {
    torch::NoGradGuard no_grad;
    embeddings_.normal_(0.0, 1.0, gen);
  }
  for (auto& layer : mlp_) layer->reset_parameters(gen);
  for (auto& heads : heads_) {
    for (auto& head : heads) head->reset_parameters(gen);
  }
}

Weights HyperNetworkImpl::forward(int64_t client) {
  return std::move(forward(std::vector<int64_t>{client}).front());
}

std::vector<Weights> HyperNetworkImpl::forward(const std::vector<int64_t>& clients) {
  TORCH_CHECK(!clients.empty(), "HyperNetwork::forward: no clients");
  auto idx =
      torch::tensor(clients, torch::TensorOptions().dtype(torch::kLong)).to(embeddings_.device());
  torch::Tensor h = embeddings_.index_select(0, idx);
  for (size_t i = 0; i < mlp_.size(); ++i) {
    if (i > 0) h = torch::relu(h);
    h = mlp_[i]->forward(h);
  }
  std::vector<Weights> out(clients.size());
  for (size_t s = 0; s < specs_.size(); ++s) {
    std::vector<int64_t> rows_of_spec;  // positions k of this spec's clients
    for (size_t k = 0; k < clients.size(); ++k) {
      if (spec_index(clients[k]) == s) rows_of_spec.push_back(static_cast<int64_t>(k));
    }
    if (rows_of_spec.empty()) continue;
    const torch::Tensor hs =
        rows_of_spec.size() == clients.size()
            ? h
            : h.index_select(0, torch::tensor(rows_of_spec, torch::kLong).to(h.device()));
    const TargetSpec& spec = specs_[s];
    for (const int64_t k : rows_of_spec) out[static_cast<size_t>(k)].reserve(spec.tensors.size());
    for (size_t i = 0; i < spec.tensors.size(); ++i) {
      const torch::Tensor rows = heads_[s][i]->forward(hs);  // [K_s, numel]
      for (size_t j = 0; j < rows_of_spec.size(); ++j) {
        out[static_cast<size_t>(rows_of_spec[j])].push_back(
            rows.select(0, static_cast<int64_t>(j)).view(spec.tensors[i].shape));
      }
    }
  }
  return out;
}

std::vector<torch::Tensor> HyperNetworkImpl::network_parameters() const {
  std::vector<torch::Tensor> out;
  for (const auto& item : named_parameters()) {
    if (item.key() != "embeddings") out.push_back(item.value());
  }
  return out;
}

LocalLayerImpl::LocalLayerImpl(int64_t out_dim) {
  fc = register_module("fc", torch::nn::Linear(TargetSpec::kFeatureDim, out_dim));
  tensors_ = {fc->weight, fc->bias};
}

LocalLayerImpl::LocalLayerImpl(const std::vector<TensorSpec>& tensors, const Weights& initial) {
  TORCH_CHECK(tensors.size() == initial.size(), "LocalLayer: one initial value per tensor");
  for (size_t i = 0; i < tensors.size(); ++i) {
    std::string name = tensors[i].name;
    std::replace(name.begin(), name.end(), '.', '_');
    tensors_.push_back(register_parameter(name, initial[i].detach().clone()));
  }
}

void LocalLayerImpl::reset_parameters(uint64_t seed) {
  TORCH_CHECK(fc, "LocalLayer::reset_parameters: only the built-in layer is drawn afresh");
  TORCH_CHECK(fc->weight.device().is_cpu(),
              "LocalLayer::reset_parameters: initialise on the CPU, then move to the device");
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  init_linear(fc->weight, fc->bias, gen);
}

}  // namespace pfedhn::models
