#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
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

// How many shares each class is cut into (the reference page's partition, step 1).
// kExact: ceil(classes_per_client * num_clients / num_classes), the count of the authors' code
// the paper was made with (their `//` where it divides); every share is handed out.
// kSpare: that count (with `//`) + 1, the authors' code before and since: one share per class
// is left unused, so the clients get about K/(K+1) of every class.
enum class ClassShares { kExact, kSpare };

// The number of shares each class is cut into.
int64_t shares_per_class(int64_t num_clients, int64_t num_classes, int64_t classes_per_client,
                         ClassShares shares);

// The reference page's "classes per client" algorithm (steps 1-3), exactly.
ClassAssignment assign_classes_per_client(int64_t num_clients, int64_t num_classes,
                                          int64_t classes_per_client, ClassShares shares, Rng& rng);

// Dirichlet(alpha) label partition per class: for every class c, proportions over clients
// p_c ~ Dir(alpha); client i gets slot (c, p_c[i]) for every class with p_c[i] > 0.
ClassAssignment assign_dirichlet(int64_t num_clients, int64_t num_classes, double alpha, Rng& rng);

// Dirichlet(alpha) label partition per client (the pFedHN authors' lab, pFedGP): client u draws
// d_u ~ Dir(alpha) over the classes; each class's column is then normalised over the clients,
// p_uc = d_uc / sum_v d_vc, and client u gets slot (c, p_uc) for every class with p_uc > 0.
ClassAssignment assign_dirichlet_per_client(int64_t num_clients, int64_t num_classes, double alpha,
                                            Rng& rng);

// Throws DataError (naming `source`) unless `a` is an assignment of `num_clients` clients over
// `num_classes` classes: classes in range, one proportion per class slot, proportions in [0, 1]
// and every class's proportions summing to at most 1.
void check_assignment(const ClassAssignment& a, int64_t num_clients, int64_t num_classes,
                      const std::string& source);

// The reference page's step 4 for one split: shuffle each class's indices (rng), then for each
// client in order and each of its slots take int(n_c * p) indices from the front of what remains
// of class c. Returns, per client, sample indices into `labels` (int64 [N]).
std::vector<std::vector<int64_t>> split_by_assignment(const torch::Tensor& labels,
                                                      int64_t num_classes,
                                                      const ClassAssignment& assignment, Rng& rng);

struct ClientIndices {
  torch::Tensor train, val, test;  // int64 index tensors into the corresponding Split
};

// How the training clients' classes are drawn (client.partition).
enum class Scheme { kClasses, kDirichlet, kDirichletPerClient, kFixed };

// Which clients are novel (novel.num_clients, left to `pfedhn generalize`) and where their data
// comes from.
//   kLast: the last num_novel clients of the one partition.
//   kShifted (ours): a share num_novel / num_clients of every class of every split is set aside;
//     the training clients split the rest; novel client j gets class proportions
//     q_j ~ Dir(novel_alphas[j mod n]) and draws (set-aside size / num_novel) samples of each
//     split with those proportions from the set-aside share, on its own: novel clients may share
//     samples with each other, never with a training client.
//   kSets (the authors' lab, pFedGP): a share num_novel / num_clients of every split (drawn at
//     random, not per class) is set aside; the training clients split the rest; the novel
//     clients come as one set per alpha in novel_alphas, each set a fresh per-client
//     Dirichlet(alpha) partition of the set-aside share (novel_client_set). The training run's
//     novel clients are those of the first set.
enum class NovelScheme { kLast, kShifted, kSets };

struct PartitionOptions {
  int64_t num_clients = 50;
  int64_t num_classes = 10;
  Scheme scheme = Scheme::kClasses;
  int64_t classes_per_client = 2;                  // kClasses
  ClassShares class_shares = ClassShares::kExact;  // kClasses
  double dirichlet_alpha = 0.5;                    // kDirichlet, kDirichletPerClient
  ClassAssignment fixed;  // kFixed: the training clients' classes and proportions
  int64_t num_novel = 0;
  NovelScheme novel_scheme = NovelScheme::kLast;
  std::vector<double> novel_alphas;  // kShifted, kSets
  // The number of clients the assignment covers: every client, or only the training ones when
  // the novel clients are drawn apart (kShifted, kSets).
  int64_t num_assigned() const {
    return num_clients - (novel_scheme == NovelScheme::kLast ? 0 : num_novel);
  }
};

// A partition and what it was made of, for partition.json.
struct Partition {
  ClassAssignment assignment;  // the first num_assigned() clients'
  // kShifted: novel client j's class proportions q_j. kSets: the first set's assignment of the
  // novel clients (as ClassAssignment proportions: shares of the set-aside classes).
  std::vector<std::vector<double>> novel_label_distributions;
  ClassAssignment novel_assignment;
  std::vector<ClientIndices> clients;  // every client, the novel ones last
};

// Computes the assignment once (on train; Rng(derive_seed(seed, {stream::kPartition}))) and
// applies it to train, val and test (each split's shuffle from
// Rng(derive_seed(seed, {stream::kSplitShuffle, split_number}))). Throws DataError when a
// client ends with no training sample (e.g. a Dirichlet alpha too small for the client count).
// kShifted: the set-aside share comes from Rng(derive_seed(seed, {stream::kNovelPool,
// split_number})) and the novel clients' proportions from Rng(derive_seed(seed,
// {stream::kNovelShift})). kSets: the set-aside share from Rng(derive_seed(seed,
// {stream::kNovelPool, split_number})) and the novel clients as novel_client_set(..., 0).
// Without novel clients the result is exactly the plain partition.
Partition make_partition(const torch::Tensor& train_labels, const torch::Tensor& val_labels,
                         const torch::Tensor& test_labels, const PartitionOptions& options,
                         uint64_t seed);

// make_partition(...).clients.
std::vector<ClientIndices> partition_clients(const torch::Tensor& train_labels,
                                             const torch::Tensor& val_labels,
                                             const torch::Tensor& test_labels,
                                             const PartitionOptions& options, uint64_t seed);

// NovelScheme::kSets: novel-client set `set_index` (alpha novel_alphas[set_index]): the
// set-aside share of every split (as make_partition sets it aside) partitioned among num_novel
// clients by assign_dirichlet_per_client, drawn on the set-aside train split
// (Rng(derive_seed(seed, {stream::kNovelSet, set_index}))) and applied to val and test (shuffles
// Rng(derive_seed(seed, {stream::kNovelSet, set_index, 1 + split_number}))). Indices are into
// the whole splits.
struct NovelSet {
  double alpha = 0.0;
  ClassAssignment assignment;
  std::vector<ClientIndices> clients;
};
NovelSet novel_client_set(const torch::Tensor& train_labels, const torch::Tensor& val_labels,
                          const torch::Tensor& test_labels, const PartitionOptions& options,
                          uint64_t seed, size_t set_index);

}  // namespace pfedhn::data
