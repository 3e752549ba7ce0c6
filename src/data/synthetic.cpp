#include "pfedhn/data/synthetic.h"

#include "pfedhn/util/rng.h"

namespace pfedhn::data {
namespace {

torch::Tensor random_images(const DatasetInfo& info, int64_t n, Rng& rng) {
  auto images = torch::empty({n, info.channels, info.height, info.width}, torch::kUInt8);
  uint8_t* p = images.data_ptr<uint8_t>();
  const int64_t total = images.numel();
  for (int64_t i = 0; i < total; i += 8) {
    uint64_t bits = rng.next_u64();
    for (int64_t b = 0; b < 8 && i + b < total; ++b, bits >>= 8) p[i + b] = bits & 0xff;
  }
  return images;
}

torch::Tensor random_labels(const DatasetInfo& info, int64_t n, Rng& rng) {
  auto labels = torch::empty({n}, torch::kInt64);
  int64_t* p = labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i)
    p[i] = static_cast<int64_t>(rng.uniform_int(static_cast<uint64_t>(info.num_classes)));
  return labels;
}

}  // namespace

DatasetSplits make_synthetic_dataset(const DatasetInfo& info, const SplitOptions& options,
                                     uint64_t seed) {
  Rng rng(seed);
  const auto train_x = random_images(info, info.train_size, rng);
  const auto train_y = random_labels(info, info.train_size, rng);
  const auto test_x = random_images(info, info.test_size, rng);
  const auto test_y = random_labels(info, info.test_size, rng);
  return make_splits(info, train_x, train_y, test_x, test_y, options, seed);
}

}  // namespace pfedhn::data
