#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace pfedhn::models {

// The two target-network families of the reference page ("Models").
enum class TargetArch {
  kLeNet,     // CIFAR: conv5x5(k) pool conv5x5(2k) pool fc120 fc84 fc(out)
  kMnistCnn,  // MNIST (Flower baseline): conv3x3(k) pool conv3x3(2k) pool conv3x3(4k) fc120 fc84
              // fc(out)
};

struct TensorSpec {
  std::string name;  // e.g. "conv1.weight"
  std::vector<int64_t> shape;
  int64_t numel() const;
};

// The ordered list of tensors a target network is made of. The hypernetwork has one head per
// entry and client updates work on vectors of tensors in this order.
struct TargetSpec {
  TargetArch arch = TargetArch::kLeNet;
  int64_t in_channels = 3;
  int64_t n_kernels = 16;
  int64_t out_dim = 10;
  int64_t image_size = 32;
  bool with_head = true;  // false for pFedHN-PC: the last layer is the client's LocalLayer
  std::vector<TensorSpec> tensors;

  int64_t num_parameters() const;
  static constexpr int64_t kFeatureDim = 84;  // width of fc2, the input of the last layer
};

using Weights = std::vector<torch::Tensor>;

TargetArch arch_for_dataset(const std::string& dataset_name);

// Builds the spec; image_size is the input's side (32 for CIFAR, 28 for MNIST).
TargetSpec make_target_spec(TargetArch arch, int64_t in_channels, int64_t n_kernels,
                            int64_t out_dim, int64_t image_size, bool with_head);

// Runs the target network on `x` ([B, C, H, W]) with the given tensors, functionally: no module
// holds the weights, so generated tensors (and their autograd graph) are used in place.
// Returns logits [B, out_dim], or fc2 features [B, 84] (after ReLU) when !spec.with_head.
torch::Tensor target_forward(const TargetSpec& spec, const Weights& w, const torch::Tensor& x);

// A client's whole network as tensors: the target network of `spec` with `weights`, and for
// pFedHN-PC (spec.with_head false) its local layer Linear(84, out_dim) as {weight, bias}.
struct ClientNetwork {
  TargetSpec spec;
  Weights weights;
  Weights local_layer;  // empty, or {weight [out_dim, 84], bias [out_dim]}
};

// Logits of `net` for `x`: target_forward, then the local layer if there is one.
torch::Tensor client_forward(const ClientNetwork& net, const torch::Tensor& x);

}  // namespace pfedhn::models
