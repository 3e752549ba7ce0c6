#include "pfedhn/app/runtime.h"

#include <algorithm>
#include <iostream>
#include <thread>

#include "pfedhn/app/train.h"
#include "pfedhn/data/catalog.h"
#include "pfedhn/data/partition_file.h"
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
