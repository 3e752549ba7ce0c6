#include <gtest/gtest.h>

#include "pfedhn/fl/client_update.h"
#include "pfedhn/fl/server_update.h"

namespace pfedhn::fl {
namespace {

using models::HyperNetwork;
using models::TargetArch;
using models::TargetSpec;
using models::Weights;

TargetSpec tiny_spec(bool with_head = true) {
  return models::make_target_spec(TargetArch::kMnistCnn, 1, 2, 3, 28, with_head);
}

HyperNetwork tiny_hnet(const TargetSpec& spec, uint64_t seed) {
  models::HyperNetworkOptions o;
  o.num_clients = 4;
  o.embedding_dim = 2;
  o.hidden_dim = 8;
  o.n_hidden = 1;
  HyperNetwork h(spec, o);
  h->reset_parameters(seed);
  return h;
}

data::Split random_split(int64_t n, int64_t classes, uint64_t seed) {
  torch::manual_seed(seed);
  return {torch::randn({n, 1, 28, 28}), torch::randint(classes, {n}, torch::kLong), {}, {}};
}

Weights detached(const Weights& w) {
  Weights out;
  for (const auto& t : w) out.push_back(t.detach().clone());
  return out;
}

TEST(ServerUpdate, GradientIsTheVectorJacobianProductOfDelta) {
  const auto spec = tiny_spec();
  auto hnet = tiny_hnet(spec, 1);
  auto reference = tiny_hnet(spec, 1);
  ServerOptimizerOptions so;
  so.lr = 0.1;
  so.embed_lr = 0.2;
  so.momentum = 0.9;
  so.weight_decay = 1e-3;
  auto opt = make_server_optimizer(hnet, so);

  const auto theta = hnet->forward(2);
  Weights delta;
  torch::manual_seed(5);
  for (const auto& t : theta) delta.push_back(torch::randn(t.sizes()) * 1e-3);

  // Explicit computation: d/dphi sum_t <theta_t(phi), delta_t> = J^T delta.
  const auto ref_theta = reference->forward(2);
  torch::Tensor inner = torch::zeros({});
  for (size_t t = 0; t < ref_theta.size(); ++t) inner = inner + (ref_theta[t] * delta[t]).sum();
  inner.backward();

  const double norm = server_update(hnet, *opt, {theta}, {delta}, /*grad_clip=*/1e9);
  double ref_norm_sq = 0.0;
  const auto params = hnet->named_parameters();
  const auto ref_params = reference->named_parameters();
  for (const auto& item : ref_params) {
    const auto& p = item.value();
    ref_norm_sq += p.grad().pow(2).sum().item<double>();
    // First SGD step with momentum: buffer = grad + wd * p, so p' = p - lr * (grad + wd * p).
    const double lr = item.key() == "embeddings" ? so.embed_lr : so.lr;
    const auto expected = p.detach() - lr * (p.grad() + so.weight_decay * p.detach());
    EXPECT_TRUE(torch::allclose(params[item.key()], expected, 1e-5, 1e-7)) << item.key();
  }
  EXPECT_NEAR(norm, std::sqrt(ref_norm_sq), 1e-6 * std::sqrt(ref_norm_sq));
}

TEST(ServerUpdate, HeadGradientIsTheOuterProductOfDeltaAndFeatures) {
  // Independent of autograd: a head computes theta = W h + b, so dW = delta h^T and db = delta.
  const auto spec = tiny_spec();
  auto hnet = tiny_hnet(spec, 2);
  torch::optim::SGD opt(hnet->parameters(), torch::optim::SGDOptions(1.0));  // plain step
  const auto theta = hnet->forward(1);
  Weights delta;
  for (const auto& t : theta) delta.push_back(torch::zeros(t.sizes()));
  delta.back() = torch::randn(theta.back().sizes());

  // Features entering the heads: the MLP output for client 1.
  torch::Tensor h;
  {
    torch::NoGradGuard no_grad;
    const auto params = hnet->named_parameters();
    h = params["embeddings"][1].unsqueeze(0);
    h = torch::linear(h, params["mlp0.weight"], params["mlp0.bias"]);
    h = torch::linear(torch::relu(h), params["mlp1.weight"], params["mlp1.bias"]);
  }
  const auto untouched = hnet->named_parameters()["head_conv1_weight.bias"].detach().clone();
  const auto head_w = hnet->named_parameters()["head_fc3_bias.weight"].detach().clone();
  const auto head_b = hnet->named_parameters()["head_fc3_bias.bias"].detach().clone();
  server_update(hnet, opt, {theta}, {delta}, 1e9);
  const auto params = hnet->named_parameters();
  EXPECT_TRUE(torch::allclose(params["head_fc3_bias.weight"],
                              head_w - torch::outer(delta.back().flatten(), h.flatten()), 1e-5,
                              1e-6));
  EXPECT_TRUE(
      torch::allclose(params["head_fc3_bias.bias"], head_b - delta.back().flatten(), 1e-5, 1e-6));
  // Heads that received a zero delta did not move.
  EXPECT_TRUE(torch::equal(params["head_conv1_weight.bias"], untouched));
}

TEST(ServerUpdate, ClipsTheGlobalGradientNorm) {
  const auto spec = tiny_spec();
  auto hnet = tiny_hnet(spec, 3);
  torch::optim::SGD opt(hnet->parameters(), torch::optim::SGDOptions(1.0));  // p -= grad
  std::vector<torch::Tensor> before;
  for (const auto& p : hnet->parameters()) before.push_back(p.detach().clone());
  const auto theta = hnet->forward(0);
  Weights delta;
  for (const auto& t : theta) delta.push_back(torch::ones(t.sizes()) * 10.0);
  const double norm = server_update(hnet, opt, {theta}, {delta}, /*grad_clip=*/0.5);
  EXPECT_GT(norm, 0.5);
  double step_sq = 0.0;
  const auto after = hnet->parameters();
  for (size_t i = 0; i < after.size(); ++i)
    step_sq += (before[i] - after[i]).pow(2).sum().item<double>();
  EXPECT_NEAR(std::sqrt(step_sq), 0.5, 1e-4);
  for (const auto& p : after) EXPECT_FALSE(p.grad().defined());  // released after the step
}

TEST(ServerUpdate, AveragesTheVectorJacobianProductsOfSeveralClients) {
  const auto spec = tiny_spec();
  auto a = tiny_hnet(spec, 4), b = tiny_hnet(spec, 4);
  torch::optim::SGD opt_a(a->parameters(), torch::optim::SGDOptions(1.0));
  torch::optim::SGD opt_b(b->parameters(), torch::optim::SGDOptions(1.0));
  torch::manual_seed(1);
  const auto ta0 = a->forward(0), ta1 = a->forward(1);
  Weights d0, d1;
  for (const auto& t : ta0) d0.push_back(torch::randn(t.sizes()));
  for (const auto& t : ta1) d1.push_back(torch::randn(t.sizes()));
  server_update(a, opt_a, {ta0, ta1}, {d0, d1}, 1e9);
  // The same step computed as one VJP of the averaged objective.
  const auto tb0 = b->forward(0), tb1 = b->forward(1);
  torch::Tensor obj = torch::zeros({});
  for (size_t t = 0; t < tb0.size(); ++t) {
    obj = obj + 0.5 * ((tb0[t] * d0[t]).sum() + (tb1[t] * d1[t]).sum());
  }
  obj.backward();
  opt_b.step();
  const auto pa = a->parameters(), pb = b->parameters();
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::allclose(pa[i], pb[i], 1e-5, 1e-6));
}

// sgd_step_in_place fuses the scaling, weight decay, momentum and step into one pass per
// parameter, so it matches torch::optim::SGD on the scaled gradients up to float rounding (the
// order of the float operations is SGD's, but LibTorch's vector kernels may fuse multiply-adds).
TEST(ServerUpdate, InPlaceSgdStepEqualsTorchSgdOnScaledGradientsOverSeveralSteps) {
  torch::manual_seed(4);
  const auto init_a = torch::randn({5, 3}), init_b = torch::randn({7});
  auto make = [&] {
    return std::vector<torch::Tensor>{init_a.clone().requires_grad_(true),
                                      init_b.clone().requires_grad_(true)};
  };
  auto ours = make(), theirs = make();
  auto options = [](double lr) {
    return std::make_unique<torch::optim::SGDOptions>(
        torch::optim::SGDOptions(lr).momentum(0.9).weight_decay(1e-3));
  };
  auto optimizer = [&](std::vector<torch::Tensor>& p) {
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(std::vector<torch::Tensor>{p[0]}, options(0.1));
    groups.emplace_back(std::vector<torch::Tensor>{p[1]}, options(0.05));
    return torch::optim::SGD(std::move(groups), torch::optim::SGDOptions(0.1));
  };
  auto opt_ours = optimizer(ours), opt_theirs = optimizer(theirs);
  for (int step = 0; step < 3; ++step) {
    const auto g0 = torch::randn({5, 3}), g1 = torch::randn({7});
    ours[0].mutable_grad() = g0.clone();
    ours[1].mutable_grad() = g1.clone();
    const double scale = step == 1 ? 0.25 : 1.0;
    theirs[0].mutable_grad() = g0 * scale;
    theirs[1].mutable_grad() = g1 * scale;
    sgd_step_in_place(opt_ours, scale);
    opt_theirs.step();
    for (size_t i = 0; i < ours.size(); ++i) {
      EXPECT_TRUE(torch::allclose(ours[i], theirs[i], 1e-6, 1e-7))
          << "step " << step << " param " << i << ": max diff "
          << (ours[i] - theirs[i]).abs().max().item<double>();
    }
    // The gradients are left as they were.
    EXPECT_TRUE(torch::equal(ours[0].grad(), g0));
  }
}

TEST(ClientUpdate, OneFullBatchStepIsMinusLrTimesTheGradient) {
  const auto spec = tiny_spec();
  auto hnet = tiny_hnet(spec, 5);
  const auto theta = detached(hnet->forward(0));
  const auto train = random_split(40, 3, 2);
  const auto idx = torch::arange(10, 30, torch::kLong);  // 20 samples, batch 64 takes them all
  ClientUpdateOptions opts;
  opts.inner_steps = 1;
  opts.batch_size = 64;
  opts.lr = 0.05;
  opts.momentum = 0.0;
  opts.weight_decay = 0.0;
  opts.grad_clip = 1e9;
  const auto result = client_update(spec, theta, train, idx, nullptr, opts, 11);

  Weights w;
  for (const auto& t : theta) w.push_back(t.clone().requires_grad_(true));
  const auto loss = torch::nn::functional::cross_entropy(
      models::target_forward(spec, w, train.gather(idx)), train.y.index_select(0, idx));
  loss.backward();
  ASSERT_EQ(result.delta.size(), w.size());
  for (size_t i = 0; i < w.size(); ++i) {
    EXPECT_TRUE(torch::allclose(result.delta[i], opts.lr * w[i].grad(), 1e-4, 1e-7)) << i;
  }
  EXPECT_NEAR(result.mean_loss, loss.item<double>(), 1e-5);
}

// The flat-buffer optimiser against the textbook loop: torch::optim::SGD with momentum and weight
// decay after clip_grad_norm_, over several steps with the clip active. Every batch is the whole
// client (batch >= n), so both see the same samples; only the row order, hence rounding, differs.
TEST(ClientUpdate, SeveralStepsEqualTorchSgdAfterClipGradNorm) {
  const auto spec = tiny_spec();
  auto hnet = tiny_hnet(spec, 12);
  const auto theta = detached(hnet->forward(2));
  const auto train = random_split(24, 3, 9);
  const auto idx = torch::arange(24, torch::kLong);
  ClientUpdateOptions opts;
  opts.inner_steps = 6;
  opts.batch_size = 64;
  opts.lr = 0.05;
  opts.momentum = 0.9;
  opts.weight_decay = 0.01;
  opts.grad_clip = 0.5;
  const auto result = client_update(spec, theta, train, idx, nullptr, opts, 5);

  Weights w;
  for (const auto& t : theta) w.push_back(t.clone().requires_grad_(true));
  torch::optim::SGD sgd(
      w, torch::optim::SGDOptions(opts.lr).momentum(opts.momentum).weight_decay(opts.weight_decay));
  int clipped = 0;
  for (int64_t step = 0; step < opts.inner_steps; ++step) {
    sgd.zero_grad();
    torch::nn::functional::cross_entropy(models::target_forward(spec, w, train.gather(idx)),
                                         train.y.index_select(0, idx))
        .backward();
    clipped += torch::nn::utils::clip_grad_norm_(w, opts.grad_clip) > opts.grad_clip;
    sgd.step();
  }
  EXPECT_GT(clipped, 0) << "the clip must be active for this test to mean something";
  ASSERT_EQ(result.delta.size(), w.size());
  for (size_t i = 0; i < w.size(); ++i) {
    const auto expected = theta[i] - w[i].detach();
    EXPECT_TRUE(torch::allclose(result.delta[i], expected, 1e-3, 1e-6))
        << i << ": max diff " << (result.delta[i] - expected).abs().max().item<double>();
  }
}

TEST(ClientUpdate, ClipsTheInnerGradientNorm) {
  const auto spec = tiny_spec();
  auto hnet = tiny_hnet(spec, 6);
  const auto theta = detached(hnet->forward(0));
  const auto train = random_split(30, 3, 3);
  ClientUpdateOptions opts;
  opts.inner_steps = 1;
  opts.momentum = 0.0;
  opts.weight_decay = 0.0;
  opts.lr = 1.0;
  opts.grad_clip = 1e-3;
  const auto result =
      client_update(spec, theta, train, torch::arange(30, torch::kLong), nullptr, opts, 1);
  double sq = 0.0;
  for (const auto& d : result.delta) sq += d.pow(2).sum().item<double>();
  EXPECT_NEAR(std::sqrt(sq), 1e-3, 1e-6);
}

TEST(ClientUpdate, IsAPureFunctionOfTheStreamSeed) {
  const auto spec = tiny_spec();
  auto hnet = tiny_hnet(spec, 7);
  const auto theta = detached(hnet->forward(1));
  const auto train = random_split(200, 3, 4);
  const auto idx = torch::arange(200, torch::kLong);
  ClientUpdateOptions opts;
  opts.inner_steps = 3;
  opts.batch_size = 16;
  const auto a = client_update(spec, theta, train, idx, nullptr, opts, 42);
  const auto b = client_update(spec, theta, train, idx, nullptr, opts, 42);
  const auto c = client_update(spec, theta, train, idx, nullptr, opts, 43);
  for (size_t i = 0; i < a.delta.size(); ++i) EXPECT_TRUE(torch::equal(a.delta[i], b.delta[i]));
  EXPECT_FALSE(torch::equal(a.delta[0], c.delta[0]));
  // theta itself is left untouched.
  EXPECT_TRUE(torch::equal(theta[0], detached(hnet->forward(1))[0]));
}

TEST(ClientUpdate, PersonalisedLayerTrainsAndKeepsItsMomentum) {
  const auto spec = tiny_spec(/*with_head=*/false);
  auto hnet = tiny_hnet(spec, 8);
  const auto theta = detached(hnet->forward(0));
  const auto train = random_split(50, 3, 5);
  ClientUpdateOptions opts;
  opts.inner_steps = 2;
  opts.batch_size = 8;
  auto local = make_local_state(3, 99, opts, torch::kCPU);
  const auto before = local.layer->fc->weight.detach().clone();
  const auto result =
      client_update(spec, theta, train, torch::arange(50, torch::kLong), &local, opts, 3);
  EXPECT_EQ(result.delta.size(), spec.tensors.size());
  EXPECT_FALSE(torch::equal(before, local.layer->fc->weight));
  // Momentum buffers live in the persistent optimiser state.
  EXPECT_FALSE(local.optimizer->state().empty());
}

}  // namespace
}  // namespace pfedhn::fl
