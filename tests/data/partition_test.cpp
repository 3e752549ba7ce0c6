#include "pfedhn/data/partition.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "data/labels_fixture.h"
#include "pfedhn/util/error.h"
#include "pfedhn/util/rng.h"

namespace pfedhn::data {
namespace {

std::vector<int64_t> to_vector(const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kInt64).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

using testing::shuffled_labels;

std::map<int64_t, int64_t> class_counts(const std::vector<int64_t>& labels,
                                        const torch::Tensor& indices) {
  std::map<int64_t, int64_t> counts;
  for (int64_t i : to_vector(indices)) ++counts[labels[static_cast<size_t>(i)]];
  return counts;
}

std::set<int64_t> class_set(const std::map<int64_t, int64_t>& counts) {
  std::set<int64_t> s;
  for (const auto& [c, n] : counts) s.insert(c);
  return s;
}

// ---- assign_classes_per_client ----

TEST(Partition, EveryClassUsedEquallyWhenDivisible) {
  for (const ClassShares shares : {ClassShares::kExact, ClassShares::kSpare}) {
    Rng rng(123);
    const ClassAssignment a = assign_classes_per_client(50, 10, 2, shares, rng);
    ASSERT_EQ(a.num_clients(), 50);
    std::vector<int> uses(10, 0);
    // count_per_class = 2*50/10 = 10 (exact) or 11 (spare) weights per class, each in
    // [0.4, 0.6) before normalising.
    const double n = shares == ClassShares::kExact ? 10 : 11;
    const double lo = 0.4 / (0.4 + (n - 1) * 0.6), hi = 0.6 / (0.6 + (n - 1) * 0.4);
    for (int64_t i = 0; i < 50; ++i) {
      ASSERT_EQ(a.classes[i].size(), 2u);
      ASSERT_EQ(a.proportions[i].size(), 2u);
      EXPECT_NE(a.classes[i][0], a.classes[i][1]) << "client " << i;
      for (size_t s = 0; s < 2; ++s) {
        ++uses[static_cast<size_t>(a.classes[i][s])];
        EXPECT_GE(a.proportions[i][s], lo);
        EXPECT_LE(a.proportions[i][s], hi);
      }
    }
    for (int c = 0; c < 10; ++c) EXPECT_EQ(uses[static_cast<size_t>(c)], 10) << "class " << c;
  }
}

TEST(Partition, SharesPerClassExactIsThePaperEraCountAndSpareOneMore) {
  EXPECT_EQ(shares_per_class(10, 10, 2, ClassShares::kExact), 2);
  EXPECT_EQ(shares_per_class(10, 10, 2, ClassShares::kSpare), 3);
  EXPECT_EQ(shares_per_class(50, 10, 2, ClassShares::kExact), 10);
  EXPECT_EQ(shares_per_class(100, 100, 10, ClassShares::kExact), 10);
  // Where it does not divide (the authors' assert fired), exact rounds up: 75*10/100 = 7.5.
  EXPECT_EQ(shares_per_class(75, 100, 10, ClassShares::kExact), 8);
  EXPECT_EQ(shares_per_class(75, 100, 10, ClassShares::kSpare), 8);
  EXPECT_EQ(shares_per_class(7, 10, 3, ClassShares::kExact), 3);
}

// With the exact count every share is handed out, so each class's proportions sum to 1 and the
// clients get (almost) every sample; with the spare share they get about K/(K+1) of each class.
TEST(Partition, ExactSharesGiveTheClientsEveryClassWholeSpareLeavesOneShare) {
  const torch::Tensor labels = shuffled_labels(10, 4000, 3);  // 40,000 samples, as CIFAR-10
  auto given = [&](ClassShares shares) {
    PartitionOptions opt;
    opt.num_clients = 10;
    opt.class_shares = shares;
    const auto clients = partition_clients(labels, labels, labels, opt, 1);
    int64_t n = 0;
    for (const auto& c : clients) n += c.train.numel();
    return n;
  };
  const int64_t exact = given(ClassShares::kExact), spare = given(ClassShares::kSpare);
  EXPECT_GE(exact, 40000 - 20);  // int() drops at most one sample per client slot
  EXPECT_LE(exact, 40000);
  EXPECT_NEAR(static_cast<double>(spare) / 40000.0, 2.0 / 3.0, 0.03);  // K = 2 of 3 shares
}

TEST(Partition, EachPickHasTheLargestRemainingCount) {
  for (const ClassShares shares : {ClassShares::kExact, ClassShares::kSpare}) {
    for (const auto& [clients, classes, k] : std::vector<std::array<int64_t, 3>>{
             {50, 10, 2}, {50, 100, 10}, {7, 10, 3}, {13, 5, 4}, {3, 2, 5}}) {
      Rng rng(static_cast<uint64_t>(clients * 1000 + classes * 10 + k));
      const ClassAssignment a = assign_classes_per_client(clients, classes, k, shares, rng);
      std::vector<int64_t> remaining(static_cast<size_t>(classes),
                                     shares_per_class(clients, classes, k, shares));
      for (const auto& chosen : a.classes) {
        ASSERT_EQ(static_cast<int64_t>(chosen.size()), k);
        for (int64_t c : chosen) {
          const int64_t max_left = *std::max_element(remaining.begin(), remaining.end());
          EXPECT_EQ(remaining[static_cast<size_t>(c)], max_left);
          --remaining[static_cast<size_t>(c)];
          EXPECT_GE(remaining[static_cast<size_t>(c)], 0);
        }
      }
    }
  }
}

// Replays the reference's random draws: C stacks of count_per_class Uniform(0.4, 0.6) weights
// drawn first, then the first client's picks; proportions are handed out from each stack's end.
TEST(Partition, FollowsTheReferenceDrawOrder) {
  const int64_t clients = 20, classes = 10, k = 2;
  const uint64_t seed = 99;
  Rng a_rng(seed);
  const ClassAssignment a =
      assign_classes_per_client(clients, classes, k, ClassShares::kSpare, a_rng);

  Rng replay(seed);
  const int64_t count = (k * clients) / classes + 1;
  std::vector<std::vector<double>> stacks(static_cast<size_t>(classes));
  for (auto& stack : stacks) {
    double sum = 0;
    for (int64_t j = 0; j < count; ++j) {
      stack.push_back(replay.uniform(0.4, 0.6));
      sum += stack.back();
    }
    for (double& p : stack) p /= sum;
  }
  // Client 0: all classes tied, then all but the first pick.
  const int64_t first = static_cast<int64_t>(replay.uniform_int(classes));
  std::vector<int64_t> others;
  for (int64_t c = 0; c < classes; ++c) {
    if (c != first) others.push_back(c);
  }
  const int64_t second = others[static_cast<size_t>(replay.uniform_int(others.size()))];
  EXPECT_EQ(a.classes[0], (std::vector<int64_t>{first, second}));

  // Every class's proportions, in client order, are its stack popped from the back.
  std::vector<size_t> popped(static_cast<size_t>(classes), 0);
  for (int64_t i = 0; i < clients; ++i) {
    for (size_t s = 0; s < a.classes[i].size(); ++s) {
      const size_t c = static_cast<size_t>(a.classes[i][s]);
      const double expected = stacks[c][stacks[c].size() - 1 - popped[c]++];
      EXPECT_DOUBLE_EQ(a.proportions[i][s], expected) << "client " << i << " slot " << s;
    }
  }
}

TEST(Partition, AssignmentIsAPureFunctionOfTheSeed) {
  Rng r1(5), r2(5), r3(6);
  const ClassAssignment a = assign_classes_per_client(50, 10, 2, ClassShares::kExact, r1);
  const ClassAssignment b = assign_classes_per_client(50, 10, 2, ClassShares::kExact, r2);
  const ClassAssignment c = assign_classes_per_client(50, 10, 2, ClassShares::kExact, r3);
  EXPECT_EQ(a.classes, b.classes);
  EXPECT_EQ(a.proportions, b.proportions);
  EXPECT_NE(a.classes, c.classes);
}

// ---- split_by_assignment ----

TEST(Partition, SplitTakesIntOfShareFromEachClass) {
  // Class 0: 10 samples, class 1: 7 samples.
  const torch::Tensor labels = torch::tensor(
      std::vector<int64_t>{0, 1, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 1, 1, 0, 0, 1}, torch::kInt64);
  ClassAssignment a;
  a.classes = {{0, 1}, {1}, {0, 0}};
  a.proportions = {{0.25, 0.5}, {0.5}, {0.5, 0.4}};
  Rng rng(1);
  const auto parts = split_by_assignment(labels, 2, a, rng);
  ASSERT_EQ(parts.size(), 3u);
  // Client 0: int(10*0.25)=2 of class 0 + int(7*0.5)=3 of class 1. Client 1: int(7*0.5)=3.
  // Client 2: int(10*0.5)=5, then int(10*0.4)=4 wanted but only 10-2-5=3 left.
  EXPECT_EQ(parts[0].size(), 5u);
  EXPECT_EQ(parts[1].size(), 3u);
  EXPECT_EQ(parts[2].size(), 5u + 3u);
  const std::vector<int64_t> y = to_vector(labels);
  std::set<int64_t> seen;
  for (const auto& p : parts) {
    for (int64_t i : p) EXPECT_TRUE(seen.insert(i).second) << "index " << i << " reused";
  }
  EXPECT_EQ(y[static_cast<size_t>(parts[0][0])], 0);
  EXPECT_EQ(y[static_cast<size_t>(parts[0][4])], 1);
  for (int64_t i : parts[1]) EXPECT_EQ(y[static_cast<size_t>(i)], 1);
  for (int64_t i : parts[2]) EXPECT_EQ(y[static_cast<size_t>(i)], 0);
}

TEST(Partition, SplitShufflesWithinClass) {
  const torch::Tensor labels = torch::zeros({100}, torch::kInt64);
  ClassAssignment a;
  a.classes = {{0}};
  a.proportions = {{0.5}};
  Rng r1(1), r2(2);
  const auto p1 = split_by_assignment(labels, 1, a, r1);
  const auto p2 = split_by_assignment(labels, 1, a, r2);
  ASSERT_EQ(p1[0].size(), 50u);
  EXPECT_NE(p1[0], p2[0]);
  EXPECT_FALSE(std::is_sorted(p1[0].begin(), p1[0].end()));
}

TEST(Partition, SplitRejectsOutOfRangeLabels) {
  ClassAssignment a;
  a.classes = {{0}};
  a.proportions = {{0.5}};
  Rng rng(1);
  EXPECT_THROW(split_by_assignment(torch::tensor(std::vector<int64_t>{0, 3}), 3, a, rng),
               DataError);
}

// ---- partition_clients ----

struct Labels {
  torch::Tensor train, val, test;
};

Labels synthetic_labels() {
  return {shuffled_labels(10, 600, 1), shuffled_labels(10, 100, 2), shuffled_labels(10, 100, 3)};
}

TEST(Partition, ClientsKeepTheirClassesAcrossSplits) {
  const Labels labels = synthetic_labels();
  PartitionOptions opt;  // 50 clients, 10 classes, 2 per client
  const auto clients = partition_clients(labels.train, labels.val, labels.test, opt, 11);
  ASSERT_EQ(clients.size(), 50u);
  const std::vector<int64_t> ytr = to_vector(labels.train), yva = to_vector(labels.val),
                             yte = to_vector(labels.test);
  std::set<int64_t> used_train, used_val, used_test;
  for (size_t i = 0; i < clients.size(); ++i) {
    const ClientIndices& ci = clients[i];
    EXPECT_EQ(ci.train.scalar_type(), torch::kInt64);
    const auto tr = class_counts(ytr, ci.train), va = class_counts(yva, ci.val),
               te = class_counts(yte, ci.test);
    EXPECT_LE(tr.size(), 2u) << "client " << i;
    EXPECT_GT(ci.train.numel(), 0);
    EXPECT_EQ(class_set(va), class_set(tr)) << "client " << i;
    EXPECT_EQ(class_set(te), class_set(tr)) << "client " << i;
    // The client's mix of classes is the same in every split.
    for (const auto& [c, n] : tr) {
      const double share_train = static_cast<double>(n) / static_cast<double>(ci.train.numel());
      EXPECT_NEAR(static_cast<double>(va.at(c)) / static_cast<double>(ci.val.numel()), share_train,
                  0.1);
      EXPECT_NEAR(static_cast<double>(te.at(c)) / static_cast<double>(ci.test.numel()), share_train,
                  0.1);
      // And the amount of a class scales with the split's size (600 vs 100 per class).
      EXPECT_NEAR(static_cast<double>(n) / 6.0, static_cast<double>(va.at(c)), 1.0);
    }
    for (int64_t j : to_vector(ci.train)) EXPECT_TRUE(used_train.insert(j).second);
    for (int64_t j : to_vector(ci.val)) EXPECT_TRUE(used_val.insert(j).second);
    for (int64_t j : to_vector(ci.test)) EXPECT_TRUE(used_test.insert(j).second);
  }
  // Nearly all of each class is handed out (exact shares; int() rounds a few off).
  EXPECT_GT(used_train.size(), 5000u);
  EXPECT_LE(used_train.size(), 6000u);
}

TEST(Partition, ClientCountsMatchTheAssignment) {
  const Labels labels = synthetic_labels();
  PartitionOptions opt;
  opt.num_clients = 20;
  opt.classes_per_client = 3;
  const uint64_t seed = 4;
  const auto clients = partition_clients(labels.train, labels.val, labels.test, opt, seed);
  Rng rng(derive_seed(seed, {stream::kPartition}));
  const ClassAssignment a = assign_classes_per_client(20, 10, 3, opt.class_shares, rng);
  const std::vector<int64_t> ytr = to_vector(labels.train);
  for (size_t i = 0; i < clients.size(); ++i) {
    std::map<int64_t, int64_t> expected;
    for (size_t s = 0; s < a.classes[i].size(); ++s) {
      expected[a.classes[i][s]] += static_cast<int64_t>(600.0 * a.proportions[i][s]);
    }
    EXPECT_EQ(class_counts(ytr, clients[i].train), expected) << "client " << i;
  }
}

TEST(Partition, DeterministicPerSeed) {
  const Labels labels = synthetic_labels();
  PartitionOptions opt;
  const auto a = partition_clients(labels.train, labels.val, labels.test, opt, 21);
  const auto b = partition_clients(labels.train, labels.val, labels.test, opt, 21);
  const auto c = partition_clients(labels.train, labels.val, labels.test, opt, 22);
  bool any_difference = false;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(torch::equal(a[i].train, b[i].train));
    EXPECT_TRUE(torch::equal(a[i].val, b[i].val));
    EXPECT_TRUE(torch::equal(a[i].test, b[i].test));
    any_difference = any_difference || !torch::equal(a[i].train, c[i].train);
  }
  EXPECT_TRUE(any_difference);
}

TEST(Partition, TooLittleDataThrowsNamingTheClientCount) {
  const torch::Tensor few = shuffled_labels(10, 3, 1);  // int(3 * ~0.09) = 0 for everyone
  PartitionOptions opt;
  try {
    partition_clients(few, few, few, opt, 1);
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("50 clients"), std::string::npos) << e.what();
  }
}

TEST(Partition, RejectsBadOptions) {
  const Labels labels = synthetic_labels();
  PartitionOptions opt;
  opt.num_clients = 0;
  EXPECT_THROW(partition_clients(labels.train, labels.val, labels.test, opt, 1), DataError);
  opt = PartitionOptions{};
  opt.classes_per_client = 0;
  EXPECT_THROW(partition_clients(labels.train, labels.val, labels.test, opt, 1), DataError);
  opt = PartitionOptions{};
  opt.scheme = Scheme::kDirichlet;
  opt.dirichlet_alpha = 0.0;
  EXPECT_THROW(partition_clients(labels.train, labels.val, labels.test, opt, 1), DataError);
  opt = PartitionOptions{};
  opt.num_classes = 5;  // labels go up to 9
  EXPECT_THROW(partition_clients(labels.train, labels.val, labels.test, opt, 1), DataError);
}

// ---- Dirichlet ----

TEST(PartitionDirichlet, SharesPerClassSumToOne) {
  Rng rng(8);
  const ClassAssignment a = assign_dirichlet(10, 5, 0.5, rng);
  std::vector<double> total(5, 0.0);
  for (size_t i = 0; i < a.classes.size(); ++i) {
    EXPECT_TRUE(std::is_sorted(a.classes[i].begin(), a.classes[i].end()));
    for (size_t s = 0; s < a.classes[i].size(); ++s) {
      EXPECT_GT(a.proportions[i][s], 0.0);
      total[static_cast<size_t>(a.classes[i][s])] += a.proportions[i][s];
    }
  }
  for (double t : total) EXPECT_NEAR(t, 1.0, 1e-12);
}

TEST(PartitionDirichlet, SmallAlphaIsMoreSkewed) {
  // Mean over classes of the largest client share: near 1/clients for a large alpha, much
  // larger for a small one.
  auto mean_max_share = [](double alpha) {
    Rng rng(17);
    const ClassAssignment a = assign_dirichlet(10, 50, alpha, rng);
    std::vector<double> max_share(50, 0.0);
    for (size_t i = 0; i < a.classes.size(); ++i) {
      for (size_t s = 0; s < a.classes[i].size(); ++s) {
        double& m = max_share[static_cast<size_t>(a.classes[i][s])];
        m = std::max(m, a.proportions[i][s]);
      }
    }
    double sum = 0;
    for (double m : max_share) sum += m;
    return sum / 50.0;
  };
  EXPECT_LT(mean_max_share(100.0), 0.2);
  EXPECT_GT(mean_max_share(0.1), 0.5);
}

TEST(PartitionDirichlet, EveryClientNonEmpty) {
  const torch::Tensor y = shuffled_labels(10, 100, 5);
  PartitionOptions opt;
  opt.num_clients = 10;
  opt.scheme = Scheme::kDirichlet;
  opt.dirichlet_alpha = 0.5;
  const auto clients = partition_clients(y, y, y, opt, 3);
  ASSERT_EQ(clients.size(), 10u);
  std::set<int64_t> used;
  for (const ClientIndices& ci : clients) {
    EXPECT_GT(ci.train.numel(), 0);
    for (int64_t j : to_vector(ci.train)) EXPECT_TRUE(used.insert(j).second);
  }
  EXPECT_LE(used.size(), 1000u);
  EXPECT_GT(used.size(), 900u);  // at most one sample per (class, client) lost to rounding
}

TEST(PartitionDirichlet, ImpossibleSplitThrowsNamingAlpha) {
  const torch::Tensor y = shuffled_labels(10, 2, 5);  // 20 samples
  PartitionOptions opt;
  opt.num_clients = 1000;
  opt.scheme = Scheme::kDirichlet;
  opt.dirichlet_alpha = 0.5;
  try {
    partition_clients(y, y, y, opt, 1);
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("1000 clients"), std::string::npos) << msg;
    EXPECT_NE(msg.find("alpha=0.5"), std::string::npos) << msg;
  }
}

// ---- novel clients with chosen label shifts (novel_alphas) ----

PartitionOptions shifted_novel_options() {
  PartitionOptions opt;  // 50 clients, 10 classes, 2 per client
  opt.num_novel = 10;
  opt.novel_scheme = NovelScheme::kShifted;
  opt.novel_alphas = {0.01, 1000.0};
  return opt;
}

double max_class_share(const std::vector<int64_t>& labels, const torch::Tensor& idx) {
  int64_t most = 0;
  for (const auto& [c, n] : class_counts(labels, idx)) most = std::max(most, n);
  return static_cast<double>(most) / static_cast<double>(idx.numel());
}

TEST(PartitionNovelShift, NovelClientsDrawFromASetAsideShareDisjointFromTraining) {
  const Labels labels = synthetic_labels();
  const PartitionOptions opt = shifted_novel_options();
  const auto clients = partition_clients(labels.train, labels.val, labels.test, opt, 11);
  ASSERT_EQ(clients.size(), 50u);
  const std::vector<int64_t> ytr = to_vector(labels.train);
  std::set<int64_t> training, novel;
  for (size_t i = 0; i < clients.size(); ++i) {
    EXPECT_GT(clients[i].train.numel(), 0) << "client " << i;
    EXPECT_GT(clients[i].test.numel(), 0) << "client " << i;
    const std::vector<int64_t> idx = to_vector(clients[i].train);
    const std::set<int64_t> own(idx.begin(), idx.end());
    EXPECT_EQ(own.size(), idx.size()) << "client " << i << " holds a sample twice";
    if (i < 40) {
      EXPECT_LE(class_counts(ytr, clients[i].train).size(), 2u) << "client " << i;
      for (int64_t j : idx) EXPECT_TRUE(training.insert(j).second) << j;
    } else {
      // 10 of 50 clients: a fifth of each class (120 of 600) is set aside, 1200 samples; a
      // novel client's quota is 120, less what int() rounds off.
      EXPECT_LE(clients[i].train.numel(), 120) << "client " << i;
      EXPECT_GE(clients[i].train.numel(), 110) << "client " << i;
      novel.insert(idx.begin(), idx.end());
    }
  }
  EXPECT_LE(novel.size(), 1200u);
  for (int64_t j : novel) EXPECT_EQ(training.count(j), 0u) << j;
  // The training clients split the four fifths left (less a spare share per class).
  EXPECT_LE(training.size(), 4800u);
  EXPECT_GT(training.size(), 4000u);
}

TEST(PartitionNovelShift, AlphaSetsHowFarANovelClientIsFromUniform) {
  const Labels labels = synthetic_labels();
  const PartitionOptions opt = shifted_novel_options();  // alphas alternate 0.01, 1000
  const auto clients = partition_clients(labels.train, labels.val, labels.test, opt, 5);
  const std::vector<int64_t> ytr = to_vector(labels.train), yte = to_vector(labels.test);
  // Dir(0.01) puts nearly all mass on one or two classes (a single draw may split it, e.g.
  // 0.7 / 0.3); Dir(1000) is nearly uniform. The test split follows the same proportions.
  double concentrated_share = 0.0;
  for (size_t i = 40; i < 50; ++i) {
    const bool concentrated = (i - 40) % 2 == 0;
    const double share = max_class_share(ytr, clients[i].train);
    if (concentrated) {
      EXPECT_GT(share, 0.5) << "client " << i;
      EXPECT_LE(class_counts(ytr, clients[i].train).size(), 3u) << "client " << i;
      EXPECT_NEAR(max_class_share(yte, clients[i].test), share, 0.15) << "client " << i;
      concentrated_share += share / 5.0;
    } else {
      EXPECT_LT(share, 0.2) << "client " << i;
      EXPECT_EQ(class_counts(ytr, clients[i].train).size(), 10u) << "client " << i;
    }
  }
  EXPECT_GT(concentrated_share, 0.85);
}

TEST(PartitionNovelShift, DeterministicAndWithoutAlphasThePlainPartition) {
  const Labels labels = synthetic_labels();
  const PartitionOptions opt = shifted_novel_options();
  const auto a = partition_clients(labels.train, labels.val, labels.test, opt, 8);
  const auto b = partition_clients(labels.train, labels.val, labels.test, opt, 8);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(torch::equal(a[i].train, b[i].train)) << "client " << i;
    EXPECT_TRUE(torch::equal(a[i].test, b[i].test)) << "client " << i;
  }
  // num_novel alone (kLast) leaves the partition as it was: the last clients of it.
  PartitionOptions plain;
  PartitionOptions held_out = plain;
  held_out.num_novel = 10;
  const auto p = partition_clients(labels.train, labels.val, labels.test, plain, 8);
  const auto q = partition_clients(labels.train, labels.val, labels.test, held_out, 8);
  for (size_t i = 0; i < p.size(); ++i) EXPECT_TRUE(torch::equal(p[i].train, q[i].train));
}

TEST(PartitionNovelShift, BadOptionsThrow) {
  const Labels labels = synthetic_labels();
  PartitionOptions opt = shifted_novel_options();
  opt.novel_alphas = {1.0, 0.0};
  EXPECT_THROW(partition_clients(labels.train, labels.val, labels.test, opt, 1), DataError);
  opt.novel_alphas = {1.0};
  opt.num_novel = 50;
  EXPECT_THROW(partition_clients(labels.train, labels.val, labels.test, opt, 1), DataError);
  opt.num_novel = 0;
  EXPECT_THROW(partition_clients(labels.train, labels.val, labels.test, opt, 1), DataError);
}

// ---- per-client Dirichlet (the authors' lab) ----

TEST(PartitionDirichletPerClient, EveryClassIsSharedOutWholeAndClientsAreSkewed) {
  Rng rng(4);
  const ClassAssignment a = assign_dirichlet_per_client(90, 10, 0.1, rng);
  ASSERT_EQ(a.num_clients(), 90);
  std::vector<double> class_sum(10, 0.0);
  int64_t skewed = 0;
  for (size_t u = 0; u < 90; ++u) {
    ASSERT_EQ(a.classes[u].size(), a.proportions[u].size());
    double top = 0.0, all = 0.0;
    for (size_t s = 0; s < a.classes[u].size(); ++s) {
      class_sum[static_cast<size_t>(a.classes[u][s])] += a.proportions[u][s];
      top = std::max(top, a.proportions[u][s]);
      all += a.proportions[u][s];
    }
    if (top > 0.5 * all) ++skewed;
  }
  for (size_t c = 0; c < 10; ++c) EXPECT_NEAR(class_sum[c], 1.0, 1e-12) << "class " << c;
  EXPECT_GT(skewed, 45) << "alpha 0.1 should give most clients one dominant class";
  Rng again(4);
  const ClassAssignment b = assign_dirichlet_per_client(90, 10, 0.1, again);
  EXPECT_EQ(a.proportions, b.proportions);
}

TEST(PartitionDirichletPerClient, IsAPartitionScheme) {
  const Labels labels = synthetic_labels();
  PartitionOptions opt;
  opt.num_clients = 20;
  opt.scheme = Scheme::kDirichletPerClient;
  opt.dirichlet_alpha = 0.3;
  const Partition p = make_partition(labels.train, labels.val, labels.test, opt, 2);
  ASSERT_EQ(p.clients.size(), 20u);
  Rng rng(derive_seed(2, {stream::kPartition}));
  const ClassAssignment expected = assign_dirichlet_per_client(20, 10, 0.3, rng);
  EXPECT_EQ(p.assignment.proportions, expected.proportions);
  std::set<int64_t> used;
  for (const auto& c : p.clients) {
    for (int64_t j : to_vector(c.train)) EXPECT_TRUE(used.insert(j).second) << j;
  }
  EXPECT_GT(used.size(), 5900u);  // all 6000 but what int() rounds off
}

// ---- novel-client sets (the authors' lab's protocol) ----

PartitionOptions set_options() {
  PartitionOptions opt;
  opt.num_clients = 20;
  opt.num_novel = 2;  // a tenth of every split set aside
  opt.scheme = Scheme::kDirichletPerClient;
  opt.dirichlet_alpha = 0.1;
  opt.novel_scheme = NovelScheme::kSets;
  opt.novel_alphas = {0.1, 1.0, 100.0};
  return opt;
}

TEST(PartitionNovelSets, ATenthOfEverySplitIsSetAsideForTheNovelSets) {
  const Labels labels = synthetic_labels();
  const PartitionOptions opt = set_options();
  const Partition p = make_partition(labels.train, labels.val, labels.test, opt, 3);
  ASSERT_EQ(p.assignment.num_clients(), 18);
  ASSERT_EQ(p.clients.size(), 20u);
  std::set<int64_t> training;
  for (size_t i = 0; i < 18; ++i) {
    for (int64_t j : to_vector(p.clients[i].train)) training.insert(j);
  }
  EXPECT_LE(training.size(), 5400u);  // 6000 less ceil(600) set aside
  EXPECT_GT(training.size(), 5300u);
  for (size_t k = 0; k < opt.novel_alphas.size(); ++k) {
    const NovelSet set = novel_client_set(labels.train, labels.val, labels.test, opt, 3, k);
    EXPECT_EQ(set.alpha, opt.novel_alphas[k]);
    ASSERT_EQ(set.clients.size(), 2u);
    std::set<int64_t> novel;
    for (const auto& c : set.clients) {
      for (int64_t j : to_vector(c.train)) {
        EXPECT_EQ(training.count(j), 0u) << "set " << k << " sample " << j;
        EXPECT_TRUE(novel.insert(j).second) << "two novel clients share sample " << j;
      }
      EXPECT_GT(c.test.numel(), 0);
    }
    EXPECT_LE(novel.size(), 600u);
    EXPECT_GT(novel.size(), 580u);
  }
  // The training run's novel clients are the first set's.
  const NovelSet first = novel_client_set(labels.train, labels.val, labels.test, opt, 3, 0);
  for (size_t k = 0; k < 2; ++k) {
    EXPECT_TRUE(torch::equal(p.clients[18 + k].train, first.clients[k].train));
    EXPECT_TRUE(torch::equal(p.clients[18 + k].test, first.clients[k].test));
  }
}

TEST(PartitionNovelSets, SetsDifferAndLargeAlphaIsNearUniform) {
  const Labels labels = synthetic_labels();
  const PartitionOptions opt = set_options();
  const NovelSet a = novel_client_set(labels.train, labels.val, labels.test, opt, 9, 0);
  const NovelSet c = novel_client_set(labels.train, labels.val, labels.test, opt, 9, 2);
  EXPECT_NE(a.assignment.proportions, c.assignment.proportions);
  const std::vector<int64_t> ytr = to_vector(labels.train);
  for (const auto& client : c.clients) {  // alpha 100: every class, none dominant
    EXPECT_EQ(class_counts(ytr, client.train).size(), 10u);
    EXPECT_LT(max_class_share(ytr, client.train), 0.2);
  }
  EXPECT_THROW(novel_client_set(labels.train, labels.val, labels.test, opt, 9, 3), DataError);
}

// ---- check_assignment ----

TEST(PartitionCheck, RefusesBadAssignmentsNamingTheProblem) {
  ClassAssignment a;
  a.classes = {{0, 1}, {1, 2}};
  a.proportions = {{0.5, 0.5}, {0.5, 0.5}};
  EXPECT_NO_THROW(check_assignment(a, 2, 3, "f"));
  auto message = [](const ClassAssignment& bad, int64_t clients) {
    try {
      check_assignment(bad, clients, 3, "f");
    } catch (const DataError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(a, 3).find("has 2 clients, expected 3"), std::string::npos);
  ClassAssignment out_of_range = a;
  out_of_range.classes[1][1] = 3;
  EXPECT_NE(message(out_of_range, 2).find("client 1 has class 3, outside [0, 2]"),
            std::string::npos);
  ClassAssignment over = a;
  over.proportions[1][0] = 0.6;  // class 1: 0.5 + 0.6
  EXPECT_NE(message(over, 2).find("proportions of class 1 sum to 1.1"), std::string::npos);
  ClassAssignment negative = a;
  negative.proportions[0][0] = -0.1;
  EXPECT_NE(message(negative, 2).find("outside [0, 1]"), std::string::npos);
  ClassAssignment ragged = a;
  ragged.proportions[0].pop_back();
  EXPECT_NE(message(ragged, 2).find("client 0 has 2 classes but 1 proportions"), std::string::npos);
}

}  // namespace
}  // namespace pfedhn::data
