#include "pfedhn/models/ops.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <limits>

namespace pfedhn::models {
namespace {

const auto kChannelsLast = at::MemoryFormat::ChannelsLast;

// What target_forward computed before the kernel.
torch::Tensor reference(const torch::Tensor& x) {
  return torch::relu(torch::max_pool2d(x, 2));
}

void expect_same_as_reference(const torch::Tensor& x_in) {
  const auto x = x_in.contiguous(kChannelsLast);
  auto a = x.detach().clone(kChannelsLast).requires_grad_(true);
  auto b = x.detach().clone(kChannelsLast).requires_grad_(true);
  const auto ours = relu_max_pool2x2(a);
  const auto ref = reference(b);
  ASSERT_EQ(ours.sizes(), ref.sizes());
  EXPECT_TRUE(ours.is_contiguous(kChannelsLast));
  EXPECT_TRUE(torch::equal(ours.contiguous(), ref.contiguous())) << "C = " << x.size(1);
  const auto grad = torch::randn(ref.sizes());
  ours.backward(grad);
  ref.backward(grad);
  EXPECT_TRUE(torch::equal(a.grad().contiguous(), b.grad().contiguous())) << "C = " << x.size(1);
}

// Channel counts below, at, and between multiples of the 4-wide block (whose last block
// overlaps the one before), including MNIST's 7 and 14 and CIFAR's 16 and 32.
TEST(ReluMaxPool, MatchesReluOfMaxPoolForEveryChannelCount) {
  torch::manual_seed(1);
  for (int64_t c : {1, 2, 3, 4, 5, 7, 8, 13, 14, 16, 32}) {
    expect_same_as_reference(torch::randn({3, c, 8, 6}));
  }
}

TEST(ReluMaxPool, FloorsOddSizesLikeMaxPool) {
  torch::manual_seed(3);
  const auto x = torch::randn({2, 6, 11, 7}).contiguous(kChannelsLast);
  EXPECT_EQ(relu_max_pool2x2(x).sizes(), (std::vector<int64_t>{2, 6, 5, 3}));
  expect_same_as_reference(x);
}

// Blank image regions make equal activations, so ties are common: the gradient must go to the
// first maximum in row-major order, as max_pool2d's does.
TEST(ReluMaxPool, TiesRouteTheGradientToTheFirstMaximumInEveryChannel) {
  for (int64_t c : {1, 5}) {
    // Per channel: window 0 = [1 1; 1 1] (all tie), window 1 = [-1 2; 2 2] (ties after the first).
    auto plane = torch::tensor({1.0f, 1.0f, -1.0f, 2.0f, 1.0f, 1.0f, 2.0f, 2.0f}).view({2, 4});
    auto x = plane.expand({1, c, 2, 4}).contiguous(kChannelsLast);
    expect_same_as_reference(x);
    auto a = x.clone(kChannelsLast).requires_grad_(true);
    relu_max_pool2x2(a).sum().backward();
    const auto expected = torch::tensor({1.0f, 0.0f, 0.0f, 1.0f, 0.0f, 0.0f, 0.0f, 0.0f});
    for (int64_t ch = 0; ch < c; ++ch) {
      EXPECT_TRUE(torch::equal(a.grad()[0][ch].flatten(), expected)) << "channel " << ch;
    }
  }
}

TEST(ReluMaxPool, AllNegativeWindowsGetNoGradient) {
  auto x = (-torch::rand({2, 6, 4, 4}) - 0.1f).contiguous(kChannelsLast).requires_grad_(true);
  const auto out = relu_max_pool2x2(x);
  EXPECT_TRUE(torch::equal(out, torch::zeros_like(out)));
  out.sum().backward();
  EXPECT_TRUE(torch::equal(x.grad(), torch::zeros_like(x)));
}

TEST(ReluMaxPool, PropagatesNaNWithNoGradient) {
  for (int64_t c : {1, 6}) {
    auto x = torch::ones({1, c, 2, 2});
    x[0][c - 1][1][0] = std::numeric_limits<float>::quiet_NaN();
    auto a = x.contiguous(kChannelsLast).requires_grad_(true);
    const auto out = relu_max_pool2x2(a);
    EXPECT_TRUE(std::isnan(out[0][c - 1][0][0].item<float>()));
    if (c > 1) {
      EXPECT_EQ(out[0][0][0][0].item<float>(), 1.0f);  // the other channels are intact
    }
    out.sum().backward();
    EXPECT_TRUE(torch::equal(a.grad()[0][c - 1], torch::zeros({2, 2})));
  }
}

TEST(ReluMaxPool, WorksWithoutAutograd) {
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({2, 9, 4, 4}, torch::requires_grad()).contiguous(kChannelsLast);
  const auto out = relu_max_pool2x2(x);
  EXPECT_FALSE(out.requires_grad());
  EXPECT_TRUE(torch::equal(out, reference(x)));
}

TEST(ReluMaxPool, RejectsWhatItDoesNotHandle) {
  EXPECT_FALSE(relu_max_pool2x2_supports(torch::randn({2, 3, 4, 4})));  // NCHW, C > 1
  EXPECT_FALSE(relu_max_pool2x2_supports(
      torch::randn({2, 3, 4, 4}, torch::kDouble).contiguous(kChannelsLast)));
  EXPECT_FALSE(relu_max_pool2x2_supports(torch::randn({2, 3, 1, 4}).contiguous(kChannelsLast)));
  EXPECT_TRUE(relu_max_pool2x2_supports(torch::randn({2, 3, 4, 4}).contiguous(kChannelsLast)));
  EXPECT_THROW(relu_max_pool2x2(torch::randn({2, 3, 4, 4})), c10::Error);
}

}  // namespace
}  // namespace pfedhn::models
