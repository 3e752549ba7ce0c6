#include "pfedhn/app/runtime.h"

#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <thread>

#include "pfedhn/app/train.h"
#include "pfedhn/data/catalog.h"
#include "pfedhn/data/partition_file.h"
#include "pfedhn/fl/trainer.h"
#include "pfedhn/run/run_loop.h"
#include "pfedhn/util/error.h"

namespace pfedhn::app {

torch::Device select_device(config::DeviceKind kind) {
  const bool cuda = torch::cuda::is_available();
  if (kind == config::DeviceKind::kCuda && !cuda) {
    throw UserError(
        "device=cuda requested but CUDA is not available (no GPU found, or this LibTorch is a "
        "CPU-only build); use device=cpu or device=auto");
  }
  if (kind == config::DeviceKind::kCpu || !cuda) return torch::kCPU;
  return torch::kCUDA;
}

int64_t set_thread_count(int64_t requested) {
  const int64_t n =
      requested > 0 ? requested : std::max<int64_t>(1, std::thread::hardware_concurrency());
  torch::set_num_threads(static_cast<int>(n));
  return n;
}

data::SplitOptions split_options(const config::Config& cfg) {
  data::SplitOptions options;
  options.val_size = cfg.dataset.val_size;
  options.test_source = cfg.dataset.test_split == config::TestSplit::kHoldout
                            ? data::TestSource::kHoldout
                            : data::TestSource::kOfficial;
  options.test_size = cfg.dataset.test_size;
  return options;
}

data::DatasetSource dataset_source(const config::Config& cfg) {
  data::DatasetSource source;
  source.name = cfg.dataset.data;
  source.root = cfg.dataset.root;
  source.file = cfg.dataset.file;
  source.mean = cfg.dataset.mean;
  source.std = cfg.dataset.std;
  return source;
}

void resolve_against_data(config::Config& cfg) {
  config::resolve_and_validate(cfg);  // every key on its own, before any file is read
  const bool with_test = cfg.dataset.test_split == config::TestSplit::kOfficial;
  const data::DatasetInfo facts = data::describe_dataset(dataset_source(cfg), with_test);
  if (config::is_custom_dataset(cfg.dataset.data)) config::resolve_and_validate(cfg, &facts);
  fl::target_spec_from_config(cfg, facts);  // loads and checks a scripted target
}

std::string describe_data(const data::DatasetSplits& splits, const config::Config& cfg) {
  const data::DatasetInfo& info = *splits.info;
  std::string classes;
  for (size_t i = 0; i < std::min<size_t>(info.class_names.size(), 5); ++i) {
    classes += (i == 0 ? ": " : ", ") + info.class_names[i];
  }
  if (info.class_names.size() > 5) classes += ", ...";
  const bool computed = cfg.dataset.mean.empty() && config::is_custom_dataset(info.name);
  return fmt::format(
      "{} {}: {} classes{}; {} training and {} test images of {}x{}x{}; normalised with mean "
      "[{:.4f}] and std [{:.4f}]{}",
      info.name, info.source, info.num_classes, classes, info.train_size, info.test_size,
      info.channels, info.height, info.width, fmt::join(info.mean, ", "), fmt::join(info.std, ", "),
      computed ? " (computed on the training split)" : " (given)");
}

namespace {

data::Scheme partition_scheme(config::PartitionKind kind) {
  switch (kind) {
    case config::PartitionKind::kDirichlet:
      return data::Scheme::kDirichlet;
    case config::PartitionKind::kDirichletPerClient:
      return data::Scheme::kDirichletPerClient;
    case config::PartitionKind::kFile:
      return data::Scheme::kFixed;
    case config::PartitionKind::kClasses:
      break;
  }
  return data::Scheme::kClasses;
}

data::NovelScheme novel_scheme(config::NovelScheme scheme) {
  switch (scheme) {
    case config::NovelScheme::kShifted:
      return data::NovelScheme::kShifted;
    case config::NovelScheme::kSets:
      return data::NovelScheme::kSets;
    case config::NovelScheme::kAuto:  // resolved by config::resolve_and_validate
    case config::NovelScheme::kLast:
      break;
  }
  return data::NovelScheme::kLast;
}

}  // namespace

data::PartitionOptions partition_options(const config::Config& cfg, int64_t num_classes,
                                         const std::filesystem::path& recorded) {
  data::PartitionOptions popts;
  popts.num_clients = cfg.client.num_nodes;
  popts.num_classes = num_classes;
  popts.scheme = partition_scheme(cfg.client.partition);
  popts.classes_per_client = cfg.client.num_classes_per_node;
  popts.class_shares = cfg.client.class_shares == config::ClassShares::kSpare
                           ? data::ClassShares::kSpare
                           : data::ClassShares::kExact;
  popts.dirichlet_alpha = cfg.client.dirichlet_alpha;
  popts.num_novel = cfg.novel.num_clients;
  popts.novel_scheme = novel_scheme(cfg.novel.scheme);
  popts.novel_alphas = cfg.novel.alphas;
  if (popts.scheme == data::Scheme::kFixed) {
    std::error_code ec;
    const bool use_record = !recorded.empty() && std::filesystem::is_regular_file(recorded, ec);
    popts.fixed = data::read_partition_file(
        use_record ? recorded : std::filesystem::path(cfg.client.partition_file),
        popts.num_assigned(), num_classes);
  }
  return popts;
}

void check_partition_file(const config::Config& cfg) {
  if (cfg.client.partition != config::PartitionKind::kFile) return;
  const data::DatasetInfo* info = data::find_dataset(cfg.dataset.data);
  if (info == nullptr) return;  // the class count comes from the data: checked when it is read
  partition_options(cfg, info->num_classes);
}

io::LoadedCheckpoint newest_usable_checkpoint(const std::filesystem::path& run_dir) {
  for (const auto& path : io::list_checkpoints(run_dir)) {
    try {
      return io::read_checkpoint(path);
    } catch (const io::CheckpointError& e) {
      std::cerr << "pfedhn: warning: skipped " << e.what() << '\n';
    }
  }
  throw UserError("no usable checkpoint in '" + io::checkpoint_dir(run_dir).string() + "'");
}

config::Config run_config(const std::filesystem::path& run_dir,
                          const std::vector<std::string>& overrides) {
  const auto config_file = run_dir / "config.yaml";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(config_file, ec)) {
    throw UserError("'" + run_dir.string() + "' is not a run directory (no config.yaml)");
  }
  TrainOptions from_run;
  from_run.config_file = config_file;
  from_run.overrides = overrides;
  from_run.config_from_run = true;
  return resolve_config(from_run);
}

std::unique_ptr<fl::Algorithm> load_trained_algorithm(
    const config::Config& cfg, const data::DatasetSplits& splits,
    const std::vector<data::ClientIndices>& clients, const torch::Device& device,
    const io::LoadedCheckpoint& checkpoint) {
  auto algorithm = fl::make_algorithm(cfg, splits, clients, device);
  run::load_checkpoint_model(*algorithm, checkpoint);
  return algorithm;
}

}  // namespace pfedhn::app
