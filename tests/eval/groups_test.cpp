#include "pfedhn/eval/groups.h"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

namespace pfedhn::eval {
namespace {

TEST(GroupAccuracy, PoolsCorrectCountsOfEachGroupsClients) {
  // Client counts: (3/7, 7), (0/0), (5/5), (1/3): groups {0, 2} and {1, 3}.
  std::vector<ClientCounts> val{{3, 7, 0.0}, {0, 0, 0.0}, {5, 5, 0.0}, {1, 3, 0.0}};
  EvalRecord r;
  r.val = summarise(val);
  r.test = summarise(val);
  const std::vector<int64_t> samples{7, 0, 5, 3};
  const auto g = group_accuracy(r, {0, 1, 0, 1}, 3, samples, samples);
  ASSERT_EQ(g.size(), 3u);
  EXPECT_EQ(g[0].clients, 2);
  EXPECT_EQ(g[0].val_correct, 8);
  EXPECT_EQ(g[0].val_total, 12);
  EXPECT_DOUBLE_EQ(g[0].test_accuracy, 8.0 / 12.0);
  EXPECT_EQ(g[1].test_correct, 1);
  EXPECT_DOUBLE_EQ(g[1].val_accuracy, 1.0 / 3.0);
  EXPECT_EQ(g[2].clients, 0);  // a group without clients has no accuracy
  EXPECT_TRUE(std::isnan(g[2].test_accuracy));
  EXPECT_THROW(group_accuracy(r, {0, 1, 0, 3}, 3, samples, samples), std::invalid_argument);
  EXPECT_THROW(group_accuracy(r, {0, 1, 0}, 3, samples, samples), std::invalid_argument);
}

TEST(GroupAccuracy, RecoversLargeCountsExactly) {
  std::vector<ClientCounts> c{{9973, 10007, 0.0}, {1, 9999, 0.0}};
  EvalRecord r;
  r.val = r.test = summarise(c);
  const auto g = group_accuracy(r, {0, 0}, 1, {10007, 9999}, {10007, 9999});
  EXPECT_EQ(g[0].val_correct, 9974);
  EXPECT_EQ(g[0].test_total, 20006);
}

}  // namespace
}  // namespace pfedhn::eval
