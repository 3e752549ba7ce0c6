#pragma once

// Label tensors for the partition tests.

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "pfedhn/util/rng.h"

namespace pfedhn::data::testing {

// `per_class` samples of each class, in a seeded random order.
inline torch::Tensor shuffled_labels(int64_t num_classes, int64_t per_class, uint64_t seed) {
  std::vector<int64_t> y;
  for (int64_t c = 0; c < num_classes; ++c) y.insert(y.end(), static_cast<size_t>(per_class), c);
  Rng rng(seed);
  rng.shuffle(y);
  return torch::tensor(y, torch::kInt64);
}

}  // namespace pfedhn::data::testing
