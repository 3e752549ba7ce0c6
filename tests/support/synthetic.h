#pragma once

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cstdint>

#include "pfedhn/config/config.h"
#include "pfedhn/data/catalog.h"
#include "pfedhn/data/dataset.h"
#include "pfedhn/data/partition.h"

namespace pfedhn::testing {

// A learnable MNIST-shaped dataset: each class is a fixed random pattern plus noise.
inline data::Split synthetic_split(int64_t n, const torch::Tensor& templates, double noise,
                                   uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto y = torch::randint(templates.size(0), {n}, gen, torch::kLong);
  auto x = templates.index_select(0, y) + noise * torch::randn({n, 1, 28, 28}, gen);
  return {x.contiguous(), y, {}, {}};
}

inline data::DatasetSplits synthetic_mnist(int64_t train, int64_t val, int64_t test,
                                           double noise = 1.0, uint64_t seed = 1) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto templates = torch::randn({10, 1, 28, 28}, gen);
  data::DatasetSplits d;
  d.info = data::find_dataset("mnist");
  d.train = synthetic_split(train, templates, noise, seed + 1);
  d.val = synthetic_split(val, templates, noise, seed + 2);
  d.test = synthetic_split(test, templates, noise, seed + 3);
  return d;
}

// A small, fast config on MNIST-shaped data for the algorithm tests (clients are the caller's).
inline config::Config small_mnist_config(config::Algorithm algorithm) {
  config::Config cfg;
  cfg.seed = 3;
  cfg.dataset.data = "mnist";
  cfg.algorithm = algorithm;
  cfg.model.in_channels = 1;
  cfg.model.out_dim = 10;
  cfg.model.n_kernels = 4;
  cfg.model.n_hidden = 1;
  cfg.client.num_epochs = 10;
  cfg.client.batch_size = 32;
  cfg.server.hidden_dim = 32;
  return cfg;
}

// The small config of the trainer tests: 6 MNIST-shaped clients of 2 classes, a 4-kernel target
// network, a 1-hidden-layer hypernetwork of width 32, 10 inner steps of batch 32.
inline config::Config small_trainer_config(config::Algorithm algorithm) {
  config::Config cfg = small_mnist_config(algorithm);
  cfg.client.num_nodes = 6;
  cfg.client.num_classes_per_node = 2;
  return cfg;
}

// The config's "classes per client" partition of a synthetic 10-class dataset.
inline std::vector<data::ClientIndices> partition_for(const data::DatasetSplits& d,
                                                      const config::Config& cfg) {
  data::PartitionOptions p;
  p.num_clients = cfg.client.num_nodes;
  p.num_classes = 10;
  p.classes_per_client = cfg.client.num_classes_per_node;
  return data::partition_clients(d.train.y, d.val.y, d.test.y, p, cfg.seed);
}

}  // namespace pfedhn::testing
