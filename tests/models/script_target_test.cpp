// Scripted target networks (model.target=script), on modules written here in TorchScript.
#include "pfedhn/models/script_target.h"

#include <gtest/gtest.h>

#include "data/data_fixtures.h"
#include "models/script_modules.h"
#include "pfedhn/models/target_init.h"
#include "pfedhn/models/torchscript.h"
#include "pfedhn/util/error.h"

namespace pfedhn::models {
namespace {
namespace fs = std::filesystem;
using data::testing::TempDir;
using testing::lenet_module;
using testing::mlp_module;
using testing::save_module;

// The message of the UserError that loading `file` gives, or "" if it loads.
std::string load_error(const fs::path& file, const ScriptTargetOptions& options) {
  try {
    ScriptTarget::load(file, options);
  } catch (const UserError& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    return message;
  }
  return "";
}

TEST(ScriptTarget, GeneratesEveryParameterButTheLocalLayersInNamedParametersOrder) {
  TempDir tmp;
  const auto file = save_module(mlp_module(12, 5, 3), tmp / "mlp.pt");
  const auto all = ScriptTarget::load(file, {{3, 2, 2}, 3, ""});
  ASSERT_EQ(all->generated_tensors().size(), 4u);
  EXPECT_EQ(all->generated_tensors()[0].name, "body.weight");
  EXPECT_EQ(all->generated_tensors()[0].shape, (std::vector<int64_t>{5, 12}));
  EXPECT_EQ(all->generated_tensors()[3].name, "head.bias");
  EXPECT_TRUE(all->local_tensors().empty());

  const auto pc = ScriptTarget::load(file, {{3, 2, 2}, 3, "head"});
  ASSERT_EQ(pc->generated_tensors().size(), 2u);
  ASSERT_EQ(pc->local_tensors().size(), 2u);
  EXPECT_EQ(pc->local_tensors()[0].name, "head.weight");
  const TargetSpec spec = make_script_target_spec(pc);
  EXPECT_EQ(spec.arch, TargetArch::kScript);
  EXPECT_FALSE(spec.with_head);
  EXPECT_EQ(spec.num_parameters(), 5 * 12 + 5);
  EXPECT_EQ(spec.out_dim, 3);
}

TEST(ScriptTarget, FindsTheParametersOfNestedSubmodules) {
  TempDir tmp;
  torch::jit::Module outer = testing::new_module("Outer");
  outer.register_module("net", mlp_module(12, 5, 3));
  outer.define("def forward(self, x: Tensor) -> Tensor:\n    return self.net.forward(x)\n");
  const auto target =
      ScriptTarget::load(save_module(outer, tmp / "outer.pt"), {{3, 2, 2}, 3, "net.head"});
  ASSERT_EQ(target->local_tensors().size(), 2u);
  EXPECT_EQ(target->local_tensors()[1].name, "net.head.bias");
  const Weights body{torch::randn({5, 12}), torch::randn({5})};
  const Weights head{torch::randn({3, 5}), torch::randn({3})};
  const auto x = torch::randn({2, 3, 2, 2});
  EXPECT_TRUE(torch::allclose(
      target->forward(body, head, x, Mode::kEval),
      torch::linear(torch::relu(torch::linear(x.flatten(1), body[0], body[1])), head[0], head[1]),
      1e-6, 1e-6));
}

TEST(ScriptTarget, RunsWithTheGivenTensorsAndGradientsReachThem) {
  TempDir tmp;
  const auto target =
      ScriptTarget::load(save_module(mlp_module(12, 5, 3), tmp / "mlp.pt"), {{3, 2, 2}, 3, "head"});
  Weights body{torch::randn({5, 12}).requires_grad_(), torch::randn({5}).requires_grad_()};
  Weights head{torch::randn({3, 5}).requires_grad_(), torch::randn({3}).requires_grad_()};
  const auto x = torch::randn({4, 3, 2, 2});
  const auto out = target->forward(body, head, x, Mode::kTrain);
  const auto expected =
      torch::linear(torch::relu(torch::linear(x.flatten(1), body[0], body[1])), head[0], head[1]);
  EXPECT_TRUE(torch::allclose(out, expected, 1e-6, 1e-6));
  out.sum().backward();
  for (const auto& t : {body[0], body[1], head[0], head[1]}) {
    ASSERT_TRUE(t.grad().defined());
    EXPECT_GT(t.grad().abs().sum().item<double>(), 0.0);
  }
  // network_forward takes the local layer's tensors the same way.
  const TargetSpec spec = make_script_target_spec(target);
  EXPECT_TRUE(
      torch::equal(network_forward(spec, body, head, x, Mode::kEval).detach(), out.detach()));
}

TEST(ScriptTarget, TheCifarLeNetInTorchScriptComputesWhatTheBuiltInLeNetComputes) {
  TempDir tmp;
  const auto target = ScriptTarget::load(save_module(lenet_module(3, 16, 10), tmp / "lenet.pt"),
                                         {{3, 32, 32}, 10, ""});
  const TargetSpec builtin = make_target_spec(TargetArch::kLeNet, 3, 16, 10, 32, true);
  ASSERT_EQ(target->generated_tensors().size(), builtin.tensors.size());
  for (size_t i = 0; i < builtin.tensors.size(); ++i) {
    EXPECT_EQ(target->generated_tensors()[i].shape, builtin.tensors[i].shape) << i;
  }
  const Weights w = init_target_weights(builtin, 3);
  const auto x = torch::randn({8, 3, 32, 32});
  const auto scripted = target_forward(make_script_target_spec(target), w, x);
  EXPECT_TRUE(torch::allclose(scripted, target_forward(builtin, w, x), 1e-5, 1e-5));
  EXPECT_TRUE(target->takes_channels_last());
}

TEST(ScriptTarget, RefusesABuffer) {
  TempDir tmp;
  auto m = mlp_module(12, 5, 3);
  m.register_buffer("running_mean", torch::zeros({5}));
  const std::string message = load_error(save_module(m, tmp / "bn.pt"), {{3, 2, 2}, 3, ""});
  EXPECT_NE(message.find("has the buffer 'running_mean'"), std::string::npos) << message;
}

TEST(ScriptTarget, RefusesAnOutputThatIsNotOneLogitPerClass) {
  TempDir tmp;
  const auto file = save_module(mlp_module(12, 5, 7), tmp / "mlp.pt");
  const std::string message = load_error(file, {{3, 2, 2}, 10, ""});
  EXPECT_NE(message.find("forward gives float32 [2, 7]"), std::string::npos) << message;
  EXPECT_NE(message.find("expected float32 [2, 10]"), std::string::npos) << message;
  const std::string shape = load_error(file, {{3, 4, 4}, 7, ""});
  EXPECT_NE(shape.find("forward fails on a batch of 2 images of 3x4x4"), std::string::npos)
      << shape;
}

TEST(ScriptTarget, RefusesALocalLayerThatIsNotASubmodule) {
  TempDir tmp;
  const std::string message =
      load_error(save_module(mlp_module(12, 5, 3), tmp / "mlp.pt"), {{3, 2, 2}, 3, "fc3"});
  EXPECT_NE(message.find("model.local_layer='fc3' names no submodule"), std::string::npos)
      << message;
  EXPECT_NE(message.find("its submodules: body, head"), std::string::npos) << message;
}

TEST(ScriptTarget, RefusesFilesThatAreNoTorchScriptModule) {
  TempDir tmp;
  EXPECT_NE(load_error(tmp / "none.pt", {{3, 2, 2}, 3, ""}).find("no such file"),
            std::string::npos);
  data::testing::write_bytes(tmp / "junk.pt", {1, 2, 3, 4});
  EXPECT_NE(load_error(tmp / "junk.pt", {{3, 2, 2}, 3, ""}).find("not a TorchScript module"),
            std::string::npos);
  auto doubles = mlp_module(12, 5, 3);
  doubles.to(torch::kDouble);
  EXPECT_NE(load_error(save_module(doubles, tmp / "d.pt"), {{3, 2, 2}, 3, ""})
                .find("parameter 'body.weight' is float64"),
            std::string::npos);
}

TEST(ScriptTarget, AModuleThatViewsItsInputRunsOnContiguousInputs) {
  TempDir tmp;
  const auto target = ScriptTarget::load(
      save_module(mlp_module(12, 5, 3, /*view=*/true), tmp / "view.pt"), {{3, 2, 2}, 3, ""});
  EXPECT_FALSE(target->takes_channels_last());
  const auto x = torch::randn({4, 3, 2, 2}).contiguous(at::MemoryFormat::ChannelsLast);
  const Weights w = target->initial_generated();
  EXPECT_EQ(target->forward(w, {}, x, Mode::kEval).sizes(), (std::vector<int64_t>{4, 3}));
}

TEST(ScriptTarget, ExportsTheModuleWithTheClientsTensors) {
  TempDir tmp;
  const auto target =
      ScriptTarget::load(save_module(mlp_module(12, 5, 3), tmp / "mlp.pt"), {{3, 2, 2}, 3, "head"});
  ClientNetwork net{make_script_target_spec(target),
                    {torch::randn({5, 12}), torch::randn({5})},
                    {torch::randn({3, 5}), torch::randn({3})}};
  const auto x = torch::randn({4, 3, 2, 2});
  auto exported = client_script_module(net);
  exported.save((tmp / "client.pt").string());
  auto loaded = torch::jit::load((tmp / "client.pt").string());
  EXPECT_TRUE(torch::allclose(loaded.forward({x}).toTensor(), client_forward(net, x)));
  EXPECT_TRUE(
      torch::equal(loaded.attr("head").toModule().attr("bias").toTensor(), net.local_layer[1]));
  // The loaded module keeps its own values.
  EXPECT_TRUE(torch::equal(
      target->initial_generated()[1],
      torch::jit::load((tmp / "mlp.pt").string()).attr("body").toModule().attr("bias").toTensor()));
}

TEST(ScriptTarget, RandomOpsDrawFromTheSeededGeneratorAndStopInEvaluation) {
  TempDir tmp;
  const auto target = ScriptTarget::load(
      save_module(mlp_module(12, 5, 3, false, /*dropout=*/true), tmp / "drop.pt"),
      {{3, 2, 2}, 3, ""});
  const Weights w = target->initial_generated();
  const auto x = torch::randn({64, 3, 2, 2});
  const auto run = [&](Mode mode) { return target->forward(w, {}, x, mode); };
  ScriptTarget::seed_random_ops(7);
  const auto first = run(Mode::kTrain);
  ScriptTarget::seed_random_ops(7);
  EXPECT_TRUE(torch::equal(run(Mode::kTrain), first));
  EXPECT_FALSE(torch::equal(run(Mode::kTrain), first));
  EXPECT_TRUE(torch::equal(run(Mode::kEval), run(Mode::kEval)));
}

}  // namespace
}  // namespace pfedhn::models
