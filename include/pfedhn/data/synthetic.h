#pragma once

#include <cstdint>

#include "pfedhn/data/catalog.h"
#include "pfedhn/data/dataset.h"

namespace pfedhn::data {

// A stand-in for a real dataset with the same shapes and split sizes (official train and test
// sizes, split by `options` as make_splits does): uniform random pixels and labels from
// Rng(seed). For benchmarks, which need the cost of the real data but not its content.
DatasetSplits make_synthetic_dataset(const DatasetInfo& info, const SplitOptions& options,
                                     uint64_t seed);

}  // namespace pfedhn::data
