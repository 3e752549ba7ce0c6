#pragma once

#include <torch/torch.h>

#include <cstdint>

#include "pfedhn/config/config.h"
#include "pfedhn/data/dataset.h"
#include "pfedhn/data/partition.h"

namespace pfedhn::app {

// The device the config asks for. device=cuda without CUDA throws UserError; auto picks CUDA
// when present, else the CPU.
torch::Device select_device(config::DeviceKind kind);

// Sets LibTorch's intra-op thread count (0 = every core) and returns the count used.
int64_t set_thread_count(int64_t requested);

// The train / val / test split that the config's dataset.* keys describe.
data::SplitOptions split_options(const config::Config& cfg);

// The partition that the config's client.* keys describe, for a dataset of `num_classes`.
data::PartitionOptions partition_options(const config::Config& cfg, int64_t num_classes);

}  // namespace pfedhn::app
