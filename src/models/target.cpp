#include "pfedhn/models/target.h"

#include <numeric>
#include <stdexcept>

#include "pfedhn/models/ops.h"

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

}  // namespace

TargetSpec make_target_spec(TargetArch arch, int64_t in_channels, int64_t n_kernels,
                            int64_t out_dim, int64_t image_size, bool with_head) {
  TargetSpec spec;
  spec.arch = arch;
  spec.in_channels = in_channels;
  spec.n_kernels = n_kernels;
  spec.out_dim = out_dim;
  spec.image_size = image_size;
  spec.with_head = with_head;
  const int64_t k = n_kernels;
  int64_t flat = 0;
  if (arch == TargetArch::kLeNet) {
    add_layer(spec.tensors, "conv1", {k, in_channels, 5, 5});
    add_layer(spec.tensors, "conv2", {2 * k, k, 5, 5});
    const int64_t side = pool_out(conv_out(pool_out(conv_out(image_size, 5)), 5));
    flat = 2 * k * side * side;
  } else {
    add_layer(spec.tensors, "conv1", {k, in_channels, 3, 3});
    add_layer(spec.tensors, "conv2", {2 * k, k, 3, 3});
    add_layer(spec.tensors, "conv3", {4 * k, 2 * k, 3, 3});
    const int64_t side = conv_out(pool_out(conv_out(pool_out(conv_out(image_size, 3)), 3)), 3);
    flat = 4 * k * side * side;
  }
  if (flat <= 0) throw std::invalid_argument("make_target_spec: image too small for the network");
  add_layer(spec.tensors, "fc1", {120, flat});
  add_layer(spec.tensors, "fc2", {TargetSpec::kFeatureDim, 120});
  if (with_head) add_layer(spec.tensors, "fc3", {out_dim, TargetSpec::kFeatureDim});
  return spec;
}

torch::Tensor target_forward(const TargetSpec& spec, const Weights& w, const torch::Tensor& x) {
  TORCH_CHECK(w.size() == spec.tensors.size(), "target_forward: expected ", spec.tensors.size(),
              " tensors, got ", w.size());
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

torch::Tensor client_forward(const ClientNetwork& net, const torch::Tensor& x) {
  const auto out = target_forward(net.spec, net.weights, x);
  if (net.local_layer.empty()) return out;
  TORCH_CHECK(net.local_layer.size() == 2, "client_forward: the local layer is {weight, bias}");
  return torch::linear(out, net.local_layer[0], net.local_layer[1]);
}

}  // namespace pfedhn::models
