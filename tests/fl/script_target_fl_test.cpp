// pFedHN, pFedHN-PC and the baselines on a scripted target network (model.target=script).
#include <gtest/gtest.h>

#include "data/data_fixtures.h"
#include "models/script_modules.h"
#include "pfedhn/eval/evaluator.h"
#include "pfedhn/fl/baselines.h"
#include "pfedhn/fl/trainer.h"
#include "support/synthetic.h"

namespace pfedhn::fl {
namespace {
namespace fs = std::filesystem;
using data::testing::TempDir;

config::Config scripted(config::Algorithm algorithm, const fs::path& file,
                        const std::string& local_layer = "") {
  config::Config cfg = testing::small_trainer_config(algorithm);
  cfg.model.target = config::TargetKind::kScript;
  cfg.model.target_file = file.string();
  cfg.model.local_layer = local_layer;
  return cfg;
}

fs::path mlp_file(const TempDir& tmp) {
  torch::manual_seed(1);
  return models::testing::save_module(models::testing::mlp_module(784, 24, 10), tmp / "mlp.pt");
}

double test_accuracy(Algorithm& a, const data::DatasetSplits& d) {
  return eval::evaluate_all(
             0, [&](int64_t c) { return a.client_model(c); }, d, a.clients(), 256)
      .test.accuracy;
}

TEST(ScriptedTarget, PFedHNLearnsItAndResumesBitExactly) {
  TempDir tmp;
  const auto d = testing::synthetic_mnist(1200, 240, 240);
  const auto cfg = scripted(config::Algorithm::kPFedHN, mlp_file(tmp));
  Trainer trainer(cfg, d, testing::partition_for(d, cfg), torch::kCPU);
  ASSERT_EQ(trainer.target_spec().tensors.size(), 4u);
  EXPECT_NE(trainer.describe().find("scripted from"), std::string::npos);
  for (int64_t r = 0; r < 60; ++r) trainer.run_round(r);
  EXPECT_GT(test_accuracy(trainer, d), 0.8);

  torch::serialize::OutputArchive out;
  trainer.save(out);
  std::stringstream bytes;
  out.save_to(bytes);
  Trainer resumed(cfg, d, testing::partition_for(d, cfg), torch::kCPU);
  torch::serialize::InputArchive in;
  in.load_from(bytes);
  resumed.load(in);
  for (int64_t r = 60; r < 63; ++r) {
    EXPECT_EQ(trainer.run_round(r).loss, resumed.run_round(r).loss) << r;
  }
}

TEST(ScriptedTarget, PFedHNPCKeepsTheLocalLayerOnItsClient) {
  TempDir tmp;
  const auto d = testing::synthetic_mnist(600, 120, 120);
  const auto cfg = scripted(config::Algorithm::kPFedHNPC, mlp_file(tmp), "head");
  Trainer trainer(cfg, d, testing::partition_for(d, cfg), torch::kCPU);
  // The hypernetwork generates the body only; every client's head starts from the module's.
  ASSERT_EQ(trainer.hypernetwork()->target_spec().tensors.size(), 2u);
  const auto saved = torch::jit::load(cfg.model.target_file).attr("head").toModule();
  for (const auto& state : trainer.local_states()) {
    EXPECT_TRUE(torch::equal(state.layer->tensors()[0], saved.attr("weight").toTensor()));
  }
  const auto report = trainer.run_round(0);
  const auto trained = static_cast<size_t>(report.clients.at(0));
  for (size_t c = 0; c < trainer.local_states().size(); ++c) {
    const bool same = torch::equal(trainer.local_states()[c].layer->tensors()[0],
                                   saved.attr("weight").toTensor());
    EXPECT_EQ(same, c != trained) << c;
  }
  // The exported network holds the client's own head.
  const auto net = trainer.client_network(static_cast<int64_t>(trained));
  ASSERT_EQ(net.local_layer.size(), 2u);
  EXPECT_TRUE(
      torch::equal(net.local_layer[0], trainer.local_states()[trained].layer->tensors()[0]));
}

class ScriptedBaseline : public ::testing::TestWithParam<config::Algorithm> {};

TEST_P(ScriptedBaseline, TrainsFromTheModulesOwnValues) {
  TempDir tmp;
  const auto d = testing::synthetic_mnist(1200, 240, 240);
  const auto cfg = scripted(GetParam(), mlp_file(tmp));
  auto algorithm = make_algorithm(cfg, d, testing::partition_for(d, cfg), torch::kCPU);
  const auto saved = torch::jit::load(cfg.model.target_file).attr("body").toModule();
  EXPECT_TRUE(
      torch::equal(algorithm->client_network(0).weights[0], saved.attr("weight").toTensor()));
  for (int64_t r = 0; r < 40; ++r) algorithm->run_round(r);
  EXPECT_GT(test_accuracy(*algorithm, d), 0.6);
}

INSTANTIATE_TEST_SUITE_P(Baselines, ScriptedBaseline,
                         ::testing::Values(config::Algorithm::kLocal, config::Algorithm::kFedAvg,
                                           config::Algorithm::kFedPer),
                         [](const auto& info) { return config::to_string(info.param); });

// The paper's LeNet written in TorchScript against the built-in LeNet: the hypernetworks start
// equal (same heads, same order, same seed) and the rounds differ only by float rounding (the
// built-in network pools before its ReLU in one fused kernel).
TEST(ScriptedTarget, TheScriptedLeNetFollowsTheBuiltInOne) {
  TempDir tmp;
  const auto file =
      models::testing::save_module(models::testing::lenet_module(3, 4, 10), tmp / "lenet.pt");
  data::DatasetSplits d;
  d.info = data::find_dataset("cifar10");
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  const auto templates = torch::randn({10, 3, 32, 32}, gen);
  for (auto* split : {&d.train, &d.val, &d.test}) {
    const auto y = torch::randint(10, {400}, gen, torch::kLong);
    *split = {(templates.index_select(0, y) + torch::randn({400, 3, 32, 32}, gen)).contiguous(),
              y,
              {},
              {}};
  }
  config::Config builtin = testing::small_trainer_config(config::Algorithm::kPFedHN);
  builtin.dataset.data = "cifar10";
  builtin.model.in_channels = 3;
  config::Config script = builtin;
  script.model.target = config::TargetKind::kScript;
  script.model.target_file = file.string();
  Trainer a(builtin, d, testing::partition_for(d, builtin), torch::kCPU);
  Trainer b(script, d, testing::partition_for(d, script), torch::kCPU);
  const auto pa = a.hypernetwork()->parameters(), pb = b.hypernetwork()->parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) ASSERT_TRUE(torch::equal(pa[i], pb[i])) << i;
  for (int64_t r = 0; r < 5; ++r) EXPECT_NEAR(a.run_round(r).loss, b.run_round(r).loss, 1e-4);
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::allclose(pa[i], pb[i], 1e-4, 1e-5));
}

}  // namespace
}  // namespace pfedhn::fl
