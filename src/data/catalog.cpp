#include "pfedhn/data/catalog.h"

namespace pfedhn::data {
namespace {

std::vector<DatasetInfo> make_catalog() {
  // Normalisation constants: reference page, "Data" (per channel, pixels scaled to [0,1]).
  return {
      {"mnist", FileFormat::kIdx, 10, 1, 28, 28, 60000, 10000, {0.1307}, {0.3081}, "mnist", "", {}},
      {"fashion_mnist",
       FileFormat::kIdx,
       10,
       1,
       28,
       28,
       60000,
       10000,
       {0.2860},
       {0.3530},
       "fashion_mnist",
       "",
       {}},
      {"cifar10",
       FileFormat::kCifar10,
       10,
       3,
       32,
       32,
       50000,
       10000,
       {0.4914, 0.4822, 0.4465},
       {0.2023, 0.1994, 0.2010},
       "cifar-10-batches-bin",
       "",
       {}},
      {"cifar100",
       FileFormat::kCifar100,
       100,
       3,
       32,
       32,
       50000,
       10000,
       {0.5071, 0.4865, 0.4409},
       {0.2673, 0.2564, 0.2762},
       "cifar-100-binary",
       "",
       {}},
  };
}

}  // namespace

const std::vector<DatasetInfo>& all_datasets() {
  static const std::vector<DatasetInfo> catalog = make_catalog();
  return catalog;
}

const DatasetInfo* find_dataset(const std::string& name) {
  for (const DatasetInfo& info : all_datasets()) {
    if (info.name == name) return &info;
  }
  return nullptr;
}

}  // namespace pfedhn::data
