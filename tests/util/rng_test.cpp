#include "pfedhn/util/rng.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>

namespace pfedhn {
namespace {

TEST(DeriveSeed, DependsOnEveryIdAndItsPosition) {
  const uint64_t a = derive_seed(1, {2, 3});
  EXPECT_EQ(a, derive_seed(1, {2, 3}));
  EXPECT_NE(a, derive_seed(1, {3, 2}));
  EXPECT_NE(a, derive_seed(2, {2, 3}));
  EXPECT_NE(a, derive_seed(1, {2, 4}));
  EXPECT_NE(derive_seed(1, {}), derive_seed(1, {0}));
}

TEST(Rng, SameSeedSameSequence) {
  Rng a(7), b(7), c(8);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    const uint64_t x = a.next_u64();
    EXPECT_EQ(x, b.next_u64());
    differs |= x != c.next_u64();
  }
  EXPECT_TRUE(differs);
}

TEST(Rng, UniformIntStaysInRangeAndCoversIt) {
  Rng rng(1);
  std::vector<int> counts(7, 0);
  for (int i = 0; i < 70000; ++i) ++counts[rng.uniform_int(7)];
  for (int c : counts) EXPECT_NEAR(c, 10000, 500);
}

TEST(Rng, Uniform01MomentsMatch) {
  Rng rng(3);
  double sum = 0, sq = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double u = rng.uniform01();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
    sq += u * u;
  }
  EXPECT_NEAR(sum / n, 0.5, 0.005);
  EXPECT_NEAR(sq / n - (sum / n) * (sum / n), 1.0 / 12.0, 0.002);
}

TEST(Rng, NormalAndGammaMomentsMatch) {
  Rng rng(5);
  const int n = 200000;
  double ns = 0, nsq = 0, gs = 0, gsmall = 0;
  for (int i = 0; i < n; ++i) {
    const double z = rng.normal();
    ns += z;
    nsq += z * z;
    gs += rng.gamma(2.5);
    gsmall += rng.gamma(0.3);
  }
  EXPECT_NEAR(ns / n, 0.0, 0.01);
  EXPECT_NEAR(nsq / n, 1.0, 0.02);
  EXPECT_NEAR(gs / n, 2.5, 0.03);  // mean of Gamma(k, 1) is k
  EXPECT_NEAR(gsmall / n, 0.3, 0.01);
}

TEST(Rng, SampleWithoutReplacementGivesDistinctValuesAndKeepsScratchAPermutation) {
  Rng rng(11);
  std::vector<int64_t> scratch;
  std::vector<int64_t> out(20);
  for (int rep = 0; rep < 50; ++rep) {
    rng.sample_without_replacement(30, 20, scratch, out.data());
    std::set<int64_t> distinct(out.begin(), out.end());
    EXPECT_EQ(distinct.size(), 20u);
    EXPECT_LT(*distinct.rbegin(), 30);
    std::vector<int64_t> sorted = scratch;
    std::sort(sorted.begin(), sorted.end());
    std::vector<int64_t> iota(30);
    std::iota(iota.begin(), iota.end(), 0);
    EXPECT_EQ(sorted, iota);
  }
}

TEST(Rng, StateRoundTripsIncludingSpareNormal) {
  Rng a(9);
  a.normal();  // leaves a spare normal in the state
  Rng b(0);
  b.set_state(a.state());
  for (int i = 0; i < 10; ++i) EXPECT_EQ(a.normal(), b.normal());
}

}  // namespace
}  // namespace pfedhn
