#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "pfedhn/data/catalog.h"

namespace pfedhn::data {

// One split of a dataset. The real datasets keep their raw uint8 pixels (a quarter of the
// memory of floats: CIFAR-10 takes 184 MB instead of 737 MB) and are normalised batch by batch
// in `gather`; tests may store model-ready float images directly.
struct Split {
  torch::Tensor x;  // uint8 raw pixels or float32 model-ready images, [N, C, H, W], contiguous
  torch::Tensor y;  // int64 [N]
  // For uint8 `x`: per-channel float32 [C] with model input = pixel * scale + shift, i.e.
  // scale = 1 / (255 std), shift = -mean / std. Undefined for float `x`.
  torch::Tensor scale, shift;
  int64_t size() const { return y.size(0); }
  torch::Device device() const { return y.device(); }
  // The model-ready float images at dataset positions `idx` (int64, on the split's device), in
  // channels-last memory layout (the layout the convolutions run fastest in).
  // Code outside data/ reads images only through this, never through `x`.
  torch::Tensor gather(const torch::Tensor& idx) const;
};

struct DatasetSplits {
  const DatasetInfo* info = nullptr;
  Split train, val, test;
};

// The same splits with every tensor on `device` (a no-op on the CPU).
DatasetSplits to_device(DatasetSplits splits, const torch::Device& device);

// uint8 [N,C,H,W] -> float32, /255, then (x - mean[c]) / std[c].
torch::Tensor normalise_images(const torch::Tensor& images_u8, const DatasetInfo& info);

// Splits the official training set into train and a seeded random `val_size` validation set,
// keeping the raw pixels (see Split). The validation indices are the first `val_size` of a
// permutation drawn from Rng(derive_seed(seed, {stream::kValSplit})); both subsets keep increasing
// index order.
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
