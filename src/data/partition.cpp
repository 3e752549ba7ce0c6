#include "pfedhn/data/partition.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>
#include <string>

#include "pfedhn/util/error.h"

namespace pfedhn::data {
namespace {

constexpr double kLowProportion = 0.4;
constexpr double kHighProportion = 0.6;

struct ClassStock {
  int64_t remaining = 0;
  std::vector<double> proportions;  // a stack: the back is popped first
};

// Step 2: count_per_class weights from Uniform(0.4, 0.6), normalised to sum 1, per class.
std::vector<ClassStock> draw_class_stocks(int64_t num_classes, int64_t count_per_class, Rng& rng) {
  std::vector<ClassStock> stocks(static_cast<size_t>(num_classes));
  for (ClassStock& stock : stocks) {
    stock.remaining = count_per_class;
    stock.proportions.resize(static_cast<size_t>(count_per_class));
    double sum = 0.0;
    for (double& p : stock.proportions) {
      p = rng.uniform(kLowProportion, kHighProportion);
      sum += p;
    }
    for (double& p : stock.proportions) p /= sum;
  }
  return stocks;
}

// Ascending list of the classes whose remaining count is the largest.
std::vector<int64_t> classes_with_max_remaining(const std::vector<ClassStock>& stocks) {
  int64_t best = stocks.front().remaining;
  for (const ClassStock& s : stocks) best = std::max(best, s.remaining);
  std::vector<int64_t> tied;
  for (size_t c = 0; c < stocks.size(); ++c) {
    if (stocks[c].remaining == best) tied.push_back(static_cast<int64_t>(c));
  }
  return tied;
}

std::vector<std::vector<int64_t>> indices_by_class(const torch::Tensor& labels,
                                                   int64_t num_classes) {
  const torch::Tensor y = labels.to(torch::kInt64).contiguous();
  const int64_t* data = y.data_ptr<int64_t>();
  std::vector<std::vector<int64_t>> by_class(static_cast<size_t>(num_classes));
  for (int64_t i = 0; i < y.numel(); ++i) {
    if (data[i] < 0 || data[i] >= num_classes) {
      throw DataError("partition: label " + std::to_string(data[i]) + " at index " +
                      std::to_string(i) + " out of range (" + std::to_string(num_classes) +
                      " classes)");
    }
    by_class[static_cast<size_t>(data[i])].push_back(i);
  }
  return by_class;
}

void validate_options(const PartitionOptions& o) {
  if (o.num_clients < 1) throw DataError("partition: num_clients must be >= 1");
  if (o.num_classes < 1) throw DataError("partition: num_classes must be >= 1");
  if (o.novel_scheme != NovelScheme::kLast) {
    if (o.num_novel < 1 || o.num_novel >= o.num_clients) {
      throw DataError("partition: novel clients drawn apart need 1 <= num_novel < num_clients");
    }
    if (o.novel_alphas.empty()) throw DataError("partition: novel clients need novel alphas");
    for (const double a : o.novel_alphas) {
      if (!(a > 0.0)) throw DataError("partition: every novel alpha must be > 0");
    }
  }
  switch (o.scheme) {
    case Scheme::kDirichlet:
    case Scheme::kDirichletPerClient:
      if (!(o.dirichlet_alpha > 0.0)) throw DataError("partition: dirichlet alpha must be > 0");
      break;
    case Scheme::kClasses:
      if (o.classes_per_client < 1) {
        throw DataError("partition: classes_per_client must be >= 1");
      }
      break;
    case Scheme::kFixed:
      check_assignment(o.fixed, o.num_assigned(), o.num_classes, "partition");
      break;
  }
}

torch::Tensor to_tensor(const std::vector<int64_t>& v) {
  return torch::tensor(v, torch::kInt64);
}

std::string describe_scheme(const PartitionOptions& o) {
  std::ostringstream s;
  switch (o.scheme) {
    case Scheme::kDirichlet:
      s << "dirichlet alpha=" << o.dirichlet_alpha;
      break;
    case Scheme::kDirichletPerClient:
      s << "dirichlet_per_client alpha=" << o.dirichlet_alpha;
      break;
    case Scheme::kClasses:
      s << o.classes_per_client << " classes per client";
      break;
    case Scheme::kFixed:
      s << "the given partition";
      break;
  }
  return s.str();
}

bool draws_dirichlet(Scheme s) {
  return s == Scheme::kDirichlet || s == Scheme::kDirichletPerClient;
}

// Dir(alpha) over `n` outcomes: independent Gamma(alpha) draws, normalised. With a tiny alpha
// all draws can underflow to zero; draw again then.
std::vector<double> draw_dirichlet(size_t n, double alpha, Rng& rng) {
  std::vector<double> g(n);
  double sum = 0.0;
  while (sum <= 0.0) {
    sum = 0.0;
    for (double& v : g) {
      v = rng.gamma(alpha);
      sum += v;
    }
  }
  for (double& v : g) v /= sum;
  return g;
}

using ClientLists = std::vector<std::vector<int64_t>>;

// A split's indices with a share of every class set aside for the novel clients.
struct SetAside {
  std::vector<std::vector<int64_t>> by_class;  // set aside, per class, in drawn order
  std::vector<int64_t> rest;                   // the others, ascending
};

// Of every class c, floor(share * n_c) indices drawn at random (rng) are set aside.
SetAside set_aside(const torch::Tensor& labels, int64_t num_classes, double share, Rng& rng) {
  std::vector<std::vector<int64_t>> by_class = indices_by_class(labels, num_classes);
  SetAside out;
  for (std::vector<int64_t>& idx : by_class) {
    rng.shuffle(idx);
    const auto k = static_cast<std::ptrdiff_t>(share * static_cast<double>(idx.size()));
    out.by_class.emplace_back(idx.begin(), idx.begin() + k);
    out.rest.insert(out.rest.end(), idx.begin() + k, idx.end());
  }
  std::sort(out.rest.begin(), out.rest.end());
  return out;
}

// Novel client j takes min(int(quota * q[j][c]), what is set aside of c) samples of every class
// c, a random subset (rng) of the set-aside class; quota = the set-aside size / the number of
// novel clients. Each novel client draws on its own, so two novel clients may share samples
// (never with a training client): every novel client gets the proportions it drew, which a
// shared, used-up pool could not give.
ClientLists draw_novel_clients(const std::vector<std::vector<int64_t>>& set_aside_by_class,
                               const std::vector<std::vector<double>>& q, Rng& rng) {
  size_t total = 0;
  for (const auto& idx : set_aside_by_class) total += idx.size();
  const double quota = static_cast<double>(total) / static_cast<double>(q.size());
  ClientLists clients(q.size());
  for (size_t j = 0; j < q.size(); ++j) {
    for (size_t c = 0; c < set_aside_by_class.size(); ++c) {
      std::vector<int64_t> pool = set_aside_by_class[c];
      rng.shuffle(pool);
      const size_t count = std::min(static_cast<size_t>(quota * q[j][c]), pool.size());
      clients[j].insert(clients[j].end(), pool.begin(),
                        pool.begin() + static_cast<std::ptrdiff_t>(count));
    }
  }
  return clients;
}

// The training clients' part of one split: `assignment` applied (as split_by_assignment) to the
// indices `rest` of `labels`; returns indices into the whole split.
ClientLists split_rest(const torch::Tensor& labels, const std::vector<int64_t>& rest,
                       int64_t num_classes, const ClassAssignment& assignment, Rng& shuffle_rng) {
  const torch::Tensor rest_labels = labels.index_select(0, torch::tensor(rest, torch::kInt64));
  ClientLists clients = split_by_assignment(rest_labels, num_classes, assignment, shuffle_rng);
  for (std::vector<int64_t>& client : clients) {
    for (int64_t& i : client) i = rest[static_cast<size_t>(i)];
  }
  return clients;
}

// One split with shifted novel clients: the training clients split what is not set aside by
// `assignment` (as split_by_assignment), then the novel clients draw from the set-aside share.
ClientLists split_with_novel_clients(const torch::Tensor& labels, const PartitionOptions& o,
                                     const ClassAssignment& assignment,
                                     const std::vector<std::vector<double>>& novel_proportions,
                                     Rng& set_aside_rng, Rng& shuffle_rng) {
  const double share = static_cast<double>(o.num_novel) / static_cast<double>(o.num_clients);
  const SetAside aside = set_aside(labels, o.num_classes, share, set_aside_rng);
  ClientLists clients = split_rest(labels, aside.rest, o.num_classes, assignment, shuffle_rng);
  ClientLists novel = draw_novel_clients(aside.by_class, novel_proportions, set_aside_rng);
  clients.insert(clients.end(), std::make_move_iterator(novel.begin()),
                 std::make_move_iterator(novel.end()));
  return clients;
}

std::vector<std::vector<double>> draw_novel_proportions(const PartitionOptions& o, Rng& rng) {
  std::vector<std::vector<double>> q;
  for (int64_t j = 0; j < o.num_novel; ++j) {
    const double alpha = o.novel_alphas[static_cast<size_t>(j) % o.novel_alphas.size()];
    q.push_back(draw_dirichlet(static_cast<size_t>(o.num_classes), alpha, rng));
  }
  return q;
}

// NovelScheme::kSets: ceil(share * n) indices of a split of n, drawn at random (the authors'
// lab's train_test_split of every split), ascending; the rest, ascending.
struct RandomSetAside {
  std::vector<int64_t> aside, rest;
};
RandomSetAside random_set_aside(int64_t n, double share, Rng& rng) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  rng.shuffle(order);
  const auto k = static_cast<std::ptrdiff_t>(std::ceil(share * static_cast<double>(n)));
  RandomSetAside out{{order.begin(), order.begin() + k}, {order.begin() + k, order.end()}};
  std::sort(out.aside.begin(), out.aside.end());
  std::sort(out.rest.begin(), out.rest.end());
  return out;
}

RandomSetAside sets_set_aside(const torch::Tensor& labels, const PartitionOptions& o, uint64_t seed,
                              uint64_t split) {
  Rng rng(derive_seed(seed, {stream::kNovelPool, split}));
  const double share = static_cast<double>(o.num_novel) / static_cast<double>(o.num_clients);
  return random_set_aside(labels.numel(), share, rng);
}

ClassAssignment draw_assignment(const PartitionOptions& o, uint64_t seed) {
  Rng rng(derive_seed(seed, {stream::kPartition}));
  const int64_t n = o.num_assigned();
  switch (o.scheme) {
    case Scheme::kDirichlet:
      return assign_dirichlet(n, o.num_classes, o.dirichlet_alpha, rng);
    case Scheme::kDirichletPerClient:
      return assign_dirichlet_per_client(n, o.num_classes, o.dirichlet_alpha, rng);
    case Scheme::kFixed:
      return o.fixed;
    case Scheme::kClasses:
      break;
  }
  return assign_classes_per_client(n, o.num_classes, o.classes_per_client, o.class_shares, rng);
}

void check_every_client_trains(const ClientLists& train, const PartitionOptions& o,
                               int64_t train_samples) {
  const auto empty = [](const auto& v) { return v.empty(); };
  const int64_t empty_clients = std::count_if(train.begin(), train.end(), empty);
  if (empty_clients == 0) return;
  const auto first = std::find_if(train.begin(), train.end(), empty);
  throw DataError("partition: " + std::to_string(empty_clients) + " of " +
                  std::to_string(o.num_clients) + " clients (first: client " +
                  std::to_string(first - train.begin()) + ") get no training sample with " +
                  describe_scheme(o) + " on " + std::to_string(train_samples) +
                  " training samples; use fewer clients" +
                  (draws_dirichlet(o.scheme) ? " or a larger alpha" : ""));
}

std::vector<ClientIndices> to_client_indices(const ClientLists (&per_split)[3]) {
  std::vector<ClientIndices> out(per_split[0].size());
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = {to_tensor(per_split[0][i]), to_tensor(per_split[1][i]), to_tensor(per_split[2][i])};
  }
  return out;
}

}  // namespace

int64_t shares_per_class(int64_t num_clients, int64_t num_classes, int64_t classes_per_client,
                         ClassShares shares) {
  const int64_t slots = classes_per_client * num_clients;
  if (shares == ClassShares::kSpare) return slots / num_classes + 1;
  return (slots + num_classes - 1) / num_classes;  // ceil: the paper-era count where it divides
}

ClassAssignment assign_classes_per_client(int64_t num_clients, int64_t num_classes,
                                          int64_t classes_per_client, ClassShares shares,
                                          Rng& rng) {
  if (num_clients < 1 || num_classes < 1 || classes_per_client < 1) {
    throw DataError("partition: num_clients, num_classes and classes_per_client must be >= 1");
  }
  // Step 1.
  const int64_t count_per_class =
      shares_per_class(num_clients, num_classes, classes_per_client, shares);
  std::vector<ClassStock> stocks = draw_class_stocks(num_classes, count_per_class, rng);

  ClassAssignment out;
  out.classes.resize(static_cast<size_t>(num_clients));
  out.proportions.resize(static_cast<size_t>(num_clients));
  for (int64_t i = 0; i < num_clients; ++i) {
    std::vector<int64_t>& chosen = out.classes[static_cast<size_t>(i)];
    for (int64_t slot = 0; slot < classes_per_client; ++slot) {
      const std::vector<int64_t> tied = classes_with_max_remaining(stocks);
      const int64_t c = tied[static_cast<size_t>(rng.uniform_int(tied.size()))];
      --stocks[static_cast<size_t>(c)].remaining;
      chosen.push_back(c);
    }
    // Picking keeps every class within one use of the others, so no stack runs dry.
    for (int64_t c : chosen) {
      std::vector<double>& stack = stocks[static_cast<size_t>(c)].proportions;
      out.proportions[static_cast<size_t>(i)].push_back(stack.back());
      stack.pop_back();
    }
  }
  return out;
}

ClassAssignment assign_dirichlet(int64_t num_clients, int64_t num_classes, double alpha, Rng& rng) {
  if (num_clients < 1 || num_classes < 1) {
    throw DataError("partition: num_clients and num_classes must be >= 1");
  }
  if (!(alpha > 0.0)) throw DataError("partition: dirichlet alpha must be > 0");
  ClassAssignment out;
  out.classes.resize(static_cast<size_t>(num_clients));
  out.proportions.resize(static_cast<size_t>(num_clients));
  for (int64_t c = 0; c < num_classes; ++c) {
    const std::vector<double> g = draw_dirichlet(static_cast<size_t>(num_clients), alpha, rng);
    for (int64_t i = 0; i < num_clients; ++i) {
      const double p = g[static_cast<size_t>(i)];
      if (p > 0.0) {
        out.classes[static_cast<size_t>(i)].push_back(c);
        out.proportions[static_cast<size_t>(i)].push_back(p);
      }
    }
  }
  return out;
}

ClassAssignment assign_dirichlet_per_client(int64_t num_clients, int64_t num_classes, double alpha,
                                            Rng& rng) {
  if (num_clients < 1 || num_classes < 1) {
    throw DataError("partition: num_clients and num_classes must be >= 1");
  }
  if (!(alpha > 0.0)) throw DataError("partition: dirichlet alpha must be > 0");
  std::vector<std::vector<double>> d;
  for (int64_t u = 0; u < num_clients; ++u) {
    d.push_back(draw_dirichlet(static_cast<size_t>(num_classes), alpha, rng));
  }
  std::vector<double> column_sum(static_cast<size_t>(num_classes), 0.0);
  for (const auto& row : d) {
    for (size_t c = 0; c < row.size(); ++c) column_sum[c] += row[c];
  }
  ClassAssignment out;
  out.classes.resize(static_cast<size_t>(num_clients));
  out.proportions.resize(static_cast<size_t>(num_clients));
  for (size_t u = 0; u < d.size(); ++u) {
    for (size_t c = 0; c < column_sum.size(); ++c) {
      const double p = d[u][c] / column_sum[c];
      if (!(p > 0.0)) continue;
      out.classes[u].push_back(static_cast<int64_t>(c));
      out.proportions[u].push_back(p);
    }
  }
  return out;
}

void check_assignment(const ClassAssignment& a, int64_t num_clients, int64_t num_classes,
                      const std::string& source) {
  if (a.num_clients() != num_clients || a.proportions.size() != a.classes.size()) {
    throw DataError(source + ": has " + std::to_string(a.num_clients()) + " clients, expected " +
                    std::to_string(num_clients));
  }
  // Proportions of a class may add up to 1 plus rounding (a normalised draw).
  constexpr double kSumTolerance = 1e-9;
  std::vector<double> class_sum(static_cast<size_t>(num_classes), 0.0);
  for (size_t i = 0; i < a.classes.size(); ++i) {
    const std::string who = source + ": client " + std::to_string(i);
    if (a.classes[i].size() != a.proportions[i].size()) {
      throw DataError(who + " has " + std::to_string(a.classes[i].size()) + " classes but " +
                      std::to_string(a.proportions[i].size()) + " proportions");
    }
    for (size_t s = 0; s < a.classes[i].size(); ++s) {
      const int64_t c = a.classes[i][s];
      const double p = a.proportions[i][s];
      if (c < 0 || c >= num_classes) {
        throw DataError(who + " has class " + std::to_string(c) + ", outside [0, " +
                        std::to_string(num_classes - 1) + "]");
      }
      if (!(p >= 0.0 && p <= 1.0)) {
        throw DataError(who + " has proportion " + std::to_string(p) + " of class " +
                        std::to_string(c) + ", outside [0, 1]");
      }
      class_sum[static_cast<size_t>(c)] += p;
    }
  }
  for (size_t c = 0; c < class_sum.size(); ++c) {
    if (class_sum[c] > 1.0 + kSumTolerance) {
      throw DataError(source + ": the proportions of class " + std::to_string(c) + " sum to " +
                      std::to_string(class_sum[c]) + ", more than 1");
    }
  }
}

std::vector<std::vector<int64_t>> split_by_assignment(const torch::Tensor& labels,
                                                      int64_t num_classes,
                                                      const ClassAssignment& assignment, Rng& rng) {
  std::vector<std::vector<int64_t>> by_class = indices_by_class(labels, num_classes);
  for (std::vector<int64_t>& idx : by_class) rng.shuffle(idx);
  std::vector<size_t> taken(by_class.size(), 0);

  std::vector<std::vector<int64_t>> clients(static_cast<size_t>(assignment.num_clients()));
  for (size_t i = 0; i < clients.size(); ++i) {
    const auto& classes = assignment.classes[i];
    const auto& proportions = assignment.proportions[i];
    if (classes.size() != proportions.size()) {
      throw DataError("partition: client " + std::to_string(i) +
                      " has different numbers of classes and proportions");
    }
    for (size_t s = 0; s < classes.size(); ++s) {
      const int64_t c = classes[s];
      if (c < 0 || c >= num_classes) {
        throw DataError("partition: client " + std::to_string(i) + " assigned class " +
                        std::to_string(c) + " out of range");
      }
      const std::vector<int64_t>& pool = by_class[static_cast<size_t>(c)];
      const double n_c = static_cast<double>(pool.size());
      // int(n_c * p), capped by what is left of the class.
      const size_t want =
          static_cast<size_t>(std::max<int64_t>(0, static_cast<int64_t>(n_c * proportions[s])));
      const size_t start = taken[static_cast<size_t>(c)];
      const size_t count = std::min(want, pool.size() - start);
      clients[i].insert(clients[i].end(), pool.begin() + static_cast<std::ptrdiff_t>(start),
                        pool.begin() + static_cast<std::ptrdiff_t>(start + count));
      taken[static_cast<size_t>(c)] = start + count;
    }
  }
  return clients;
}

Partition make_partition(const torch::Tensor& train_labels, const torch::Tensor& val_labels,
                         const torch::Tensor& test_labels, const PartitionOptions& options,
                         uint64_t seed) {
  validate_options(options);
  Partition out;
  out.assignment = draw_assignment(options, seed);
  if (options.novel_scheme == NovelScheme::kShifted) {
    Rng shift_rng(derive_seed(seed, {stream::kNovelShift}));
    out.novel_label_distributions = draw_novel_proportions(options, shift_rng);
  }
  NovelSet first_set;
  if (options.novel_scheme == NovelScheme::kSets) {
    first_set = novel_client_set(train_labels, val_labels, test_labels, options, seed, 0);
    out.novel_assignment = first_set.assignment;
  }

  const torch::Tensor* splits[3] = {&train_labels, &val_labels, &test_labels};
  ClientLists per_split[3];
  for (uint64_t s = 0; s < 3; ++s) {
    Rng shuffle_rng(derive_seed(seed, {stream::kSplitShuffle, s}));
    switch (options.novel_scheme) {
      case NovelScheme::kLast:
        per_split[s] =
            split_by_assignment(*splits[s], options.num_classes, out.assignment, shuffle_rng);
        break;
      case NovelScheme::kShifted: {
        Rng set_aside_rng(derive_seed(seed, {stream::kNovelPool, s}));
        per_split[s] =
            split_with_novel_clients(*splits[s], options, out.assignment,
                                     out.novel_label_distributions, set_aside_rng, shuffle_rng);
        break;
      }
      case NovelScheme::kSets: {
        const RandomSetAside aside = sets_set_aside(*splits[s], options, seed, s);
        per_split[s] =
            split_rest(*splits[s], aside.rest, options.num_classes, out.assignment, shuffle_rng);
        break;
      }
    }
  }
  check_every_client_trains(per_split[0], options, train_labels.numel());
  out.clients = to_client_indices(per_split);
  out.clients.insert(out.clients.end(), first_set.clients.begin(), first_set.clients.end());
  return out;
}

std::vector<ClientIndices> partition_clients(const torch::Tensor& train_labels,
                                             const torch::Tensor& val_labels,
                                             const torch::Tensor& test_labels,
                                             const PartitionOptions& options, uint64_t seed) {
  return make_partition(train_labels, val_labels, test_labels, options, seed).clients;
}

NovelSet novel_client_set(const torch::Tensor& train_labels, const torch::Tensor& val_labels,
                          const torch::Tensor& test_labels, const PartitionOptions& options,
                          uint64_t seed, size_t set_index) {
  if (options.novel_scheme != NovelScheme::kSets || set_index >= options.novel_alphas.size()) {
    throw DataError("partition: no novel-client set " + std::to_string(set_index));
  }
  NovelSet out;
  out.alpha = options.novel_alphas[set_index];
  Rng assign_rng(derive_seed(seed, {stream::kNovelSet, set_index}));
  out.assignment =
      assign_dirichlet_per_client(options.num_novel, options.num_classes, out.alpha, assign_rng);
  const torch::Tensor* splits[3] = {&train_labels, &val_labels, &test_labels};
  ClientLists per_split[3];
  for (uint64_t s = 0; s < 3; ++s) {
    const RandomSetAside aside = sets_set_aside(*splits[s], options, seed, s);
    Rng shuffle_rng(derive_seed(seed, {stream::kNovelSet, set_index, 1 + s}));
    per_split[s] =
        split_rest(*splits[s], aside.aside, options.num_classes, out.assignment, shuffle_rng);
  }
  out.clients = to_client_indices(per_split);
  return out;
}

}  // namespace pfedhn::data
