#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

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

// Where the test split comes from: the official test files, or (holdout) a seeded subset of the
// official training set, disjoint from validation, for when the official test set is absent.
enum class TestSource { kOfficial, kHoldout };

struct SplitOptions {
  int64_t val_size = 10000;  // drawn (seeded) from the official training set
  TestSource test_source = TestSource::kOfficial;
  int64_t test_size = 10000;  // kHoldout only: drawn from the official training set too
};

struct DatasetSplits {
  const DatasetInfo* info = nullptr;
  // Keeps `info` alive when it is not the catalog's (a folder, a tensors file, or a built-in
  // dataset with dataset.mean / dataset.std given); shared by copies.
  std::shared_ptr<const DatasetInfo> owned_info;
  Split train, val, test;
  TestSource test_source = TestSource::kOfficial;
  // Each split's samples as positions in the official file they came from (train and val: the
  // training set; test: the test set, or the training set for kHoldout), increasing.
  std::vector<int64_t> train_indices, val_indices, test_indices;
};

// The same splits with every tensor on `device` (a no-op on the CPU).
DatasetSplits to_device(DatasetSplits splits, const torch::Device& device);

// uint8 [N,C,H,W] -> float32, /255, then (x - mean[c]) / std[c].
torch::Tensor normalise_images(const torch::Tensor& images_u8, const DatasetInfo& info);

// Splits the official training set into train and a seeded random `val_size` validation set,
// keeping the raw pixels (see Split). The validation indices are the first `val_size` of a
// permutation drawn from Rng(derive_seed(seed, {stream::kValSplit})); every subset keeps
// increasing index order. With TestSource::kHoldout the test split is the next `test_size`
// entries of the same permutation (so validation is the same as with kOfficial) and the test
// tensors are not used (they may be undefined).
DatasetSplits make_splits(const DatasetInfo& info, const torch::Tensor& train_images_u8,
                          const torch::Tensor& train_labels, const torch::Tensor& test_images_u8,
                          const torch::Tensor& test_labels, const SplitOptions& options,
                          uint64_t seed);
inline DatasetSplits make_splits(const DatasetInfo& info, const torch::Tensor& train_images_u8,
                                 const torch::Tensor& train_labels,
                                 const torch::Tensor& test_images_u8,
                                 const torch::Tensor& test_labels, int64_t val_size,
                                 uint64_t seed) {
  SplitOptions options;
  options.val_size = val_size;
  return make_splits(info, train_images_u8, train_labels, test_images_u8, test_labels, options,
                     seed);
}

// Locates the dataset's files under `root/<info.subdir>/` (IDX files raw or .gz; Fashion-MNIST
// also under /usr/share/datasets/fashion-mnist/), reads, checks sizes against the catalog, and
// calls make_splits. A missing dataset throws DataError naming the folder and the exact
// `scripts/fetch_data.sh` command that fetches it. With TestSource::kHoldout the official test
// files are not read (they may be absent).
DatasetSplits load_dataset(const std::string& name, const std::filesystem::path& root,
                           const SplitOptions& options, uint64_t seed);

// Where a dataset is: the dataset.* keys of a config.
struct DatasetSource {
  std::string name;               // a built-in dataset, folder or tensors
  std::filesystem::path root;     // built-in: the folder fetch_data.sh fills; folder: the images
  std::filesystem::path file;     // tensors: the file torch.save wrote
  std::vector<double> mean, std;  // given normalisation; empty = the catalog's, or computed
};

// Called now and then while a slow dataset is read: images read so far, of `total`.
using LoadProgress = std::function<void(int64_t done, int64_t total)>;

// The facts of a dataset without its pixels: the catalog's for a built-in one; for a folder
// the class folders listed and every image's header read, for a tensors file its keys and
// shapes checked (the file is read whole). The mean and std are the given ones, else the
// catalog's, else empty (computed when the data is loaded). Throws DataError with one line
// naming the file on any problem; with `with_test` a missing test set is one too (the line says
// to use dataset.test_split=holdout).
DatasetInfo describe_dataset(const DatasetSource& source, bool with_test);

// Reads and splits any dataset: the built-in ones as load_dataset(name, ...) above, an image
// folder or a tensors file likewise, with the per-channel mean and std of the training split
// (after validation and a held-out test split are drawn) unless given. `progress` is called
// while an image folder is decoded.
DatasetSplits load_dataset(const DatasetSource& source, const SplitOptions& options, uint64_t seed,
                           const LoadProgress& progress = {});

// Gives the splits the per-channel normalisation (mean, std) for pixels scaled to [0, 1]: `info`
// becomes an owned copy with these values, and every split's scale and shift follow.
void set_normalisation(DatasetSplits& splits, const std::vector<double>& means,
                       const std::vector<double>& stds);

// Per-channel mean and (population) std of uint8 images [N, C, H, W], for pixels scaled to
// [0, 1]; exact sums, so the result does not depend on threads.
void channel_mean_std(const torch::Tensor& images_u8, std::vector<double>& means,
                      std::vector<double>& stds);

}  // namespace pfedhn::data
