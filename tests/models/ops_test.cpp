#include <gtest/gtest.h>
#include <torch/torch.h>

#include <limits>

#include "pfedhn/models/ops.h"

namespace pfedhn::models {
namespace {

// The reference: what target_forward computed before the fused kernel.
torch::Tensor reference(const torch::Tensor& x) {
  return torch::max_pool2d(torch::relu(x), 2);
}

void expect_same_as_reference(torch::Tensor x) {
  auto a = x.detach().clone().requires_grad_(true);
  auto b = x.detach().clone().requires_grad_(true);
  const auto fused = relu_max_pool2x2(a);
  const auto ref = reference(b);
  ASSERT_EQ(fused.sizes(), ref.sizes());
  EXPECT_TRUE(torch::equal(fused.contiguous(), ref.contiguous()));
  const auto grad = torch::randn(ref.sizes());
  fused.backward(grad);
  ref.backward(grad);
  EXPECT_TRUE(torch::equal(a.grad().contiguous(), b.grad().contiguous()));
}

TEST(ReluMaxPool, MatchesReluThenMaxPoolOnContiguousInput) {
  torch::manual_seed(1);
  expect_same_as_reference(torch::randn({3, 4, 8, 6}));
}

TEST(ReluMaxPool, MatchesOnChannelsLastInputAndKeepsTheLayout) {
  torch::manual_seed(2);
  const auto x = torch::randn({2, 5, 6, 6}).contiguous(at::MemoryFormat::ChannelsLast);
  expect_same_as_reference(x);
  EXPECT_TRUE(relu_max_pool2x2(x).is_contiguous(at::MemoryFormat::ChannelsLast));
}

TEST(ReluMaxPool, FloorsOddSizesLikeMaxPool) {
  torch::manual_seed(3);
  const auto x = torch::randn({2, 3, 11, 7});
  EXPECT_EQ(relu_max_pool2x2(x).sizes(), (std::vector<int64_t>{2, 3, 5, 3}));
  expect_same_as_reference(x);
  expect_same_as_reference(x.contiguous(at::MemoryFormat::ChannelsLast));
}

TEST(ReluMaxPool, TiesAndAllNegativeWindowsRouteGradientLikeTheReference) {
  // Window 0 ties at its maximum (first one wins); window 1 is all negative (no gradient).
  auto x = torch::tensor({1.0f, 1.0f, -1.0f, -2.0f, 0.5f, 1.0f, -3.0f, -4.0f}).view({1, 1, 2, 4});
  expect_same_as_reference(x);
  auto a = x.clone().requires_grad_(true);
  relu_max_pool2x2(a).sum().backward();
  EXPECT_TRUE(torch::equal(a.grad().flatten(),
                           torch::tensor({1.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f})));
}

TEST(ReluMaxPool, PropagatesNaN) {
  auto x = torch::zeros({1, 1, 2, 2});
  x[0][0][1][0] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(torch::isnan(relu_max_pool2x2(x)).all().item<bool>());
}

TEST(ReluMaxPool, WorksWithoutAutograd) {
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({2, 3, 4, 4}, torch::requires_grad());
  const auto out = relu_max_pool2x2(x);
  EXPECT_FALSE(out.requires_grad());
  EXPECT_TRUE(torch::equal(out, reference(x)));
}

}  // namespace
}  // namespace pfedhn::models
