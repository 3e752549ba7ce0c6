#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "pfedhn/data/catalog.h"

namespace pfedhn::data {

struct Split {
  torch::Tensor x;  // float32 [N, C, H, W], scaled to [0,1] and normalised, contiguous
  torch::Tensor y;  // int64 [N]
  int64_t size() const { return y.size(0); }
  torch::Device device() const { return y.device(); }
  // The model-ready images at dataset positions `idx` (int64, on the split's device).
  // Code outside data/ reads images only through this, never through `x`.
  torch::Tensor gather(const torch::Tensor& idx) const { return x.index_select(0, idx); }
};

struct DatasetSplits {
  const DatasetInfo* info = nullptr;
  Split train, val, test;
};

// uint8 [N,C,H,W] -> float32, /255, then (x - mean[c]) / std[c].
torch::Tensor normalise_images(const torch::Tensor& images_u8, const DatasetInfo& info);

// Splits the official training set into train and a seeded random `val_size` validation set,
// and normalises everything. The validation indices are the first `val_size` of a permutation
// drawn from Rng(derive_seed(seed, {stream::kValSplit})); both subsets keep increasing index order.
DatasetSplits make_splits(const DatasetInfo& info, const torch::Tensor& train_images_u8,
                          const torch::Tensor& train_labels, const torch::Tensor& test_images_u8,
                          const torch::Tensor& test_labels, int64_t val_size, uint64_t seed);

// Locates the dataset's files under `root/<info.subdir>/` (IDX files raw or .gz; Fashion-MNIST
// also under /usr/share/datasets/fashion-mnist/), reads, checks sizes against the catalog, and
// calls make_splits. A missing dataset throws DataError naming the folder and the exact
// `scripts/fetch_data.sh` command that fetches it.
DatasetSplits load_dataset(const std::string& name, const std::filesystem::path& root,
                           int64_t val_size, uint64_t seed);

}  // namespace pfedhn::data
