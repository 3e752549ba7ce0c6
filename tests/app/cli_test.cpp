// Runs the real `pfedhn` binary as a user would, on fixture files written by the tests.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <torch/torch.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "data/data_fixtures.h"
#include "pfedhn/app/train.h"
#include "pfedhn/config/config.h"
#include "support/binary_runner.h"

namespace pfedhn {
namespace {
namespace fs = std::filesystem;
using pfedhn::data::testing::TempDir;

using testing::kFastTraining;
using testing::slurp;
using testing::write_learnable_mnist;

testing::CommandResult run(const std::string& args) {
  return testing::run_pfedhn(args);
}

size_t count_lines(const std::string& s) {
  return static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
}

TEST(Cli, HelpAndVersionExitZero) {
  const auto help = run("--help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.output.find("train"), std::string::npos);
  const auto train_help = run("train --help");
  EXPECT_EQ(train_help.exit_code, 0);
  for (const char* opt :
       {"--config", "--output-dir", "--print-config", "--overwrite", "--resume"}) {
    EXPECT_NE(train_help.output.find(opt), std::string::npos) << opt;
  }
  const auto version = run("--version");
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_NE(version.output.find(PFEDHN_VERSION), std::string::npos);
}

TEST(Cli, NoSubcommandOrUnknownOptionExits2) {
  EXPECT_EQ(run("").exit_code, 2);
  EXPECT_EQ(run("train --no-such-option").exit_code, 2);
}

TEST(Cli, BadConfigGivesOneLineAndExitCode2BeforeReadingData) {
  TempDir tmp;
  const std::string no_data = " dataset.root=" + (tmp / "nothing_here").string();
  for (const auto& [args, expected] : std::vector<std::pair<std::string, std::string>>{
           {"train client.num_round=3", "did you mean 'client.num_rounds'"},
           {"train client.num_rounds=0", "client.num_rounds"},
           {"train server.lr=-1", "server.lr"},
           {"train client.batch_size=abc", "client.batch_size"},
           {"train dataset.data=cifar11", "cifar10"},
           {"train model.out_dim=7", "model.out_dim"},
           {"train client.num_classes_per_node=11", "client.num_classes_per_node"},
           {"train --config " + (tmp / "missing.yaml").string(), "missing.yaml"},
       }) {
    const auto r = run(args + no_data);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.output;
    EXPECT_EQ(count_lines(r.output), 1u) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(expected), std::string::npos) << args << "\n" << r.output;
    EXPECT_EQ(r.output.find("dataset 'cifar10' not found"), std::string::npos) << r.output;
  }
}

TEST(Cli, MissingDatasetNamesTheFetchCommand) {
  TempDir tmp;
  const auto r = run("train dataset.data=mnist dataset.root=" + (tmp / "empty").string() +
                     " --output-dir " + (tmp / "run").string());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("scripts/fetch_data.sh"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("internal error"), std::string::npos) << r.output;
}

TEST(Cli, CudaRequestedWithoutAGpuFailsClearly) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "a GPU is present";
  TempDir tmp;
  const auto r = run("train device=cuda --output-dir " + (tmp / "run").string());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("CUDA is not available"), std::string::npos) << r.output;
  EXPECT_EQ(count_lines(r.output), 1u) << r.output;
}

TEST(Cli, PrintConfigEmitsTheResolvedConfigAsLoadableYaml) {
  TempDir tmp;
  const auto r = run("train --config " + std::string(PFEDHN_SOURCE_DIR) +
                     "/conf/mnist.yaml client.num_rounds=77 --print-config");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ofstream(tmp / "printed.yaml") << r.output;
  auto cfg = config::load_config_file(tmp / "printed.yaml");
  config::resolve_and_validate(cfg);
  EXPECT_EQ(cfg.client.num_rounds, 77);
  EXPECT_EQ(cfg.dataset.data, "mnist");
  EXPECT_EQ(cfg.model.in_channels, 1);
}

TEST(Cli, BuiltInDefaultsAreExactlyConfConfigYaml) {
  app::TrainOptions defaults, from_file;
  from_file.config_file = fs::path(PFEDHN_SOURCE_DIR) / "conf" / "config.yaml";
  EXPECT_EQ(config::to_yaml(app::resolve_config(defaults)),
            config::to_yaml(app::resolve_config(from_file)));
}

TEST(Cli, TrainsOnFixtureFilesAndWritesTheRunDirectory) {
  TempDir tmp;
  write_learnable_mnist(tmp / "data" / "mnist");
  const fs::path run_dir = tmp / "run";
  const auto r =
      run(std::string("train ") + kFastTraining + " client.num_rounds=40 eval_every=20" +
          " dataset.root=" + (tmp / "data").string() + " --output-dir " + run_dir.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;

  // config.yaml is the resolved config and reloads.
  auto cfg = config::load_config_file(run_dir / "config.yaml");
  EXPECT_EQ(cfg.client.num_rounds, 40);
  // metrics.csv: header + evaluations after rounds 0, 20 and the last (39).
  std::istringstream csv(slurp(run_dir / "metrics.csv"));
  std::vector<std::string> rows;
  for (std::string line; std::getline(csv, line);) rows.push_back(line);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[1].substr(0, 2), "0,");
  EXPECT_EQ(rows[2].substr(0, 3), "20,");
  EXPECT_EQ(rows[3].substr(0, 3), "39,");
  // results.json: the headline number and per-client accuracies; the data is easy.
  const auto j = nlohmann::json::parse(slurp(run_dir / "results.json"));
  EXPECT_EQ(j["rounds_completed"].get<int>(), 40);
  EXPECT_EQ(j["final"]["test"]["client_accuracy"].size(), 5u);
  EXPECT_GT(j["test_accuracy_at_best_val"].get<double>(), 0.6);
  EXPECT_NE(slurp(run_dir / "train.log").find("eval round 39"), std::string::npos);
  // Wall-clock facts live apart from the deterministic results.
  EXPECT_EQ(j.find("wall_seconds"), j.end());
  EXPECT_GT(nlohmann::json::parse(slurp(run_dir / "run_info.json"))["wall_seconds"].get<double>(),
            0.0);
  EXPECT_EQ(slurp(run_dir / "timing.csv").rfind("round,elapsed_s\n0,", 0), 0u);
  // Checkpoints at each evaluation and the end; the last two are kept.
  EXPECT_TRUE(fs::exists(run_dir / "checkpoints" / "ckpt-40.pt"));
  EXPECT_TRUE(fs::exists(run_dir / "checkpoints" / "ckpt-21.pt"));
  EXPECT_FALSE(fs::exists(run_dir / "checkpoints" / "ckpt-1.pt"));

  // The run directory is never overwritten by accident.
  const auto again =
      run(std::string("train ") + kFastTraining + " client.num_rounds=1" +
          " dataset.root=" + (tmp / "data").string() + " --output-dir " + run_dir.string());
  EXPECT_EQ(again.exit_code, 2) << again.output;
  EXPECT_NE(again.output.find("--overwrite"), std::string::npos) << again.output;
}

TEST(Cli, HoldoutTrainsWithoutTheOfficialTestFilesAndRecordsTheSplit) {
  TempDir tmp;
  write_learnable_mnist(tmp / "data" / "mnist");
  fs::remove(tmp / "data" / "mnist" / "t10k-images-idx3-ubyte");
  fs::remove(tmp / "data" / "mnist" / "t10k-labels-idx1-ubyte");
  const std::string common =
      std::string("train ") + kFastTraining +
      " client.num_rounds=20 eval_every=10 dataset.root=" + (tmp / "data").string();

  // The official split needs the test files: one line naming the file and the holdout keys.
  const auto official = run(common + " --output-dir " + (tmp / "official").string());
  EXPECT_EQ(official.exit_code, 2) << official.output;
  EXPECT_NE(official.output.find("t10k-images-idx3-ubyte[.gz] is missing"), std::string::npos)
      << official.output;
  EXPECT_NE(official.output.find("dataset.test_split=holdout"), std::string::npos)
      << official.output;
  EXPECT_EQ(count_lines(official.output.substr(official.output.find("error:"))), 1u)
      << official.output;

  const fs::path run_dir = tmp / "holdout";
  const auto r = run(common +
                     " dataset.test_split=holdout dataset.test_size=5000 dataset.val_size=5000"
                     " --output-dir " +
                     run_dir.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(slurp(run_dir / "results.json"));
  EXPECT_EQ(j["data_split"]["test_split"].get<std::string>(), "holdout");
  EXPECT_EQ(j["data_split"]["train"].get<int>(), 50000);
  EXPECT_EQ(j["data_split"]["val"].get<int>(), 5000);
  EXPECT_EQ(j["data_split"]["test"].get<int>(), 5000);
  EXPECT_GT(j["test_accuracy_at_best_val"].get<double>(), 0.6);
  const auto cfg = config::load_config_file(run_dir / "config.yaml");
  EXPECT_EQ(cfg.dataset.test_split, config::TestSplit::kHoldout);
  EXPECT_EQ(cfg.dataset.test_size, 5000);
}

// Training options for a fast run on a learnable MNIST fixture written under tmp/data: 20
// rounds, evaluated every 10.
std::string fast_mnist_training(const TempDir& tmp) {
  write_learnable_mnist(tmp / "data" / "mnist");
  return std::string(kFastTraining) + " dataset.root=" + (tmp / "data").string() +
         " client.num_rounds=20 eval_every=10";
}

// Trains such a run with the last 2 of its 5 clients held out as novel clients into tmp/run.
fs::path train_with_novel_clients(const TempDir& tmp, const std::string& training) {
  const fs::path run_dir = tmp / "run";
  EXPECT_EQ(
      run("train " + training + " novel.num_clients=2 --output-dir " + run_dir.string()).exit_code,
      0);
  return run_dir;
}

TEST(Cli, GeneralizeAdaptsTheHeldOutClientsAndWritesTheirRows) {
  TempDir tmp;
  const std::string common = fast_mnist_training(tmp);
  const fs::path run_dir = train_with_novel_clients(tmp, common);
  // Evaluations during training cover the 3 training clients only.
  const auto results = nlohmann::json::parse(slurp(run_dir / "results.json"));
  EXPECT_EQ(results["final"]["test"]["client_accuracy"].size(), 3u);
  EXPECT_EQ(results["num_clients"].get<int>(), 3);
  EXPECT_EQ(results["novel_clients"].get<int>(), 2);

  const auto r = run("generalize " + run_dir.string() + " novel.steps=2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("2 novel clients"), std::string::npos) << r.output;
  const std::string csv = slurp(run_dir / "novel_clients.csv");
  EXPECT_EQ(csv.rfind("client,alpha,shift_tv,", 0), 0u);
  EXPECT_EQ(count_lines(csv), 3u);  // header + clients 3 and 4
  EXPECT_NE(csv.find("\n3,"), std::string::npos);
  EXPECT_NE(csv.find("\n4,"), std::string::npos);
  const auto j = nlohmann::json::parse(slurp(run_dir / "novel.json"));
  EXPECT_EQ(j["steps"].get<int>(), 2);

  // Only the adaptation's own settings may change; a run without novel clients is refused.
  const auto bad = run("generalize " + run_dir.string() + " model.inner_lr=0.1");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(count_lines(bad.output), 1u) << bad.output;
  EXPECT_NE(bad.output.find("cannot generalize with model.inner_lr=0.1"), std::string::npos)
      << bad.output;
  const fs::path plain = tmp / "plain";
  ASSERT_EQ(run("train " + common + " --output-dir " + plain.string()).exit_code, 0);
  const auto none = run("generalize " + plain.string());
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.output.find("novel.num_clients=M"), std::string::npos) << none.output;
}

// --best adapts the model of the best validation evaluation (checkpoints/best.pt) and keeps the
// newest checkpoint's results; without best.pt it is refused with one line.
TEST(Cli, GeneralizeBestAdaptsTheBestEvaluationsModelIntoItsOwnFiles) {
  TempDir tmp;
  write_learnable_mnist(tmp / "data" / "mnist");
  const fs::path run_dir = tmp / "run";
  ASSERT_EQ(
      run(std::string("train ") + kFastTraining + " dataset.root=" + (tmp / "data").string() +
          " client.num_rounds=20 eval_every=5 novel.num_clients=2 --output-dir " + run_dir.string())
          .exit_code,
      0);
  const auto results = nlohmann::json::parse(slurp(run_dir / "results.json"));
  const int64_t best_round = results["best_round"].get<int64_t>();
  ASSERT_TRUE(fs::exists(run_dir / "checkpoints" / "best.pt"));

  const auto newest = run("generalize " + run_dir.string() + " novel.steps=2");
  ASSERT_EQ(newest.exit_code, 0) << newest.output;
  EXPECT_NE(newest.output.find("at round 19:"), std::string::npos) << newest.output;
  const auto best = run("generalize --best " + run_dir.string() + " novel.steps=2");
  ASSERT_EQ(best.exit_code, 0) << best.output;
  EXPECT_NE(best.output.find("at round " + std::to_string(best_round) + ":"), std::string::npos)
      << best.output;
  EXPECT_NE(best.output.find("novel_clients-best.csv"), std::string::npos) << best.output;
  const auto jn = nlohmann::json::parse(slurp(run_dir / "novel.json"));
  const auto jb = nlohmann::json::parse(slurp(run_dir / "novel-best.json"));
  EXPECT_EQ(jn["checkpoint"].get<std::string>(), "newest");
  EXPECT_EQ(jn["checkpoint_round"].get<int64_t>(), 19);
  EXPECT_EQ(jb["checkpoint"].get<std::string>(), "best");
  EXPECT_EQ(jb["checkpoint_round"].get<int64_t>(), best_round);
  EXPECT_EQ(count_lines(slurp(run_dir / "novel_clients-best.csv")), 3u);

  fs::remove(run_dir / "checkpoints" / "best.pt");
  const auto missing = run("generalize --best " + run_dir.string());
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_EQ(count_lines(missing.output), 1u) << missing.output;
  EXPECT_NE(missing.output.find("best.pt"), std::string::npos) << missing.output;
}

// novel.adapt=loss (ours) writes its own files beside the rounds adaptation's, records how it
// adapted, and is refused for a baseline, which has no embedding to fit.
TEST(Cli, GeneralizeByLossWritesItsOwnFilesAndNamesTheMode) {
  TempDir tmp;
  const std::string common = fast_mnist_training(tmp);
  const fs::path run_dir = train_with_novel_clients(tmp, common);
  ASSERT_EQ(run("generalize " + run_dir.string() + " novel.steps=2").exit_code, 0);
  const auto by_loss =
      run("generalize " + run_dir.string() + " novel.steps=2 novel.adapt=loss novel.lr=0.05");
  ASSERT_EQ(by_loss.exit_code, 0) << by_loss.output;
  EXPECT_NE(by_loss.output.find("novel_clients-loss.csv"), std::string::npos) << by_loss.output;
  const auto rounds = nlohmann::json::parse(slurp(run_dir / "novel.json"));
  const auto loss = nlohmann::json::parse(slurp(run_dir / "novel-loss.json"));
  EXPECT_EQ(rounds["adapt"].get<std::string>(), "rounds");
  EXPECT_EQ(loss["adapt"].get<std::string>(), "loss");
  EXPECT_EQ(loss["steps"].get<int>(), 2);
  const auto cfg = config::load_config_file(run_dir / "config.yaml");
  EXPECT_EQ(loss["sgd_steps"].get<int64_t>(), 2 * cfg.client.num_epochs);
  EXPECT_DOUBLE_EQ(loss["embedding_lr"].get<double>(), 0.05);
  EXPECT_DOUBLE_EQ(rounds["embedding_lr"].get<double>(), cfg.effective_embed_lr());
  // Same model before adapting, so the same "before"; a different adaptation after.
  EXPECT_DOUBLE_EQ(loss["novel_test_accuracy_before"].get<double>(),
                   rounds["novel_test_accuracy_before"].get<double>());
  EXPECT_EQ(count_lines(slurp(run_dir / "novel_clients-loss.csv")), 3u);
  EXPECT_GE(loss["novel_val_accuracy_after"].get<double>(), 0.0);
  EXPECT_LE(loss["novel_val_accuracy_after"].get<double>(), 1.0);

  const fs::path fedavg = tmp / "fedavg";
  ASSERT_EQ(run("train " + common + " algorithm=fedavg novel.num_clients=2 --output-dir " +
                fedavg.string())
                .exit_code,
            0);
  const auto refused = run("generalize " + fedavg.string() + " novel.adapt=loss");
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_EQ(count_lines(refused.output), 1u) << refused.output;
  EXPECT_NE(refused.output.find("novel.adapt=loss"), std::string::npos) << refused.output;
  EXPECT_FALSE(fs::exists(fedavg / "novel-loss.json"));
}

// FedAvg + FT adapts inside its client model: "before" must be the global model without
// fine-tuning, whatever baseline.finetune_steps the adaptation is given.
TEST(Cli, GeneralizeWithFedAvgFtMeasuresBeforeWithoutFineTuning) {
  TempDir tmp;
  write_learnable_mnist(tmp / "data" / "mnist");
  const fs::path run_dir = tmp / "run";
  ASSERT_EQ(run(std::string("train ") + kFastTraining + " dataset.root=" + (tmp / "data").string() +
                " algorithm=fedavg_ft client.clients_per_round=2 client.num_rounds=4 "
                "eval_every=4 baseline.finetune_steps=2 novel.num_clients=2 --output-dir " +
                run_dir.string())
                .exit_code,
            0);
  auto generalize = [&](int steps) {
    const auto r =
        run("generalize " + run_dir.string() + " baseline.finetune_steps=" + std::to_string(steps));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return nlohmann::json::parse(slurp(run_dir / "novel.json"));
  };
  const auto none = generalize(0);
  const auto tuned = generalize(30);
  EXPECT_EQ(none["steps"].get<int>(), 0);
  EXPECT_EQ(tuned["steps"].get<int>(), 30);
  EXPECT_DOUBLE_EQ(none["novel_test_accuracy_after"].get<double>(),
                   none["novel_test_accuracy_before"].get<double>());
  EXPECT_DOUBLE_EQ(tuned["novel_test_accuracy_before"].get<double>(),
                   none["novel_test_accuracy_before"].get<double>());
  EXPECT_NE(tuned["novel_test_accuracy_after"].get<double>(),
            tuned["novel_test_accuracy_before"].get<double>());
}

TEST(Cli, TruncatedDataFileGivesOneLineAndExitCode2) {
  TempDir tmp;
  const auto dir = tmp / "data" / "mnist";
  write_learnable_mnist(dir);
  const auto labels = dir / "t10k-labels-idx1-ubyte";
  fs::resize_file(labels, fs::file_size(labels) - 100);
  const auto r = run(std::string("train ") + kFastTraining + " client.num_rounds=1 dataset.root=" +
                     (tmp / "data").string() + " --output-dir " + (tmp / "run").string());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("t10k-labels-idx1-ubyte"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("internal error"), std::string::npos) << r.output;
  // The last line is the error; nothing like a stack trace follows it.
  EXPECT_EQ(r.output.find("frame #"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace pfedhn
