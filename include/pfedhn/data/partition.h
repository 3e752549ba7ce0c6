#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "pfedhn/util/rng.h"

namespace pfedhn::data {

// Which classes each client holds, and with which share of each class.
// classes[i][s] and proportions[i][s]: client i's slot s. A class may repeat within a client
// (the reference algorithm allows it); each repeat takes its own share.
struct ClassAssignment {
  std::vector<std::vector<int64_t>> classes;
  std::vector<std::vector<double>> proportions;
  int64_t num_clients() const { return static_cast<int64_t>(classes.size()); }
};

// The reference page's "classes per client" algorithm (steps 1-3), exactly.
ClassAssignment assign_classes_per_client(int64_t num_clients, int64_t num_classes,
                                          int64_t classes_per_client, Rng& rng);

// Dirichlet(alpha) label partition: for every class c, proportions over clients p_c ~ Dir(alpha);
// client i gets slot (c, p_c[i]) for every class with p_c[i] > 0.
ClassAssignment assign_dirichlet(int64_t num_clients, int64_t num_classes, double alpha, Rng& rng);

// The reference page's step 4 for one split: shuffle each class's indices (rng), then for each
// client in order and each of its slots take int(n_c * p) indices from the front of what remains
// of class c. Returns, per client, sample indices into `labels` (int64 [N]).
std::vector<std::vector<int64_t>> split_by_assignment(const torch::Tensor& labels,
                                                      int64_t num_classes,
                                                      const ClassAssignment& assignment, Rng& rng);

struct ClientIndices {
  torch::Tensor train, val, test;  // int64 index tensors into the corresponding Split
};

struct PartitionOptions {
  int64_t num_clients = 50;
  int64_t num_classes = 10;
  int64_t classes_per_client = 2;
  bool dirichlet = false;
  double dirichlet_alpha = 0.5;
  // Novel clients with chosen label shifts (our setup for the paper's Section 5.3). When
  // novel_alphas is non-empty, the last num_novel clients are drawn apart from the others: a
  // share num_novel / num_clients of every class of every split is set aside; the first
  // num_clients - num_novel clients split the rest by the scheme above; novel client j gets
  // class proportions q_j ~ Dir(novel_alphas[j mod n]) and draws (set-aside size / num_novel)
  // samples of each split with those proportions from the set-aside share, on its own: novel
  // clients may share samples with each other, never with a training client.
  int64_t num_novel = 0;
  std::vector<double> novel_alphas;
};

// Computes the assignment once (on train; Rng(derive_seed(seed, {stream::kPartition}))) and
// applies it to train, val and test (each split's shuffle from
// Rng(derive_seed(seed, {stream::kSplitShuffle, split_number}))). Throws DataError when a
// client ends with no training sample (e.g. a Dirichlet alpha too small for the client count).
// With novel_alphas the set-aside share comes from Rng(derive_seed(seed, {stream::kNovelPool,
// split_number})) and the novel clients' proportions from Rng(derive_seed(seed,
// {stream::kNovelShift})); without, the result is exactly the plain partition.
std::vector<ClientIndices> partition_clients(const torch::Tensor& train_labels,
                                             const torch::Tensor& val_labels,
                                             const torch::Tensor& test_labels,
                                             const PartitionOptions& options, uint64_t seed);

}  // namespace pfedhn::data
