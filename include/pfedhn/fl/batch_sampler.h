#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "pfedhn/util/rng.h"

namespace pfedhn::fl {

// A client's minibatches: each call draws `batch_size` distinct positions of the client's
// training indices (all of them when it has fewer) from Rng(seed) and maps them to dataset
// indices. The sequence is a pure function of (client indices, batch size, seed).
class BatchSampler {
 public:
  BatchSampler(const torch::Tensor& client_indices, int64_t batch_size, uint64_t seed);

  // Fills and returns a CPU int64 tensor of dataset indices (reused by the next call).
  const torch::Tensor& next();

 private:
  torch::Tensor indices_;
  int64_t batch_;
  Rng rng_;
  std::vector<int64_t> scratch_;
  std::vector<int64_t> positions_;
  torch::Tensor batch_indices_;
};

}  // namespace pfedhn::fl
