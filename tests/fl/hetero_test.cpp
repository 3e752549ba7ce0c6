// Heterogeneous target networks in the trainer: specs and assignment from the config, a round
// with clients of mixed widths, per-width reporting, and a short end-to-end run.
#include "pfedhn/fl/hetero.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "pfedhn/eval/evaluator.h"
#include "pfedhn/fl/trainer.h"
#include "pfedhn/util/error.h"
#include "support/synthetic.h"

namespace pfedhn::fl {
namespace {

config::Config hetero_config(config::Algorithm algorithm, std::vector<int64_t> widths) {
  config::Config cfg = testing::small_trainer_config(algorithm);
  cfg.model.hetero_kernels = std::move(widths);
  return cfg;
}

TEST(Hetero, SpecsAndAssignmentFollowTheConfig) {
  auto cfg = hetero_config(config::Algorithm::kPFedHN, {8, 16, 32});
  cfg.client.num_nodes = 7;
  const auto specs = target_specs_from_config(cfg);
  ASSERT_EQ(specs.size(), 3u);
  for (size_t s = 0; s < 3; ++s) {
    EXPECT_EQ(specs[s].n_kernels, cfg.model.hetero_kernels[s]);
    EXPECT_EQ(specs[s].tensors[0].shape, (std::vector<int64_t>{specs[s].n_kernels, 1, 3, 3}));
  }
  EXPECT_EQ(hetero_assignment(cfg), (std::vector<int64_t>{0, 1, 2, 0, 1, 2, 0}));

  cfg.model.hetero_kernels.clear();  // off: the one n_kernels network, no assignment
  ASSERT_EQ(target_specs_from_config(cfg).size(), 1u);
  EXPECT_EQ(target_specs_from_config(cfg)[0].n_kernels, 4);
  EXPECT_TRUE(hetero_assignment(cfg).empty());
}

TEST(Hetero, SeveralProcessesAreRefusedWithOneLine) {
  const auto cfg = hetero_config(config::Algorithm::kPFedHN, {2, 4});
  EXPECT_NO_THROW(check_hetero_world_size(cfg, 1));
  try {
    check_hetero_world_size(cfg, 2);
    FAIL() << "expected a UserError";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("model.hetero_kernels"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(check_hetero_world_size(hetero_config(config::Algorithm::kPFedHN, {}), 4));
}

// K=3 over 6 clients of widths 2 and 4: every round mixes widths or not, and each client's
// update runs on its own width's shapes.
TEST(Hetero, ARoundWithMixedWidthsUpdatesEachClientInItsOwnShapes) {
  const auto d = testing::synthetic_mnist(600, 120, 120);
  auto cfg = hetero_config(config::Algorithm::kPFedHN, {2, 4});
  cfg.client.clients_per_round = 3;
  Trainer t(cfg, d, testing::partition_for(d, cfg), torch::kCPU);
  bool mixed = false;
  for (int64_t r = 0; r < 4; ++r) {
    auto plan = t.begin_round(r);
    std::vector<ClientUpdateResult> results;
    std::set<int64_t> widths;
    for (size_t k = 0; k < plan.clients.size(); ++k) {
      const int64_t c = plan.clients[k];
      const auto& spec = t.target_spec(c);
      EXPECT_EQ(spec.n_kernels, c % 2 == 0 ? 2 : 4) << c;
      widths.insert(spec.n_kernels);
      results.push_back(t.run_client(r, c, plan.thetas[k]));
      ASSERT_EQ(results.back().delta.size(), spec.tensors.size());
      for (size_t i = 0; i < spec.tensors.size(); ++i) {
        EXPECT_EQ(results.back().delta[i].sizes(), spec.tensors[i].shape);
      }
    }
    mixed = mixed || widths.size() > 1;
    const auto report = t.finish_round(std::move(plan), std::move(results));
    EXPECT_TRUE(std::isfinite(report.grad_norm));
  }
  EXPECT_TRUE(mixed);
}

TEST(Hetero, ReportGivesPooledAccuracyPerWidthAndNothingWhenOff) {
  const auto d = testing::synthetic_mnist(600, 120, 120);
  const auto cfg = hetero_config(config::Algorithm::kPFedHN, {2, 4});
  const auto clients = testing::partition_for(d, cfg);
  const HeteroReport report(cfg, clients);
  ASSERT_TRUE(report.enabled());
  eval::EvalRecord r;
  for (size_t c = 0; c < clients.size(); ++c) {
    // Width-2 clients (even) get everything right, width-4 clients half.
    r.val.client_accuracy.push_back(c % 2 == 0 ? 1.0 : 0.5);
    r.test.client_accuracy.push_back(c % 2 == 0 ? 1.0 : 0.5);
  }
  const auto widths = report.per_width(r);
  ASSERT_EQ(widths.size(), 2u);
  EXPECT_EQ(widths[0].clients, 3);
  EXPECT_EQ(widths[0].test_accuracy, 1.0);
  int64_t odd_total = 0;
  for (size_t c = 1; c < clients.size(); c += 2) odd_total += clients[c].test.numel();
  EXPECT_EQ(widths[1].test_total, odd_total);
  EXPECT_NEAR(widths[1].test_accuracy, 0.5, 2.0 / static_cast<double>(odd_total));
  EXPECT_EQ(report.csv_header_suffix(), ",val_acc_k2,test_acc_k2,val_acc_k4,test_acc_k4");
  EXPECT_EQ(report.csv_row_suffix(r).rfind(",1.000000,1.000000,", 0), 0u)
      << report.csv_row_suffix(r);
  EXPECT_NE(report.log_line(r).find("k=4 (3 clients)"), std::string::npos) << report.log_line(r);

  const HeteroReport off(hetero_config(config::Algorithm::kPFedHN, {}), clients);
  EXPECT_FALSE(off.enabled());
  EXPECT_EQ(off.csv_header_suffix(), "");
  EXPECT_EQ(off.csv_row_suffix(r), "");
  EXPECT_EQ(off.log_line(r), "");
}

class HeteroEndToEnd : public ::testing::TestWithParam<config::Algorithm> {};

// Widths 2 and 4 (3 clients each), two clients per round: every width learns well above the
// 50% a personalised model at chance reaches on its client's 2 classes.
TEST_P(HeteroEndToEnd, EveryWidthRisesWellAboveChance) {
  const auto d = testing::synthetic_mnist(3000, 600, 600);
  auto cfg = hetero_config(GetParam(), {2, 4});
  cfg.client.clients_per_round = 2;
  Trainer trainer(cfg, d, testing::partition_for(d, cfg), torch::kCPU);
  const HeteroReport report(cfg, trainer.clients());
  auto evaluate = [&](int64_t round) {
    return report.per_width(eval::evaluate_all(
        round, [&](int64_t c) { return trainer.client_model(c); }, d, trainer.clients(), 256));
  };
  const auto before = evaluate(-1);
  for (int64_t r = 0; r < 120; ++r) trainer.run_round(r);
  const auto after = evaluate(119);
  ASSERT_EQ(after.size(), 2u);
  for (size_t s = 0; s < after.size(); ++s) {
    EXPECT_LT(before[s].test_accuracy, 0.7) << s;
    EXPECT_GT(after[s].test_accuracy, 0.85) << s;
    EXPECT_GT(after[s].val_accuracy, 0.85) << s;
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, HeteroEndToEnd,
                         ::testing::Values(config::Algorithm::kPFedHN, config::Algorithm::kPFedHNPC),
                         [](const auto& info) { return config::to_string(info.param); });

}  // namespace
}  // namespace pfedhn::fl
