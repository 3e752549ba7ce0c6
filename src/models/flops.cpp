#include "pfedhn/models/flops.h"

#include <vector>

namespace pfedhn::models {
namespace {

struct DenseLayer {
  int64_t forward_flops;  // per sample
  bool first;
};

// Walks the target network in order (as target_forward does) and lists its dense layers.
std::vector<DenseLayer> target_layers(const TargetSpec& spec, int64_t local_out_dim) {
  std::vector<DenseLayer> layers;
  if (spec.script) return layers;  // a scripted target's layers are not known
  int64_t height = spec.image_height, width = spec.image_width;
  for (size_t i = 0; i < spec.tensors.size(); i += 2) {
    const auto& shape = spec.tensors[i].shape;
    int64_t flops = 0;
    if (shape.size() == 4) {
      // conv: out_channels x in_channels x k x k multiply-adds at every output position.
      height = height - shape[2] + 1;
      width = width - shape[3] + 1;
      flops = 2 * shape[0] * shape[1] * shape[2] * shape[3] * height * width;
      const bool pooled = i / 2 < 2;  // both nets pool after their first two convs
      if (pooled) {
        height /= 2;
        width /= 2;
      }
    } else {
      flops = 2 * shape[0] * shape[1];
    }
    layers.push_back({flops, i == 0});
  }
  if (local_out_dim > 0) layers.push_back({2 * TargetSpec::kFeatureDim * local_out_dim, false});
  return layers;
}

}  // namespace

int64_t target_forward_flops(const TargetSpec& spec, int64_t local_out_dim) {
  int64_t total = 0;
  for (const auto& l : target_layers(spec, local_out_dim)) total += l.forward_flops;
  return total;
}

int64_t target_train_flops(const TargetSpec& spec, int64_t local_out_dim) {
  int64_t total = 0;
  for (const auto& l : target_layers(spec, local_out_dim)) {
    total += l.forward_flops * (l.first ? 2 : 3);
  }
  return total;
}

int64_t hypernetwork_forward_flops(const TargetSpec& spec, const HyperNetworkOptions& options) {
  int64_t total = 2 * options.embedding_dim * options.hidden_dim;
  total += options.n_hidden * 2 * options.hidden_dim * options.hidden_dim;
  total += 2 * options.hidden_dim * spec.num_parameters();
  return total;
}

int64_t hypernetwork_backward_flops(const TargetSpec& spec, const HyperNetworkOptions& options) {
  // Weight gradients cost one forward; input gradients one more, except into the embedding
  // row, which gets the MLP's first-layer input gradient (also one forward of that layer).
  return 2 * hypernetwork_forward_flops(spec, options);
}

}  // namespace pfedhn::models
