#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "pfedhn/config/config.h"
#include "pfedhn/data/dataset.h"
#include "pfedhn/data/partition.h"
#include "pfedhn/fl/algorithm.h"
#include "pfedhn/io/checkpoint.h"

namespace pfedhn::app {

// The device the config asks for. device=cuda without CUDA throws UserError; auto picks CUDA
// when present, else the CPU.
torch::Device select_device(config::DeviceKind kind);

// Sets LibTorch's intra-op thread count (0 = every core) and returns the count used.
int64_t set_thread_count(int64_t requested);

// The train / val / test split that the config's dataset.* keys describe.
data::SplitOptions split_options(const config::Config& cfg);

// Where the config's dataset is (dataset.data, root, file, mean, std).
data::DatasetSource dataset_source(const config::Config& cfg);

// config::resolve_and_validate with what only the files can say: an image folder's or a
// tensors file's classes, channels, size and sample counts (data::describe_dataset), and that
// model.target_file is a module that fits them. Every check runs before any file is written;
// throws UserError (one line) otherwise.
void resolve_against_data(config::Config& cfg);

// One line on what a folder or tensors file held and how it was normalised (for the log).
std::string describe_data(const data::DatasetSplits& splits, const config::Config& cfg);

// The partition that the config's client.* and novel.* keys describe, for a dataset of
// `num_classes`. client.partition=file reads its assignment from `recorded` when that file
// exists (a run's own partition.json: the partition it was trained on), else from
// client.partition_file; throws DataError for a bad file.
data::PartitionOptions partition_options(const config::Config& cfg, int64_t num_classes,
                                         const std::filesystem::path& recorded = {});

// client.partition=file: reads and checks the file (DataError, one line) before a new run makes
// its directory. Nothing for other partitions.
void check_partition_file(const config::Config& cfg);

// The newest checkpoint of `run_dir` that reads back whole (a damaged one is skipped with a
// warning on stderr). Throws UserError when there is none.
io::LoadedCheckpoint newest_usable_checkpoint(const std::filesystem::path& run_dir);

// The config a run was trained with: RUN_DIR/config.yaml, with `overrides` applied. Every
// command that opens a run reads its config.yaml here. Throws UserError when `run_dir` is not a
// run directory.
config::Config run_config(const std::filesystem::path& run_dir,
                          const std::vector<std::string>& overrides = {});

// The algorithm of `cfg` with the model state of `checkpoint`. Throws UserError when the
// checkpoint does not fit the config.
std::unique_ptr<fl::Algorithm> load_trained_algorithm(
    const config::Config& cfg, const data::DatasetSplits& splits,
    const std::vector<data::ClientIndices>& clients, const torch::Device& device,
    const io::LoadedCheckpoint& checkpoint);

}  // namespace pfedhn::app
