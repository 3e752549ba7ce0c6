#include "pfedhn/run/run_loop.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <fstream>
#include <nlohmann/json.hpp>

#include "pfedhn/fl/algorithm.h"
#include "pfedhn/io/checkpoint.h"
#include "support/synthetic.h"

namespace pfedhn::run {
namespace {
namespace fs = std::filesystem;

// An algorithm whose only state is how many rounds it has seen; the loop checkpoints and
// restores it through save/load like any other.
class CountingAlgorithm : public fl::Algorithm {
 public:
  explicit CountingAlgorithm(std::vector<data::ClientIndices> clients)
      : clients_(std::move(clients)) {}
  fl::RoundReport run_round(int64_t round) override {
    ++rounds_seen;
    fl::RoundReport r;
    r.round = round;
    r.clients = {round % static_cast<int64_t>(clients_.size())};
    return r;
  }
  std::function<torch::Tensor(const torch::Tensor&)> client_model(int64_t) override {
    return [](const torch::Tensor& x) { return torch::zeros({x.size(0), 10}); };
  }
  models::ClientNetwork client_network(int64_t) override { return {spec_, {}, {}}; }
  void save(torch::serialize::OutputArchive& a) const override {
    a.write("rounds_seen", torch::tensor(rounds_seen));
  }
  void load(torch::serialize::InputArchive& a) override {
    torch::Tensor t;
    a.read("rounds_seen", t);
    rounds_seen = t.item<int64_t>();
  }
  const std::vector<data::ClientIndices>& clients() const override { return clients_; }
  const models::TargetSpec& target_spec() const override { return spec_; }
  int64_t clients_per_round() const override { return 1; }
  std::string describe() const override { return "counting"; }

  int64_t rounds_seen = 0;

 private:
  std::vector<data::ClientIndices> clients_;
  models::TargetSpec spec_;
};

// Runs rounds through the algorithm and records what the loop asked of it. The val accuracy of
// an evaluation is a function of its round chosen so that the best one is not the last.
class RecordingExecution : public Execution {
 public:
  explicit RecordingExecution(fl::Algorithm& algorithm) : algorithm_(algorithm) {}
  fl::RoundReport run_round(int64_t round) override {
    rounds.push_back(round);
    auto report = algorithm_.run_round(round);
    if (round == diverge_at) report.loss = NAN;
    return report;
  }
  eval::EvalRecord evaluate(int64_t round, int64_t) override {
    evaluations.push_back(round);
    eval::EvalRecord r;
    r.round = round;
    r.val.accuracy = round == 3 ? 0.9 : 0.1 + 0.01 * static_cast<double>(round);
    r.test.accuracy = 0.5 + 0.01 * static_cast<double>(round);
    return r;
  }
  void stop() override { ++stops; }

  std::vector<int64_t> rounds, evaluations;
  int64_t diverge_at = -1;
  int stops = 0;

 private:
  fl::Algorithm& algorithm_;
};

// A stop request that arrives during round `after` (0-based), as a signal would.
class StopAfter : public StopRequests {
 public:
  StopAfter(const RecordingExecution& execution, int64_t after, int signal)
      : execution_(execution), after_(after), signal_(signal) {}
  void stop_after_round() override { armed = true; }
  int pending() const override {
    const bool arrived = !execution_.rounds.empty() && execution_.rounds.back() >= after_;
    return armed && arrived ? signal_ : 0;
  }
  bool armed = false;

 private:
  const RecordingExecution& execution_;
  int64_t after_;
  int signal_;
};

class RunLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("pfedhn_run_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    cfg_ = testing::small_trainer_config(config::Algorithm::kPFedHN);
    cfg_.client.num_rounds = 8;
    cfg_.eval_every = 3;
    splits_ = testing::synthetic_mnist(120, 60, 60);
    clients_ = testing::partition_for(splits_, cfg_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  RunSettings settings() const {
    return {
        dir_,
        std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>()),
        "pfedhn train --resume " + dir_.string(), 1, "cpu"};
  }
  nlohmann::json results() const {
    std::ifstream in(dir_ / "results.json");
    return nlohmann::json::parse(in);
  }

  fs::path dir_;
  config::Config cfg_;
  data::DatasetSplits splits_;
  std::vector<data::ClientIndices> clients_;
};

// A checkpoint holding another algorithm's model (a forged one whose config agrees): one line
// naming the checkpoint, not LibTorch's own exception (a missing field is not a c10::Error).
TEST(LoadCheckpointModel, AnotherAlgorithmsModelIsOneUserErrorLine) {
  const auto d = testing::synthetic_mnist(300, 60, 60);
  const auto made = [&](config::Algorithm a) {
    config::Config cfg = testing::small_trainer_config(a);
    cfg.client.clients_per_round = 2;
    return fl::make_algorithm(cfg, d, testing::partition_for(d, cfg), torch::kCPU);
  };
  const auto fedavg = made(config::Algorithm::kFedAvg);
  io::LoadedCheckpoint checkpoint = io::decode_checkpoint(
      io::encode_checkpoint(io::LoopState{},
                            [&](torch::serialize::OutputArchive& a) { fedavg->save(a); }),
      "forged");
  checkpoint.path = "forged.pt";
  for (const auto a : {config::Algorithm::kPFedHN, config::Algorithm::kFedPer}) {
    const auto other = made(a);
    try {
      load_checkpoint_model(*other, checkpoint);
      ADD_FAILURE() << config::to_string(a) << " loaded FedAvg's model";
    } catch (const UserError& e) {
      const std::string what = e.what();
      EXPECT_EQ(what.rfind("checkpoint 'forged.pt' does not fit this config: ", 0), 0u) << what;
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    }
  }
}

TEST(EvaluatesAfter, RoundZeroEveryEvalEveryAndTheLast) {
  std::vector<int64_t> rounds;
  for (int64_t r = 0; r < 8; ++r) {
    if (evaluates_after(r, 3, 8)) rounds.push_back(r);
  }
  EXPECT_EQ(rounds, (std::vector<int64_t>{0, 3, 6, 7}));
}

TEST_F(RunLoopTest, RunsEveryRoundEvaluatesOnScheduleAndKeepsTheBestValidation) {
  CountingAlgorithm algorithm(clients_);
  RecordingExecution execution(algorithm);
  StopAfter never(execution, 1000, SIGINT);
  RunLoop loop(cfg_, settings(), algorithm, execution, {splits_, clients_}, nullptr);
  EXPECT_EQ(loop.run(never), 0);
  EXPECT_TRUE(never.armed);
  EXPECT_EQ(execution.rounds, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(execution.evaluations, (std::vector<int64_t>{0, 3, 6, 7}));
  EXPECT_EQ(execution.stops, 1);
  const auto j = results();
  EXPECT_EQ(j["rounds_completed"], 8);
  EXPECT_EQ(j["best"]["round"], 3);
  EXPECT_DOUBLE_EQ(j["best"]["test"]["accuracy"].get<double>(), 0.53);
  EXPECT_DOUBLE_EQ(j["final"]["test"]["accuracy"].get<double>(), 0.57);
  EXPECT_TRUE(fs::exists(dir_ / "run_info.json"));
  // best.pt is the checkpoint of round 3, and never a resume point
  EXPECT_EQ(io::read_checkpoint(io::best_checkpoint_path(dir_)).loop.next_round, 4);
  EXPECT_EQ(io::list_checkpoints(dir_).front().filename(), "ckpt-8.pt");
}

TEST_F(RunLoopTest, TheBestEvaluationsModelIsKeptWhenNoCheckpointIsDueThen) {
  cfg_.checkpoint_every = 100;  // only the last round's checkpoint is due
  CountingAlgorithm algorithm(clients_);
  RecordingExecution execution(algorithm);
  StopAfter never(execution, 1000, SIGINT);
  RunLoop loop(cfg_, settings(), algorithm, execution, {splits_, clients_}, nullptr);
  EXPECT_EQ(loop.run(never), 0);
  auto best = io::read_checkpoint(io::best_checkpoint_path(dir_));
  EXPECT_EQ(best.loop.next_round, 4);
  EXPECT_EQ(best.loop.best.round, 3);
  CountingAlgorithm restored(clients_);
  restored.load(*best.model);
  EXPECT_EQ(restored.rounds_seen, 4);  // the model after round 3, not the last one
}

TEST_F(RunLoopTest, AResumeAtTheBestRoundRewritesABestCheckpointThatAStopLeftBehind) {
  {
    CountingAlgorithm algorithm(clients_);
    RecordingExecution execution(algorithm);
    StopAfter stop_in_round_3(execution, 3, SIGTERM);
    RunLoop loop(cfg_, settings(), algorithm, execution, {splits_, clients_}, nullptr);
    EXPECT_EQ(loop.run(stop_in_round_3), SIGTERM);
  }
  // as if the process died between the checkpoint of round 3 and its copy to best.pt
  fs::remove(io::best_checkpoint_path(dir_));
  auto resume = io::read_checkpoint(io::list_checkpoints(dir_).front());
  ASSERT_EQ(resume.loop.next_round, 4);
  CountingAlgorithm algorithm(clients_);
  RecordingExecution execution(algorithm);
  RunLoop loop(cfg_, settings(), algorithm, execution, {splits_, clients_}, &resume);
  EXPECT_EQ(io::read_checkpoint(io::best_checkpoint_path(dir_)).loop.next_round, 4);
}

TEST_F(RunLoopTest, AStopRequestEndsAfterTheRoundWithACheckpointThatResumesWhereItStopped) {
  {
    CountingAlgorithm algorithm(clients_);
    RecordingExecution execution(algorithm);
    StopAfter stop_in_round_4(execution, 4, SIGTERM);
    RunLoop loop(cfg_, settings(), algorithm, execution, {splits_, clients_}, nullptr);
    EXPECT_EQ(loop.run(stop_in_round_4), SIGTERM);
    EXPECT_EQ(execution.rounds.back(), 4);
    EXPECT_EQ(execution.stops, 1);
    EXPECT_FALSE(fs::exists(dir_ / "results.json"));
  }
  auto checkpoints = io::list_checkpoints(dir_);
  ASSERT_FALSE(checkpoints.empty());
  auto resume = io::read_checkpoint(checkpoints.front());
  EXPECT_EQ(resume.loop.next_round, 5);

  CountingAlgorithm algorithm(clients_);
  RecordingExecution execution(algorithm);
  StopAfter never(execution, 1000, SIGINT);
  RunLoop loop(cfg_, settings(), algorithm, execution, {splits_, clients_}, &resume);
  EXPECT_EQ(algorithm.rounds_seen, 5);  // the algorithm's state came back from the checkpoint
  EXPECT_EQ(loop.run(never), 0);
  EXPECT_EQ(execution.rounds, (std::vector<int64_t>{5, 6, 7}));
  EXPECT_EQ(results()["best"]["round"], 3);  // the tracker came back too
}

TEST_F(RunLoopTest, ANonFiniteLossStopsTheRunNamingTheRoundAndTheLastGoodCheckpoint) {
  CountingAlgorithm algorithm(clients_);
  RecordingExecution execution(algorithm);
  execution.diverge_at = 5;
  StopAfter never(execution, 1000, SIGINT);
  RunLoop loop(cfg_, settings(), algorithm, execution, {splits_, clients_}, nullptr);
  try {
    loop.run(never);
    FAIL() << "expected TrainingDiverged";
  } catch (const TrainingDiverged& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("training loss in round 5"), std::string::npos) << what;
    EXPECT_NE(what.find("last good checkpoint"), std::string::npos) << what;
  }
  EXPECT_EQ(execution.rounds.back(), 5);
}

}  // namespace
}  // namespace pfedhn::run
