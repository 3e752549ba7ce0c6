#include "pfedhn/data/partition.h"

#include <algorithm>
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
  if (!o.novel_alphas.empty()) {
    if (o.num_novel < 1 || o.num_novel >= o.num_clients) {
      throw DataError("partition: novel alphas need 1 <= num_novel < num_clients");
    }
    for (const double a : o.novel_alphas) {
      if (!(a > 0.0)) throw DataError("partition: every novel alpha must be > 0");
    }
  }
  if (o.dirichlet) {
    if (!(o.dirichlet_alpha > 0.0)) throw DataError("partition: dirichlet alpha must be > 0");
  } else if (o.classes_per_client < 1) {
    throw DataError("partition: classes_per_client must be >= 1");
  }
}

torch::Tensor to_tensor(const std::vector<int64_t>& v) {
  return torch::tensor(v, torch::kInt64);
}

std::string describe_scheme(const PartitionOptions& o) {
  std::ostringstream s;
  if (o.dirichlet) {
    s << "dirichlet alpha=" << o.dirichlet_alpha;
  } else {
    s << o.classes_per_client << " classes per client";
  }
  return s.str();
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

// One split with shifted novel clients: the training clients split what is not set aside by
// `assignment` (as split_by_assignment), then the novel clients draw from the set-aside share.
ClientLists split_with_novel_clients(const torch::Tensor& labels, const PartitionOptions& o,
                                     const ClassAssignment& assignment,
                                     const std::vector<std::vector<double>>& novel_proportions,
                                     Rng& set_aside_rng, Rng& shuffle_rng) {
  const double share = static_cast<double>(o.num_novel) / static_cast<double>(o.num_clients);
  const SetAside aside = set_aside(labels, o.num_classes, share, set_aside_rng);
  const torch::Tensor rest_labels =
      labels.index_select(0, torch::tensor(aside.rest, torch::kInt64));
  ClientLists clients = split_by_assignment(rest_labels, o.num_classes, assignment, shuffle_rng);
  for (std::vector<int64_t>& client : clients) {
    for (int64_t& i : client) i = aside.rest[static_cast<size_t>(i)];
  }
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

}  // namespace

ClassAssignment assign_classes_per_client(int64_t num_clients, int64_t num_classes,
                                          int64_t classes_per_client, Rng& rng) {
  if (num_clients < 1 || num_classes < 1 || classes_per_client < 1) {
    throw DataError("partition: num_clients, num_classes and classes_per_client must be >= 1");
  }
  // Step 1. The +1 leaves one spare proportion per class, as in the reference.
  const int64_t count_per_class = (classes_per_client * num_clients) / num_classes + 1;
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

std::vector<ClientIndices> partition_clients(const torch::Tensor& train_labels,
                                             const torch::Tensor& val_labels,
                                             const torch::Tensor& test_labels,
                                             const PartitionOptions& options, uint64_t seed) {
  validate_options(options);
  const bool shifted_novel = !options.novel_alphas.empty();
  const int64_t num_assigned = options.num_clients - (shifted_novel ? options.num_novel : 0);
  Rng assign_rng(derive_seed(seed, {stream::kPartition}));
  const ClassAssignment assignment =
      options.dirichlet
          ? assign_dirichlet(num_assigned, options.num_classes, options.dirichlet_alpha, assign_rng)
          : assign_classes_per_client(num_assigned, options.num_classes, options.classes_per_client,
                                      assign_rng);
  std::vector<std::vector<double>> novel_proportions;
  if (shifted_novel) {
    Rng shift_rng(derive_seed(seed, {stream::kNovelShift}));
    novel_proportions = draw_novel_proportions(options, shift_rng);
  }

  const torch::Tensor* splits[3] = {&train_labels, &val_labels, &test_labels};
  std::vector<std::vector<int64_t>> per_split[3];
  for (uint64_t s = 0; s < 3; ++s) {
    Rng shuffle_rng(derive_seed(seed, {stream::kSplitShuffle, s}));
    if (shifted_novel) {
      Rng set_aside_rng(derive_seed(seed, {stream::kNovelPool, s}));
      per_split[s] = split_with_novel_clients(*splits[s], options, assignment, novel_proportions,
                                              set_aside_rng, shuffle_rng);
    } else {
      per_split[s] = split_by_assignment(*splits[s], options.num_classes, assignment, shuffle_rng);
    }
  }

  const int64_t empty_clients = std::count_if(per_split[0].begin(), per_split[0].end(),
                                              [](const auto& v) { return v.empty(); });
  if (empty_clients > 0) {
    const auto first = std::find_if(per_split[0].begin(), per_split[0].end(),
                                    [](const auto& v) { return v.empty(); });
    throw DataError("partition: " + std::to_string(empty_clients) + " of " +
                    std::to_string(options.num_clients) + " clients (first: client " +
                    std::to_string(first - per_split[0].begin()) +
                    ") get no training sample with " + describe_scheme(options) + " on " +
                    std::to_string(train_labels.numel()) + " training samples; use fewer clients" +
                    (options.dirichlet ? " or a larger alpha" : ""));
  }

  std::vector<ClientIndices> out(static_cast<size_t>(options.num_clients));
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = {to_tensor(per_split[0][i]), to_tensor(per_split[1][i]), to_tensor(per_split[2][i])};
  }
  return out;
}

}  // namespace pfedhn::data
