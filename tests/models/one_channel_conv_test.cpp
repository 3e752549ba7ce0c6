#include <gtest/gtest.h>
#include <torch/torch.h>

#include "pfedhn/models/ops.h"
#include "pfedhn/models/target.h"

namespace pfedhn::models {
namespace {

const auto kChannelsLast = at::MemoryFormat::ChannelsLast;

// Skips (with the reason shown) on a CPU without AVX2 and FMA, where target_forward keeps
// torch::conv2d and the kernel is never called.
#define SKIP_WITHOUT_KERNEL(x, w, b) \
  if (!conv2d_one_channel_supports(x, w, b)) GTEST_SKIP() << "no AVX2+FMA on this CPU"

void expect_same_as_conv2d(int64_t n, int64_t c, int64_t k, int64_t h, int64_t w_side) {
  const auto x = torch::randn({n, 1, h, w_side}).contiguous(kChannelsLast);
  auto w = (torch::randn({c, 1, k, k}) * 0.3).requires_grad_(true);
  auto b = torch::randn({c}).requires_grad_(true);
  auto w_ref = w.detach().clone().requires_grad_(true);
  auto b_ref = b.detach().clone().requires_grad_(true);
  SKIP_WITHOUT_KERNEL(x, w, b);
  const auto ours = conv2d_one_channel(x, w, b);
  const auto ref = torch::conv2d(x, w_ref, b_ref);
  ASSERT_EQ(ours.sizes(), ref.sizes());
  EXPECT_TRUE(ours.is_contiguous(kChannelsLast));
  EXPECT_TRUE(torch::allclose(ours, ref, 1e-5, 1e-5)) << "C = " << c << ", K = " << k;
  const auto grad = torch::randn(ref.sizes());
  ours.backward(grad);
  ref.backward(grad);
  // Sums over thousands of pixels, in another order than oneDNN's.
  EXPECT_TRUE(torch::allclose(w.grad(), w_ref.grad(), 1e-4, 1e-3)) << "C = " << c << ", K = " << k;
  EXPECT_TRUE(torch::allclose(b.grad(), b_ref.grad(), 1e-4, 1e-3)) << "C = " << c << ", K = " << k;
}

// Output channel counts below, at and past the 8-wide block (a partial block's wide stores
// spill onto the next pixel), including MNIST's 7 and the hetero widths 8, 16 and 32; at two
// threads the rows are split between threads, whose stores must not spill onto each other's.
TEST(OneChannelConv, MatchesConv2dAndItsGradientForEveryChannelCount) {
  torch::manual_seed(11);
  const int before = at::get_num_threads();
  for (int threads : {1, 2}) {
    at::set_num_threads(threads);
    for (int64_t c : {1, 3, 7, 8, 9, 15, 16, 32}) expect_same_as_conv2d(5, c, 3, 28, 28);
  }
  at::set_num_threads(before);
}

TEST(OneChannelConv, MatchesConv2dForFiveByFiveKernelsAndNonSquareImages) {
  torch::manual_seed(12);
  expect_same_as_conv2d(3, 6, 5, 13, 9);
  expect_same_as_conv2d(3, 9, 5, 13, 9);    // a full and a partial block
  expect_same_as_conv2d(2, 16, 5, 12, 12);  // two full blocks
  expect_same_as_conv2d(1, 7, 3, 3, 3);     // a 1x1 output
  expect_same_as_conv2d(2, 2, 3, 6, 6);     // spills reach several pixels of a short row
}

// Target weights are views into one flat buffer; here also non-contiguous, and only one of
// weight and bias trained.
TEST(OneChannelConv, GradientsForViewsAndForOnlyOneOfWeightAndBias) {
  torch::manual_seed(15);
  const auto x = torch::randn({4, 1, 10, 10});
  const auto w0 = torch::randn({9, 1, 3, 3});
  const auto b0 = torch::randn({9});
  SKIP_WITHOUT_KERNEL(x, w0, b0);
  const auto g = torch::randn({4, 9, 8, 8});
  for (int which = 0; which < 3; ++which) {  // 0: both, 1: weight only, 2: bias only
    auto flat = torch::cat({b0, w0.flatten()}).requires_grad_(which != 1);
    auto w_leaf = w0.permute({0, 1, 3, 2}).contiguous().permute({0, 1, 3, 2});  // not contiguous
    w_leaf.requires_grad_(which != 2);
    const auto b = flat.narrow(0, 0, 9);  // a view with a graph behind it
    conv2d_one_channel(x, w_leaf, b).backward(g);
    auto w_ref = w0.clone().requires_grad_(true);
    auto b_ref = b0.clone().requires_grad_(true);
    torch::conv2d(x, w_ref, b_ref).backward(g);
    if (which != 2) {
      EXPECT_TRUE(torch::allclose(w_leaf.grad(), w_ref.grad(), 1e-4, 1e-3)) << which;
    }
    if (which != 1) {
      EXPECT_TRUE(torch::allclose(flat.grad().narrow(0, 0, 9), b_ref.grad(), 1e-4, 1e-3)) << which;
    }
  }
}

TEST(OneChannelConv, NoGradModeAndDoubleBackward) {
  const auto x = torch::randn({2, 1, 6, 6});
  auto w = torch::randn({3, 1, 3, 3}).requires_grad_(true);
  auto b = torch::randn({3}).requires_grad_(true);
  SKIP_WITHOUT_KERNEL(x, w, b);
  {
    torch::NoGradGuard no_grad;
    const auto out = conv2d_one_channel(x, w, b);
    EXPECT_FALSE(out.requires_grad());
    EXPECT_TRUE(torch::allclose(out, torch::conv2d(x, w, b), 1e-5, 1e-5));
  }
  const auto out = conv2d_one_channel(x, w, b).pow(2).sum();
  try {
    torch::autograd::grad({out}, {w}, {}, /*retain_graph=*/true, /*create_graph=*/true);
    ADD_FAILURE() << "a graph of the gradient was built without its dependence on grad_out";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("double backward"), std::string::npos) << e.what();
  }
}

TEST(OneChannelConv, GradientIsTheSameAtOneAndTwoThreads) {
  torch::manual_seed(13);
  const auto x = torch::randn({64, 1, 28, 28});
  const auto w0 = torch::randn({7, 1, 3, 3});
  const auto b0 = torch::randn({7});
  SKIP_WITHOUT_KERNEL(x, w0, b0);
  const auto g = torch::randn({64, 7, 26, 26}).contiguous(kChannelsLast);
  std::vector<torch::Tensor> grads;
  const int before = at::get_num_threads();
  for (int threads : {1, 2, 2}) {
    at::set_num_threads(threads);
    auto w = w0.clone().requires_grad_(true);
    auto b = b0.clone().requires_grad_(true);
    conv2d_one_channel(x, w, b).backward(g);
    grads.push_back(w.grad());
  }
  at::set_num_threads(before);
  EXPECT_TRUE(torch::allclose(grads[0], grads[1], 1e-4, 1e-3));
  EXPECT_TRUE(torch::equal(grads[1], grads[2])) << "not reproducible at a fixed thread count";
}

// Holds on any CPU (without AVX2 and FMA nothing is supported).
TEST(OneChannelConv, RefusesWhatItDoesNotHandle) {
  const auto x = torch::randn({2, 1, 8, 8});
  const auto w = torch::randn({4, 1, 3, 3});
  const auto b = torch::randn({4});
  EXPECT_FALSE(
      conv2d_one_channel_supports(torch::randn({2, 3, 8, 8}), torch::randn({4, 3, 3, 3}), b));
  EXPECT_FALSE(conv2d_one_channel_supports(x, torch::randn({4, 1, 7, 7}), b));
  EXPECT_FALSE(conv2d_one_channel_supports(x, w, torch::randn({5})));
  EXPECT_FALSE(conv2d_one_channel_supports(x.clone().requires_grad_(true), w, b));
  EXPECT_FALSE(conv2d_one_channel_supports(x.to(torch::kDouble), w.to(torch::kDouble), b));
  EXPECT_FALSE(conv2d_one_channel_supports(torch::randn({2, 1, 2, 8}), w, b));
  EXPECT_FALSE(conv2d_one_channel_supports(x.transpose(2, 3), w, b));
  EXPECT_THROW(conv2d_one_channel(x, torch::randn({4, 1, 7, 7}), b), c10::Error);
}

// The MNIST target network uses the kernel for its first layer; its output and weight gradients
// must stay those of torch::conv2d.
TEST(OneChannelConv, MnistTargetForwardMatchesPlainConvolutions) {
  torch::manual_seed(14);
  const auto spec = make_target_spec(TargetArch::kMnistCnn, 1, 7, 10, 28, true);
  const auto x = torch::randn({16, 1, 28, 28});
  SKIP_WITHOUT_KERNEL(x, torch::randn({7, 1, 3, 3}), torch::randn({7}));
  Weights w, w_ref;
  for (const auto& t : spec.tensors) {
    w.push_back((torch::randn(t.shape) * 0.2).requires_grad_(true));
    w_ref.push_back(w.back().detach().clone().requires_grad_(true));
  }
  const auto out = target_forward(spec, w, x);
  auto h = torch::max_pool2d(torch::relu(torch::conv2d(x, w_ref[0], w_ref[1])), 2);
  h = torch::max_pool2d(torch::relu(torch::conv2d(h, w_ref[2], w_ref[3])), 2);
  h = torch::relu(torch::conv2d(h, w_ref[4], w_ref[5])).flatten(1);
  h = torch::relu(torch::linear(h, w_ref[6], w_ref[7]));
  h = torch::relu(torch::linear(h, w_ref[8], w_ref[9]));
  const auto ref = torch::linear(h, w_ref[10], w_ref[11]);
  EXPECT_TRUE(torch::allclose(out, ref, 1e-4, 1e-4));
  out.sum().backward();
  ref.sum().backward();
  for (size_t i = 0; i < w.size(); ++i) {
    EXPECT_TRUE(torch::allclose(w[i].grad(), w_ref[i].grad(), 1e-3, 1e-3)) << spec.tensors[i].name;
  }
}

}  // namespace
}  // namespace pfedhn::models
