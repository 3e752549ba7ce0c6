#include "pfedhn/eval/evaluator.h"

#include <gtest/gtest.h>

#include <cmath>

namespace pfedhn::eval {
namespace {

TEST(Summarise, PoolsAccuracyAndAveragesPerClientLoss) {
  // Client 0: 9/10 right, mean loss 0.2; client 1: 10/30 right, mean loss 1.0.
  const auto m = summarise({{9, 10, 2.0}, {10, 30, 30.0}});
  EXPECT_DOUBLE_EQ(m.accuracy, 19.0 / 40.0);  // pooled, not the mean of 0.9 and 0.333
  EXPECT_DOUBLE_EQ(m.mean_loss, 0.6);
  EXPECT_DOUBLE_EQ(m.min_accuracy, 10.0 / 30.0);
  EXPECT_DOUBLE_EQ(m.max_accuracy, 0.9);
  EXPECT_NEAR(m.std_accuracy, (0.9 - 1.0 / 3.0) / 2.0, 1e-12);  // population std of two values
  EXPECT_EQ(m.total, 40);
}

TEST(Summarise, ClientsWithoutSamplesAreLeftOutOfPerClientStatistics) {
  const auto m = summarise({{5, 10, 1.0}, {0, 0, 0.0}});
  EXPECT_DOUBLE_EQ(m.accuracy, 0.5);
  EXPECT_DOUBLE_EQ(m.min_accuracy, 0.5);
  EXPECT_DOUBLE_EQ(m.std_accuracy, 0.0);
  ASSERT_EQ(m.client_accuracy.size(), 2u);
  EXPECT_TRUE(std::isnan(m.client_accuracy[1]));
}

TEST(EvaluateClient, CountsCorrectPredictionsAndSumsLossAcrossBatches) {
  // A "model" that predicts the first pixel as the class (one-hot logits).
  data::Split split{torch::tensor({0, 1, 2, 1, 0}, torch::kFloat).view({5, 1, 1, 1}),
                    torch::tensor({0, 1, 1, 1, 2}, torch::kLong),
                    {},
                    {}};
  ClientModel model = [](const torch::Tensor& x) {
    return torch::one_hot(x.flatten().to(torch::kLong), 3).to(torch::kFloat) * 100.0;
  };
  const auto counts = evaluate_client(model, split, torch::tensor({0, 1, 2, 3, 4}), 2);
  EXPECT_EQ(counts.correct, 3);
  EXPECT_EQ(counts.total, 5);
  EXPECT_NEAR(counts.loss_sum, 200.0, 1e-3);  // two wrong answers at margin 100
}

TEST(BestTracker, KeepsTheFirstBestValidationAccuracy) {
  BestTracker t;
  EvalRecord a, b, c;
  a.round = 0;
  a.val.accuracy = 0.5;
  b.round = 30;
  b.val.accuracy = 0.7;
  b.test.accuracy = 0.66;
  c.round = 60;
  c.val.accuracy = 0.7;
  EXPECT_TRUE(t.update(a));
  EXPECT_TRUE(t.update(b));
  EXPECT_FALSE(t.update(c));
  EXPECT_EQ(t.best.round, 30);
  EXPECT_DOUBLE_EQ(t.best.test.accuracy, 0.66);
}

}  // namespace
}  // namespace pfedhn::eval
