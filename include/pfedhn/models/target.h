#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace pfedhn::models {

class ScriptTarget;

// The two target-network families of the reference page ("Models"), and a network scripted in
// Python (models/script_target.h).
enum class TargetArch {
  kLeNet,     // CIFAR: conv5x5(k) pool conv5x5(2k) pool fc120 fc84 fc(out)
  kMnistCnn,  // MNIST (Flower baseline): conv3x3(k) pool conv3x3(2k) pool conv3x3(4k) fc120 fc84
              // fc(out)
  kScript,    // model.target=script: the module of model.target_file
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
  int64_t image_height = 32, image_width = 32;
  // false for pFedHN-PC: the last layer (a scripted target: model.local_layer) is the client's
  // LocalLayer, not generated
  bool with_head = true;
  std::vector<TensorSpec> tensors;
  // kScript only: the module, shared by every copy of the spec; the tensors above are its
  // parameters but the local layer's, in named_parameters() order.
  std::shared_ptr<const ScriptTarget> script;

  int64_t num_parameters() const;
  static constexpr int64_t kFeatureDim = 84;  // width of fc2, the input of the last layer
};

using Weights = std::vector<torch::Tensor>;

TargetArch arch_for_dataset(const std::string& dataset_name);

// Builds the spec of a built-in network for inputs of image_height x image_width (32 x 32 for
// CIFAR, 28 x 28 for MNIST). Throws std::invalid_argument when the images are too small for it.
TargetSpec make_target_spec(TargetArch arch, int64_t in_channels, int64_t n_kernels,
                            int64_t out_dim, int64_t image_height, int64_t image_width,
                            bool with_head);
// The same for square images of side `image_size`.
TargetSpec make_target_spec(TargetArch arch, int64_t in_channels, int64_t n_kernels,
                            int64_t out_dim, int64_t image_size, bool with_head);
// The spec of a scripted network: its parameters (but the local layer's) and input shape.
TargetSpec make_script_target_spec(std::shared_ptr<const ScriptTarget> script);

// Whether a network runs for training (dropout on in a scripted target) or for evaluation.
enum class Mode { kTrain, kEval };

// Runs the target network on `x` ([B, C, H, W]) with the given tensors, functionally: no module
// holds the weights, so generated tensors (and their autograd graph) are used in place.
// Returns logits [B, out_dim], or fc2 features [B, 84] (after ReLU) when !spec.with_head; a
// scripted target runs in training mode and needs spec.with_head (else use network_forward).
torch::Tensor target_forward(const TargetSpec& spec, const Weights& w, const torch::Tensor& x);

// The logits of a client's network: the target network with `w` and, for pFedHN-PC, the
// client's local tensors `local` (built-in: {weight, bias} of Linear(84, out_dim) after the
// target network; scripted: model.local_layer's parameters, in place in the module).
torch::Tensor network_forward(const TargetSpec& spec, const Weights& w, const Weights& local,
                              const torch::Tensor& x, Mode mode);

// A client's whole network as tensors: the target network of `spec` with `weights`, and for
// pFedHN-PC (spec.with_head false) its local layer (Linear(84, out_dim) as {weight, bias}, or
// a scripted target's model.local_layer).
struct ClientNetwork {
  TargetSpec spec;
  Weights weights;
  Weights local_layer;  // empty, or the local layer's tensors
};

// Logits of `net` for `x` in evaluation mode: network_forward with its local layer.
torch::Tensor client_forward(const ClientNetwork& net, const torch::Tensor& x);

}  // namespace pfedhn::models
