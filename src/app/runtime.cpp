#include "pfedhn/app/runtime.h"

#include <algorithm>
#include <thread>

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

data::PartitionOptions partition_options(const config::Config& cfg, int64_t num_classes) {
  data::PartitionOptions popts;
  popts.num_clients = cfg.client.num_nodes;
  popts.num_classes = num_classes;
  popts.classes_per_client = cfg.client.num_classes_per_node;
  popts.dirichlet = cfg.client.partition == config::PartitionKind::kDirichlet;
  popts.dirichlet_alpha = cfg.client.dirichlet_alpha;
  return popts;
}

}  // namespace pfedhn::app
