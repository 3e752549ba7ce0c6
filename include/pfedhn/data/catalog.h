#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace pfedhn::data {

// The built-in formats, and the two kinds of user data: an image folder and a tensors file.
enum class FileFormat { kIdx, kCifar10, kCifar100, kFolder, kTensors };

// Facts about a dataset: static for the built-in ones (reference page, "Data"; no I/O), read from
// the files for an image folder or a tensors file (data::describe_dataset).
struct DatasetInfo {
  std::string name;  // canonical: mnist | fashion_mnist | cifar10 | cifar100 | folder | tensors
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
  // folder and tensors only: where the data is (the image folder, the file), and the class
  // names (the folders' names; empty for tensors).
  std::string source;
  std::vector<std::string> class_names;
};

// Returns nullptr when `name` is not a supported dataset.
const DatasetInfo* find_dataset(const std::string& name);
const std::vector<DatasetInfo>& all_datasets();

}  // namespace pfedhn::data
