// One hypernetwork serving target networks of several widths (paper Section 5.2).
#include <gtest/gtest.h>

#include <string>

#include "pfedhn/models/hypernetwork.h"
#include "pfedhn/models/target.h"

namespace pfedhn::models {
namespace {

std::vector<TargetSpec> mnist_specs(const std::vector<int64_t>& widths, bool with_head = true) {
  std::vector<TargetSpec> specs;
  for (const int64_t k : widths) {
    specs.push_back(make_target_spec(TargetArch::kMnistCnn, 1, k, 10, 28, with_head));
  }
  return specs;
}

HyperNetworkOptions hetero_options(std::vector<int64_t> client_spec) {
  HyperNetworkOptions o;
  o.num_clients = static_cast<int64_t>(client_spec.size());
  o.embedding_dim = 3;
  o.hidden_dim = 8;
  o.n_hidden = 1;
  o.client_spec = std::move(client_spec);
  return o;
}

int64_t count(const std::vector<torch::Tensor>& params) {
  int64_t n = 0;
  for (const auto& p : params) n += p.numel();
  return n;
}

TEST(HeteroTargetSpec, MnistAndLeNetParameterCountsPerWidth) {
  // MNIST net: conv 3x3 k, 2k, 4k; fc1 120 x (4k * 3 * 3); fc2 84 x 120; fc3 10 x 84.
  auto mnist = [](int64_t k) {
    return (9 * k + k) + (2 * k * k * 9 + 2 * k) + (4 * k * 2 * k * 9 + 4 * k) +
           (120 * 4 * k * 9 + 120) + (84 * 120 + 84) + (10 * 84 + 10);
  };
  // LeNet (CIFAR-10): conv 5x5 k, 2k; fc1 120 x (2k * 5 * 5); fc2; fc3.
  auto lenet = [](int64_t k) {
    return (3 * 25 * k + k) + (2 * k * k * 25 + 2 * k) + (120 * 2 * k * 25 + 120) +
           (84 * 120 + 84) + (10 * 84 + 10);
  };
  EXPECT_EQ(mnist(7), 45896);    // the preset's network, as the README says
  EXPECT_EQ(lenet(16), 121182);  // the paper's CIFAR-10 LeNet
  for (const int64_t k : {4, 8, 16, 32}) {
    EXPECT_EQ(make_target_spec(TargetArch::kMnistCnn, 1, k, 10, 28, true).num_parameters(),
              mnist(k))
        << k;
    const auto le = make_target_spec(TargetArch::kLeNet, 3, k, 10, 32, true);
    EXPECT_EQ(le.num_parameters(), lenet(k)) << k;
    EXPECT_EQ(le.tensors[0].shape, (std::vector<int64_t>{k, 3, 5, 5}));
    EXPECT_EQ(le.tensors[4].shape, (std::vector<int64_t>{120, 2 * k * 25}));
  }
}

TEST(HeteroHyperNetwork, HasOneHeadPerTensorAndWidth) {
  const auto specs = mnist_specs({4, 8, 16});
  HyperNetwork hnet(specs, hetero_options({0, 1, 2, 0, 1}));
  const int64_t hidden = 8;
  int64_t heads = 0;
  for (const auto& s : specs) heads += hidden * s.num_parameters() + s.num_parameters();
  const int64_t embeddings = 5 * 3, mlp = (3 * 8 + 8) + (8 * 8 + 8);
  EXPECT_EQ(count(hnet->parameters()), embeddings + mlp + heads);
  // Every width's heads are named after it; nothing else is shared between widths.
  const auto named = hnet->named_parameters();
  for (const auto& s : specs) {
    const std::string name = "head_k" + std::to_string(s.n_kernels) + "_conv1_weight.weight";
    ASSERT_NE(named.find(name), nullptr) << name;
    EXPECT_EQ(named[name].size(0), s.tensors[0].numel());
  }
}

TEST(HeteroHyperNetwork, OneSpecKeepsTheHomogeneousParameterNames) {
  HyperNetwork hnet(mnist_specs({7}).front(), hetero_options({}));
  const auto named = hnet->named_parameters();
  EXPECT_NE(named.find("head_conv1_weight.weight"), nullptr);
  for (const auto& p : named) {
    EXPECT_EQ(p.key().find("head_k"), std::string::npos) << p.key();
  }
}

TEST(HeteroHyperNetwork, EachClientGetsItsWidthsShapesAlsoInAMixedBatch) {
  for (const bool with_head : {true, false}) {  // pFedHN and pFedHN-PC targets
    const auto specs = mnist_specs({2, 4, 8}, with_head);
    const std::vector<int64_t> client_spec{0, 1, 2, 0, 1, 2};
    HyperNetwork hnet(specs, hetero_options(client_spec));
    hnet->reset_parameters(5);
    const std::vector<int64_t> clients{4, 0, 2, 3, 5};  // widths 4, 2, 8, 2, 8
    const auto batched = hnet->forward(clients);
    ASSERT_EQ(batched.size(), clients.size());
    for (size_t k = 0; k < clients.size(); ++k) {
      const TargetSpec& spec = specs[static_cast<size_t>(client_spec[clients[k]])];
      EXPECT_EQ(&hnet->target_spec(clients[k]), &hnet->target_specs()[client_spec[clients[k]]]);
      const auto single = hnet->forward(clients[k]);
      ASSERT_EQ(batched[k].size(), spec.tensors.size());
      ASSERT_EQ(single.size(), spec.tensors.size());
      for (size_t i = 0; i < spec.tensors.size(); ++i) {
        EXPECT_EQ(batched[k][i].sizes(), spec.tensors[i].shape) << k << " " << i;
        EXPECT_TRUE(torch::allclose(batched[k][i], single[i], 1e-5, 1e-6)) << k << " " << i;
      }
      // The generated weights run in the target network of that width.
      const auto out = target_forward(spec, single, torch::randn({3, 1, 28, 28}));
      EXPECT_EQ(out.size(1), with_head ? 10 : TargetSpec::kFeatureDim);
    }
  }
}

TEST(HeteroHyperNetwork, GradientReachesOnlyTheHeadsOfWidthsInTheRound) {
  const auto specs = mnist_specs({2, 4, 8});
  HyperNetwork hnet(specs, hetero_options({0, 1, 2, 0, 1, 2}));
  hnet->reset_parameters(5);
  const std::vector<int64_t> clients{0, 4, 3};  // widths 2 and 4, not 8
  const auto thetas = hnet->forward(clients);
  std::vector<torch::Tensor> outputs, grad_outputs;
  for (const auto& w : thetas) {
    for (const auto& t : w) {
      outputs.push_back(t);
      grad_outputs.push_back(torch::ones_like(t));
    }
  }
  const auto named = hnet->named_parameters();
  std::vector<torch::Tensor> params;
  for (const auto& p : named) params.push_back(p.value());
  const auto grads = torch::autograd::grad(outputs, params, grad_outputs, false, false,
                                           /*allow_unused=*/true);
  int64_t reached = 0, unreached = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string& name = named[i].key();
    const bool any = grads[i].defined() && grads[i].abs().sum().item<double>() > 0;
    if (name.rfind("head_k8_", 0) == 0) {
      EXPECT_FALSE(any) << name;
      ++unreached;
    } else {
      EXPECT_TRUE(any) << name;  // the other heads, the MLP and the embeddings
      ++reached;
    }
  }
  EXPECT_EQ(unreached, 2 * static_cast<int64_t>(specs[2].tensors.size()));
  EXPECT_GT(reached, 0);
}

TEST(HeteroHyperNetwork, RejectsAnInconsistentClientAssignment) {
  const auto specs = mnist_specs({2, 4});
  EXPECT_THROW(HyperNetwork(specs, hetero_options({})), c10::Error);      // whose is whose?
  EXPECT_THROW(HyperNetwork(specs, hetero_options({0, 2})), c10::Error);  // no spec 2
  auto short_list = hetero_options({0, 1});
  short_list.num_clients = 3;
  EXPECT_THROW(HyperNetwork(specs, short_list), c10::Error);  // one entry per client
}

}  // namespace
}  // namespace pfedhn::models
