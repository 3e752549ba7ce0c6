#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include "pfedhn/models/hypernetwork.h"
#include "pfedhn/models/target.h"

namespace pfedhn::models {
namespace {

Weights random_weights(const TargetSpec& spec, uint64_t seed) {
  torch::manual_seed(seed);
  Weights w;
  for (const auto& t : spec.tensors) w.push_back(torch::randn(t.shape) * 0.1);
  return w;
}

TEST(TargetSpec, Cifar10LeNetHas121182Parameters) {
  const auto spec = make_target_spec(TargetArch::kLeNet, 3, 16, 10, 32, true);
  EXPECT_EQ(spec.num_parameters(), 121182);
  ASSERT_EQ(spec.tensors.size(), 10u);
  EXPECT_EQ(spec.tensors[4].name, "fc1.weight");
  EXPECT_EQ(spec.tensors[4].shape, (std::vector<int64_t>{120, 800}));
}

TEST(TargetSpec, Cifar100AndPcVariantsChangeOnlyTheHead) {
  const auto c100 = make_target_spec(TargetArch::kLeNet, 3, 16, 100, 32, true);
  EXPECT_EQ(c100.num_parameters(), 121182 - 850 + 84 * 100 + 100);
  const auto pc = make_target_spec(TargetArch::kLeNet, 3, 16, 10, 32, false);
  EXPECT_EQ(pc.num_parameters(), 121182 - 850);
  EXPECT_EQ(pc.tensors.back().name, "fc2.bias");
}

TEST(TargetSpec, MnistCnnFlattensFourKTimesThreeByThree) {
  const auto spec = make_target_spec(TargetArch::kMnistCnn, 1, 7, 10, 28, true);
  // conv1 7x1x3x3, conv2 14x7x3x3, conv3 28x14x3x3, fc1 120x252, fc2 84x120, fc3 10x84 (+biases)
  const int64_t expected =
      (63 + 7) + (882 + 14) + (3528 + 28) + (30240 + 120) + (10080 + 84) + (840 + 10);
  EXPECT_EQ(spec.num_parameters(), expected);
  EXPECT_EQ(spec.tensors[6].shape, (std::vector<int64_t>{120, 252}));
}

TEST(TargetForward, OutputShapes) {
  const auto lenet = make_target_spec(TargetArch::kLeNet, 3, 16, 10, 32, true);
  EXPECT_EQ(target_forward(lenet, random_weights(lenet, 1), torch::randn({5, 3, 32, 32})).sizes(),
            (std::vector<int64_t>{5, 10}));
  const auto mnist = make_target_spec(TargetArch::kMnistCnn, 1, 7, 10, 28, true);
  EXPECT_EQ(target_forward(mnist, random_weights(mnist, 2), torch::randn({4, 1, 28, 28})).sizes(),
            (std::vector<int64_t>{4, 10}));
  const auto pc = make_target_spec(TargetArch::kLeNet, 3, 16, 10, 32, false);
  const auto features = target_forward(pc, random_weights(pc, 3), torch::randn({2, 3, 32, 32}));
  EXPECT_EQ(features.sizes(), (std::vector<int64_t>{2, TargetSpec::kFeatureDim}));
  EXPECT_GE(features.min().item<float>(), 0.0f);  // fc2 features come after a ReLU
}

TEST(TargetForward, MatchesTheEquivalentTorchModules) {
  const auto spec = make_target_spec(TargetArch::kLeNet, 3, 4, 10, 32, true);
  const auto w = random_weights(spec, 4);
  torch::nn::Conv2d c1(torch::nn::Conv2dOptions(3, 4, 5)), c2(torch::nn::Conv2dOptions(4, 8, 5));
  torch::nn::Linear f1(200, 120), f2(120, 84), f3(84, 10);
  torch::NoGradGuard no_grad;
  c1->weight.copy_(w[0]);
  c1->bias.copy_(w[1]);
  c2->weight.copy_(w[2]);
  c2->bias.copy_(w[3]);
  f1->weight.copy_(w[4]);
  f1->bias.copy_(w[5]);
  f2->weight.copy_(w[6]);
  f2->bias.copy_(w[7]);
  f3->weight.copy_(w[8]);
  f3->bias.copy_(w[9]);
  const auto x = torch::randn({3, 3, 32, 32});
  auto h = torch::max_pool2d(torch::relu(c1(x)), 2);
  h = torch::max_pool2d(torch::relu(c2(h)), 2).flatten(1);
  const auto expected = f3(torch::relu(f2(torch::relu(f1(h)))));
  EXPECT_TRUE(torch::allclose(target_forward(spec, w, x), expected, 1e-5, 1e-6));
}

HyperNetworkOptions small_options(bool spectral = false) {
  HyperNetworkOptions o;
  o.num_clients = 5;
  o.embedding_dim = 3;
  o.hidden_dim = 16;
  o.n_hidden = 2;
  o.spectral_norm = spectral;
  return o;
}

TEST(HyperNetwork, GeneratesEveryTargetTensorWithItsShape) {
  const auto spec = make_target_spec(TargetArch::kLeNet, 3, 16, 10, 32, true);
  HyperNetwork hnet(spec, small_options());
  hnet->reset_parameters(1);
  const auto w = hnet->forward(2);
  ASSERT_EQ(w.size(), spec.tensors.size());
  for (size_t i = 0; i < w.size(); ++i) EXPECT_EQ(w[i].sizes(), spec.tensors[i].shape);
  EXPECT_TRUE(w[0].requires_grad());
  // Different clients get different weights.
  EXPECT_FALSE(torch::allclose(w[0], hnet->forward(3)[0]));
}

TEST(HyperNetwork, BatchedForwardGivesEachClientItsOwnWeights) {
  const auto spec = make_target_spec(TargetArch::kLeNet, 3, 16, 10, 32, true);
  HyperNetwork hnet(spec, small_options());
  hnet->reset_parameters(1);
  const std::vector<int64_t> clients{3, 0, 2};
  const auto batched = hnet->forward(clients);
  ASSERT_EQ(batched.size(), clients.size());
  for (size_t k = 0; k < clients.size(); ++k) {
    const auto single = hnet->forward(clients[k]);
    ASSERT_EQ(batched[k].size(), single.size());
    for (size_t i = 0; i < single.size(); ++i) {
      EXPECT_EQ(batched[k][i].sizes(), spec.tensors[i].shape);
      EXPECT_TRUE(torch::allclose(batched[k][i], single[i], 1e-5, 1e-6)) << k << " " << i;
    }
  }
  // One client in a batch of one is exactly the single-client forward.
  const auto one = hnet->forward(std::vector<int64_t>{2});
  const auto single = hnet->forward(2);
  for (size_t i = 0; i < single.size(); ++i) EXPECT_TRUE(torch::equal(one[0][i], single[i]));
}

TEST(HyperNetwork, ParameterCountMatchesTheArchitecture) {
  const auto spec = make_target_spec(TargetArch::kLeNet, 3, 16, 10, 32, true);
  HyperNetworkOptions o;  // paper: 50 clients, d = 13, hidden 100, n_hidden 3
  HyperNetwork hnet(spec, o);
  int64_t count = 0;
  for (const auto& p : hnet->parameters()) count += p.numel();
  const int64_t embeddings = 50 * 13;
  const int64_t mlp = (13 * 100 + 100) + 3 * (100 * 100 + 100);
  const int64_t heads = 100 * 121182 + 121182;
  EXPECT_EQ(count, embeddings + mlp + heads);
  EXPECT_EQ(hnet->embedding_parameters().size(), 1u);
  EXPECT_EQ(hnet->network_parameters().size(), hnet->parameters().size() - 1);
}

TEST(HyperNetwork, InitialisationIsAPureFunctionOfTheSeed) {
  const auto spec = make_target_spec(TargetArch::kMnistCnn, 1, 7, 10, 28, true);
  HyperNetwork a(spec, small_options()), b(spec, small_options()), c(spec, small_options());
  a->reset_parameters(7);
  torch::manual_seed(999);  // global state must not matter
  b->reset_parameters(7);
  c->reset_parameters(8);
  const auto pa = a->parameters(), pb = b->parameters(), pc = c->parameters();
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i]));
  EXPECT_FALSE(torch::equal(pa[0], pc[0]));
  // PyTorch's default Linear init bound: 1/sqrt(fan_in) = 1/sqrt(16) for the heads.
  const auto head = a->network_parameters().back();
  EXPECT_LE(head.abs().max().item<double>(), 0.25);
  EXPECT_GT(head.abs().max().item<double>(), 0.2);
}

TEST(MaybeSpectralLinear, NormalisesTheLargestSingularValueToOne) {
  MaybeSpectralLinear layer(6, 8, /*spectral_norm=*/true);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  layer->reset_parameters(gen);
  {
    torch::NoGradGuard no_grad;
    layer->weight.mul_(10.0);
  }
  layer->train();
  for (int i = 0; i < 50; ++i) layer->forward(torch::zeros({1, 6}));  // power iterations
  layer->eval();
  // The effective weight is forward(I) - bias, transposed.
  const auto eye = torch::eye(6);
  const auto effective = (layer->forward(eye) - layer->bias).t();
  const auto sigma = std::get<1>(torch::svd(effective))[0].item<double>();
  EXPECT_NEAR(sigma, 1.0, 1e-3);
}

TEST(LocalLayer, MapsFeaturesToClassesAndInitIsSeeded) {
  LocalLayer a(10), b(10);
  a->reset_parameters(5);
  b->reset_parameters(5);
  EXPECT_TRUE(torch::equal(a->fc->weight, b->fc->weight));
  EXPECT_EQ(a->forward(torch::randn({3, TargetSpec::kFeatureDim})).sizes(),
            (std::vector<int64_t>{3, 10}));
}

}  // namespace
}  // namespace pfedhn::models

namespace pfedhn::models {
namespace {

// The target network written the plain way (NCHW, relu then max_pool2d), to check that the
// channels-last layout and the fused ReLU+pool kernel compute the same function and gradient.
torch::Tensor plain_forward(const TargetSpec& spec, const Weights& w, const torch::Tensor& x) {
  auto block = [&](const torch::Tensor& in, size_t i, bool pool) {
    auto out = torch::relu(torch::conv2d(in, w[i], w[i + 1]));
    return pool ? torch::max_pool2d(out, 2) : out;
  };
  torch::Tensor h = block(x, 0, true);
  h = block(h, 2, true);
  size_t i = 4;
  if (spec.arch == TargetArch::kMnistCnn) {
    h = block(h, 4, false);
    i = 6;
  }
  h = torch::relu(torch::linear(h.flatten(1), w[i], w[i + 1]));
  h = torch::relu(torch::linear(h, w[i + 2], w[i + 3]));
  return spec.with_head ? torch::linear(h, w[i + 4], w[i + 5]) : h;
}

void expect_same_function(const TargetSpec& spec, int64_t in_channels, int64_t side) {
  const Weights base = random_weights(spec, 11);
  auto with_grad = [&] {
    Weights w;
    for (const auto& t : base) w.push_back(t.clone().requires_grad_(true));
    return w;
  };
  Weights a = with_grad(), b = with_grad();
  const auto x = torch::randn({6, in_channels, side, side});
  const auto out_a = target_forward(spec, a, x);
  const auto out_b = plain_forward(spec, b, x);
  EXPECT_TRUE(torch::allclose(out_a, out_b, 1e-4, 1e-5));
  out_a.pow(2).sum().backward();
  out_b.pow(2).sum().backward();
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(torch::allclose(a[i].grad(), b[i].grad(), 1e-3, 1e-5)) << spec.tensors[i].name;
  }
}

TEST(TargetForward, LeNetMatchesThePlainNchwNetworkAndItsGradient) {
  expect_same_function(make_target_spec(TargetArch::kLeNet, 3, 16, 10, 32, true), 3, 32);
}

TEST(TargetForward, MnistCnnMatchesThePlainNchwNetworkAndItsGradient) {
  expect_same_function(make_target_spec(TargetArch::kMnistCnn, 1, 7, 10, 28, true), 1, 28);
}

}  // namespace
}  // namespace pfedhn::models
