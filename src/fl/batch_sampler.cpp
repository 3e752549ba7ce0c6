#include "pfedhn/fl/batch_sampler.h"

#include <algorithm>

namespace pfedhn::fl {

BatchSampler::BatchSampler(const torch::Tensor& client_indices, int64_t batch_size, uint64_t seed)
    : indices_(client_indices.to(torch::kCPU).contiguous()),
      batch_(std::min<int64_t>(batch_size, indices_.size(0))),
      rng_(seed),
      positions_(static_cast<size_t>(batch_)),
      batch_indices_(torch::empty({batch_}, torch::kLong)) {}

const torch::Tensor& BatchSampler::next() {
  rng_.sample_without_replacement(indices_.size(0), batch_, scratch_, positions_.data());
  const int64_t* src = indices_.data_ptr<int64_t>();
  int64_t* dst = batch_indices_.data_ptr<int64_t>();
  for (int64_t i = 0; i < batch_; ++i) dst[i] = src[positions_[static_cast<size_t>(i)]];
  return batch_indices_;
}

}  // namespace pfedhn::fl
