#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "pfedhn/models/target.h"

namespace pfedhn::models {

// A linear layer whose weight may be spectrally normalised like torch.nn.utils.spectral_norm:
// W / sigma(W), sigma estimated by one power iteration per forward in training mode (the
// vectors u, v are buffers, so they are saved with the module and frozen in eval mode).
class MaybeSpectralLinearImpl : public torch::nn::Module {
 public:
  MaybeSpectralLinearImpl(int64_t in_features, int64_t out_features, bool spectral_norm);
  torch::Tensor forward(const torch::Tensor& x);
  // PyTorch's default Linear init (weight and bias ~ U(-1/sqrt(in), 1/sqrt(in))), drawn from
  // `gen`; u, v ~ normalised N(0, 1).
  void reset_parameters(at::Generator& gen);
  // The weight an eval-mode forward multiplies by: W / sigma(W) with the stored u, v under
  // spectral norm, else W.
  torch::Tensor inference_weight() const;

  torch::Tensor weight, bias;

 private:
  torch::Tensor normalised_weight();
  bool spectral_norm_;
  torch::Tensor u_, v_;
};
TORCH_MODULE(MaybeSpectralLinear);

struct HyperNetworkOptions {
  int64_t num_clients = 50;
  int64_t embedding_dim = 13;
  int64_t hidden_dim = 100;
  int64_t n_hidden = 3;
  bool spectral_norm = false;
  // Heterogeneous target networks only (several specs): client c gets specs[client_spec[c]];
  // one entry per client. Empty when every client has the one spec.
  std::vector<int64_t> client_spec;
};

// h(v_i; phi): client embedding -> MLP -> one linear head per target tensor (reference page,
// "Hypernetwork"). Parameters are registered as "embeddings", "mlp<i>.*" and "head_<tensor>.*".
//
// Heterogeneous target networks (paper Section 5.2): with several specs (e.g. the same network
// with 8, 16 and 32 kernels) the shared embedding and MLP feed one set of heads per spec,
// "head_k<n_kernels>_<tensor>.*"; a client's weights come from the heads of its own spec only,
// so the gradient of a round reaches only the heads of the specs its clients have.
class HyperNetworkImpl : public torch::nn::Module {
 public:
  HyperNetworkImpl(TargetSpec spec, HyperNetworkOptions options);
  // Several target specs of distinct n_kernels; options.client_spec says whose is whose.
  HyperNetworkImpl(std::vector<TargetSpec> specs, HyperNetworkOptions options);

  // The target tensors for `client`, with the autograd graph back to the parameters.
  // Equals forward({client})[0] bit for bit.
  Weights forward(int64_t client);

  // The target tensors of several clients from ONE batched pass: their embeddings stacked
  // [K, d] through the MLP and the heads; result k belongs to clients[k]. (With spectral norm,
  // one power iteration per call, not per client.) With several specs, each spec's heads run
  // once on the rows of that spec's clients; clients of different specs may be mixed.
  std::vector<Weights> forward(const std::vector<int64_t>& clients);

  // Re-draws every parameter from a generator seeded with `seed` (PyTorch's default inits:
  // embeddings ~ N(0, 1), linears as in MaybeSpectralLinear), so initialisation depends only on
  // the seed, never on global state or construction order. Call it while on the CPU.
  void reset_parameters(uint64_t seed);

  // The embedding table alone, and every other parameter, for the two optimiser groups.
  std::vector<torch::Tensor> embedding_parameters() const { return {embeddings_}; }
  std::vector<torch::Tensor> network_parameters() const;

  // The first (with one spec: the only) target spec, and the spec of one client.
  const TargetSpec& target_spec() const { return specs_.front(); }
  const TargetSpec& target_spec(int64_t client) const { return specs_[spec_index(client)]; }
  const std::vector<TargetSpec>& target_specs() const { return specs_; }
  size_t spec_index(int64_t client) const;
  const HyperNetworkOptions& options() const { return options_; }
  // The layers, for exporting them (the MLP in order; spec s's heads in target-tensor order).
  const torch::Tensor& embeddings() const { return embeddings_; }
  const std::vector<MaybeSpectralLinear>& mlp_layers() const { return mlp_; }
  const std::vector<MaybeSpectralLinear>& head_layers(size_t spec) const { return heads_.at(spec); }

 private:
  std::vector<TargetSpec> specs_;
  HyperNetworkOptions options_;
  torch::Tensor embeddings_;
  std::vector<MaybeSpectralLinear> mlp_;
  std::vector<std::vector<MaybeSpectralLinear>> heads_;  // [spec][target tensor]
};
TORCH_MODULE(HyperNetwork);

// pFedHN-PC's personal layer, owned by one client, never sent: the built-in targets' classifier
// Linear(84, out_dim), or a scripted target's model.local_layer.
class LocalLayerImpl : public torch::nn::Module {
 public:
  explicit LocalLayerImpl(int64_t out_dim);
  // A scripted target's local layer: one parameter per tensor (named with '.' as '_'),
  // starting from copies of `initial`.
  LocalLayerImpl(const std::vector<TensorSpec>& tensors, const Weights& initial);
  torch::Tensor forward(const torch::Tensor& features) { return fc->forward(features); }
  void reset_parameters(uint64_t seed);  // built-in only
  // The tensors network_forward takes as the local layer: {fc.weight, fc.bias}, or the
  // scripted layer's in named_parameters() order. They are the module's parameters.
  const Weights& tensors() const { return tensors_; }
  torch::nn::Linear fc{nullptr};  // built-in only

 private:
  Weights tensors_;
};
TORCH_MODULE(LocalLayer);

}  // namespace pfedhn::models
