#include "pfedhn/models/torchscript.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "pfedhn/models/target_init.h"

namespace pfedhn::models {
namespace {

torch::Tensor run_forward(torch::jit::Module& m, const torch::Tensor& x) {
  return m.forward({x}).toTensor();
}

ClientNetwork random_network(TargetArch arch, int64_t channels, int64_t side, bool local_layer) {
  ClientNetwork net;
  net.spec = make_target_spec(arch, channels, 4, 10, side, !local_layer);
  net.weights = init_target_weights(net.spec, 11);
  if (local_layer) net.local_layer = {torch::randn({10, 84}), torch::randn({10})};
  return net;
}

struct Shape {
  TargetArch arch;
  int64_t channels, side;
  bool local_layer;
};

class ClientModule : public ::testing::TestWithParam<Shape> {};

TEST_P(ClientModule, ComputesTheLogitsOfClientForwardAndSurvivesSaveAndLoad) {
  const Shape s = GetParam();
  torch::manual_seed(5);
  const auto net = random_network(s.arch, s.channels, s.side, s.local_layer);
  const auto x = torch::randn({6, s.channels, s.side, s.side});
  auto m = client_script_module(net);
  const auto expected = client_forward(net, x);
  EXPECT_TRUE(torch::allclose(run_forward(m, x), expected, 1e-5, 1e-5));

  const auto path =
      std::filesystem::temp_directory_path() / ("pfedhn_ts_" + std::to_string(::getpid()) + ".pt");
  m.save(path.string());
  auto loaded = torch::jit::load(path.string());
  std::filesystem::remove(path);
  EXPECT_TRUE(torch::allclose(run_forward(loaded, x), expected, 1e-5, 1e-5));
  EXPECT_EQ(loaded.attr("conv1_weight").toTensor().sizes(), net.weights[0].sizes());
  EXPECT_EQ(loaded.hasattr("local_weight"), s.local_layer);
}

INSTANTIATE_TEST_SUITE_P(Architectures, ClientModule,
                         ::testing::Values(Shape{TargetArch::kLeNet, 3, 32, false},
                                           Shape{TargetArch::kLeNet, 3, 32, true},
                                           Shape{TargetArch::kMnistCnn, 1, 28, false},
                                           Shape{TargetArch::kMnistCnn, 1, 28, true}));

TEST(ClientModule, RefusesWeightsThatDoNotFitTheSpec) {
  auto net = random_network(TargetArch::kLeNet, 3, 32, false);
  net.weights.pop_back();
  EXPECT_THROW(client_script_module(net), c10::Error);
}

// Two widths, spectral norm on: the exported module must fold the stored u, v into the weights
// exactly as an eval-mode forward does, and pick each client's heads.
TEST(HypernetworkModule, GivesEveryClientTheTensorsOfTheEvalModeHypernetwork) {
  std::vector<TargetSpec> specs{make_target_spec(TargetArch::kMnistCnn, 1, 4, 10, 28, true),
                                make_target_spec(TargetArch::kMnistCnn, 1, 8, 10, 28, true)};
  HyperNetworkOptions o;
  o.num_clients = 4;
  o.embedding_dim = 3;
  o.hidden_dim = 16;
  o.n_hidden = 2;
  o.spectral_norm = true;
  o.client_spec = {0, 1, 0, 1};
  HyperNetwork hnet(specs, o);
  hnet->reset_parameters(9);
  hnet->train();
  hnet->forward(0);  // a power iteration, so u, v are not their initial values
  hnet->eval();
  auto m = hypernetwork_script_module(*hnet);
  for (int64_t c = 0; c < 4; ++c) {
    torch::NoGradGuard no_grad;
    const auto expected = hnet->forward(c);
    const auto got = m.forward({c}).toGenericDict();
    const auto& spec = hnet->target_spec(c);
    ASSERT_EQ(got.size(), spec.tensors.size());
    for (size_t i = 0; i < spec.tensors.size(); ++i) {
      const auto t = got.at(spec.tensors[i].name).toTensor();
      EXPECT_TRUE(torch::allclose(t, expected[i], 1e-5, 1e-6)) << c << " " << spec.tensors[i].name;
    }
    EXPECT_EQ(m.run_method("spec_of", c).toInt(), static_cast<int64_t>(o.client_spec[c]));
  }
  // Any embedding: client 1's row through spec 1 is client 1's network.
  const auto row = m.attr("embeddings").toTensor()[1];
  const auto via_embedding = m.run_method("from_embedding", row, 1).toGenericDict();
  const auto direct = m.forward({int64_t{1}}).toGenericDict();
  EXPECT_TRUE(
      torch::equal(via_embedding.at("fc3.weight").toTensor(), direct.at("fc3.weight").toTensor()));
  EXPECT_EQ(m.attr("widths").toIntList().vec(), (std::vector<int64_t>{4, 8}));
  EXPECT_THROW(m.run_method("from_embedding", row, 2), std::exception);
}

}  // namespace
}  // namespace pfedhn::models
