#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace pfedhn::data {

enum class FileFormat { kIdx, kCifar10, kCifar100 };

// Static facts about a supported dataset (reference page, "Data"). No I/O.
struct DatasetInfo {
  std::string name;  // canonical: mnist | fashion_mnist | cifar10 | cifar100
  FileFormat format;
  int64_t num_classes;
  int64_t channels;
  int64_t height;
  int64_t width;
  int64_t train_size;  // official training-set size (before the validation split)
  int64_t test_size;
  std::vector<double> mean;  // per channel, after scaling pixels to [0,1]
  std::vector<double> std;
  std::string subdir;  // folder under dataset.root: mnist, fashion_mnist, cifar-10-batches-bin,
                       // cifar-100-binary
};

// Returns nullptr when `name` is not a supported dataset.
const DatasetInfo* find_dataset(const std::string& name);
const std::vector<DatasetInfo>& all_datasets();

}  // namespace pfedhn::data
