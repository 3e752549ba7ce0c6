#include "pfedhn/models/target.h"

#include <numeric>
#include <stdexcept>

#include "pfedhn/models/ops.h"
#include "pfedhn/models/script_target.h"

namespace pfedhn::models {

int64_t TensorSpec::numel() const {
  return std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<>());
}

int64_t TargetSpec::num_parameters() const {
  int64_t total = 0;
  for (const auto& t : tensors) total += t.numel();
  return total;
}

TargetArch arch_for_dataset(const std::string& dataset_name) {
  return (dataset_name == "mnist" || dataset_name == "fashion_mnist") ? TargetArch::kMnistCnn
                                                                      : TargetArch::kLeNet;
}

namespace {

void add_layer(std::vector<TensorSpec>& out, const std::string& name,
               std::vector<int64_t> weight_shape) {
  const int64_t out_features = weight_shape.front();
  out.push_back({name + ".weight", std::move(weight_shape)});
  out.push_back({name + ".bias", {out_features}});
}

// Side length after a valid (unpadded) convolution and a 2x2 max-pool.
int64_t conv_out(int64_t side, int64_t kernel) {
  return side - kernel + 1;
}
int64_t pool_out(int64_t side) {
  return side / 2;
}

// The side of the feature maps the built-in network flattens, for an input side.
int64_t flattened_side(TargetArch arch, int64_t side) {
  if (arch == TargetArch::kLeNet) return pool_out(conv_out(pool_out(conv_out(side, 5)), 5));
  return conv_out(pool_out(conv_out(pool_out(conv_out(side, 3)), 3)), 3);
}

}  // namespace

TargetSpec make_target_spec(TargetArch arch, int64_t in_channels, int64_t n_kernels,
                            int64_t out_dim, int64_t image_height, int64_t image_width,
                            bool with_head) {
  if (arch == TargetArch::kScript) {
    throw std::invalid_argument("make_target_spec: a scripted target needs its module");
  }
  TargetSpec spec;
  spec.arch = arch;
  spec.in_channels = in_channels;
  spec.n_kernels = n_kernels;
  spec.out_dim = out_dim;
  spec.image_height = image_height;
  spec.image_width = image_width;
  spec.with_head = with_head;
  const int64_t k = n_kernels;
  const int64_t side_h = flattened_side(arch, image_height);
  const int64_t side_w = flattened_side(arch, image_width);
  if (side_h <= 0 || side_w <= 0) {
    throw std::invalid_argument("make_target_spec: image too small for the network");
  }
  if (arch == TargetArch::kLeNet) {
    add_layer(spec.tensors, "conv1", {k, in_channels, 5, 5});
    add_layer(spec.tensors, "conv2", {2 * k, k, 5, 5});
  } else {
    add_layer(spec.tensors, "conv1", {k, in_channels, 3, 3});
    add_layer(spec.tensors, "conv2", {2 * k, k, 3, 3});
    add_layer(spec.tensors, "conv3", {4 * k, 2 * k, 3, 3});
  }
  const int64_t flat = (arch == TargetArch::kLeNet ? 2 : 4) * k * side_h * side_w;
  add_layer(spec.tensors, "fc1", {120, flat});
  add_layer(spec.tensors, "fc2", {TargetSpec::kFeatureDim, 120});
  if (with_head) add_layer(spec.tensors, "fc3", {out_dim, TargetSpec::kFeatureDim});
  return spec;
}

TargetSpec make_target_spec(TargetArch arch, int64_t in_channels, int64_t n_kernels,
                            int64_t out_dim, int64_t image_size, bool with_head) {
  return make_target_spec(arch, in_channels, n_kernels, out_dim, image_size, image_size, with_head);
}

TargetSpec make_script_target_spec(std::shared_ptr<const ScriptTarget> script) {
  TargetSpec spec;
  spec.arch = TargetArch::kScript;
  const auto& input = script->input_shape();
  spec.in_channels = input[0];
  spec.image_height = input[1];
  spec.image_width = input[2];
  spec.n_kernels = 0;
  spec.out_dim = script->num_classes();
  spec.with_head = script->local_tensors().empty();
  spec.tensors = script->generated_tensors();
  spec.script = std::move(script);
  return spec;
}

torch::Tensor target_forward(const TargetSpec& spec, const Weights& w, const torch::Tensor& x) {
  TORCH_CHECK(w.size() == spec.tensors.size(), "target_forward: expected ", spec.tensors.size(),
              " tensors, got ", w.size());
  if (spec.script) return spec.script->forward(w, {}, x, Mode::kTrain);
  size_t i = 0;
  // The one-channel kernel takes the first layer of MNIST-shaped inputs (see ops.h).
  auto conv = [&](const torch::Tensor& in) {
    auto out = conv2d_one_channel_supports(in, w[i], w[i + 1])
                   ? conv2d_one_channel(in, w[i], w[i + 1])
                   : torch::conv2d(in, w[i], w[i + 1]);
    i += 2;
    return out;
  };
  auto linear = [&](const torch::Tensor& in) {
    auto out = torch::linear(in, w[i], w[i + 1]);
    i += 2;
    return out;
  };

  // Channels-last activations let oneDNN convolve without reordering to and from its blocked
  // layout. ReLU and max-pool commute, function and gradient alike (max_pool2d routes the
  // gradient to the first maximum; the ReLU then drops it where that maximum is <= 0, as
  // relu-then-pool does), so both run in one pass over the conv output: relu_max_pool2x2, whose
  // branch-free kernel measured 2x LibTorch's channels-last pool + ReLU at CIFAR's 16 and 32
  // channels and 4x or more at MNIST's 7 (where LibTorch's pool does not vectorise).
  // With one input channel, NCHW and channels-last are the same memory and oneDNN answers in
  // NCHW, hence the explicit layout before pooling (a no-op when already channels-last).
  auto relu_pool = [](const torch::Tensor& in) {
    const auto cl = in.contiguous(at::MemoryFormat::ChannelsLast);
    return relu_max_pool2x2_supports(cl) ? relu_max_pool2x2(cl)
                                         : torch::relu(torch::max_pool2d(cl, 2));
  };
  torch::Tensor h = x.contiguous(at::MemoryFormat::ChannelsLast);
  h = relu_pool(conv(h));
  h = relu_pool(conv(h));
  if (spec.arch == TargetArch::kMnistCnn) h = torch::relu(conv(h));
  h = h.flatten(1);  // in (C, H, W) order whatever the memory layout, as the weights expect
  h = torch::relu(linear(h));
  h = torch::relu(linear(h));
  return spec.with_head ? linear(h) : h;
}

torch::Tensor network_forward(const TargetSpec& spec, const Weights& w, const Weights& local,
                              const torch::Tensor& x, Mode mode) {
  if (spec.script) return spec.script->forward(w, local, x, mode);
  const auto out = target_forward(spec, w, x);
  if (local.empty()) return out;
  TORCH_CHECK(local.size() == 2, "network_forward: the local layer is {weight, bias}");
  return torch::linear(out, local[0], local[1]);
}

torch::Tensor client_forward(const ClientNetwork& net, const torch::Tensor& x) {
  return network_forward(net.spec, net.weights, net.local_layer, x, Mode::kEval);
}

}  // namespace pfedhn::models
