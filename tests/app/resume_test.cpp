// Interrupted runs, on the real binary: kill -9, SIGINT, corrupt checkpoints and config
// changes; a resumed run must write exactly the files an uninterrupted run writes.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "pfedhn/io/checkpoint.h"
#include "support/binary_runner.h"

namespace pfedhn {
namespace {
namespace fs = std::filesystem;
using data::testing::TempDir;
using testing::poll_until;
using testing::run_pfedhn;
using testing::slurp;

// Evaluations (and checkpoints) after rounds 0, 20, 40 and 59: ckpt-1, -21, -41, -60.
constexpr int kRounds = 60;

class Resume : public ::testing::Test {
 protected:
  // One dataset and one uninterrupted reference run for the whole suite.
  static void SetUpTestSuite() {
    tmp_ = new TempDir();
    testing::write_learnable_mnist(*tmp_ / "data" / "mnist");
    const auto r = run_pfedhn(train_args(reference_dir()));
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  static void TearDownTestSuite() {
    delete tmp_;
    tmp_ = nullptr;
  }

  static fs::path reference_dir() { return *tmp_ / "reference"; }
  static std::string train_args(const fs::path& run_dir) {
    return std::string("train ") + testing::kFastTraining +
           " client.num_rounds=" + std::to_string(kRounds) +
           " eval_every=20 dataset.root=" + (*tmp_ / "data").string() + " --output-dir " +
           run_dir.string();
  }
  static std::string resume_args(const fs::path& run_dir, const std::string& overrides = "") {
    return "train --resume " + run_dir.string() + " " + overrides;
  }

  // metrics.csv and results.json are byte-identical to the uninterrupted run's.
  static void expect_same_results(const fs::path& run_dir) {
    EXPECT_EQ(slurp(run_dir / "metrics.csv"), slurp(reference_dir() / "metrics.csv"));
    EXPECT_EQ(slurp(run_dir / "results.json"), slurp(reference_dir() / "results.json"));
  }

  // A copy of the finished reference run, to corrupt or extend.
  fs::path copy_of_reference(const std::string& name) {
    const fs::path dir = *tmp_ / name;
    fs::copy(reference_dir(), dir, fs::copy_options::recursive);
    fs::remove(dir / "results.json");
    return dir;
  }

  static bool has_checkpoint(const fs::path& run_dir) {
    std::error_code ec;
    for (fs::directory_iterator it(run_dir / "checkpoints", ec), end; !ec && it != end;
         it.increment(ec)) {
      if (it->path().extension() == ".pt") return true;
    }
    return false;
  }

  static TempDir* tmp_;
};
TempDir* Resume::tmp_ = nullptr;

TEST_F(Resume, KillNineAtSeveralPointsThenResumeGivesIdenticalFiles) {
  std::mt19937 gen(::testing::UnitTest::GetInstance()->random_seed());
  for (int point = 0; point < 3; ++point) {
    const fs::path dir = *tmp_ / ("killed" + std::to_string(point));
    const pid_t pid = testing::spawn_pfedhn(train_args(dir), *tmp_ / "killed.log");
    // Kill points follow progress, not wall time (a fast build finishes the run in about a
    // second): shortly after checkpoint 1, 21 or 41, at a random round before the next one.
    const fs::path reached =
        dir / "checkpoints" / ("ckpt-" + std::to_string(1 + 20 * point) + ".pt");
    ASSERT_TRUE(poll_until([&] { return fs::exists(reached); })) << slurp(*tmp_ / "killed.log");
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 100)(gen)));
    ::kill(pid, SIGKILL);
    EXPECT_EQ(testing::wait_pfedhn(pid), 128 + SIGKILL) << "the run ended before the kill";
    EXPECT_FALSE(fs::exists(dir / "results.json"));
    const auto r = run_pfedhn(resume_args(dir));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("resumed from"), std::string::npos) << r.output;
    expect_same_results(dir);
  }
}

TEST_F(Resume, SigintWritesACheckpointExits130AndNamesTheResumeCommand) {
  const fs::path dir = *tmp_ / "interrupted";
  const fs::path log = *tmp_ / "interrupted.log";
  const pid_t pid = testing::spawn_pfedhn(train_args(dir), log);
  ASSERT_TRUE(poll_until([&] { return has_checkpoint(dir); })) << slurp(log);
  ::kill(pid, SIGINT);
  EXPECT_EQ(testing::wait_pfedhn(pid), 130) << slurp(log);
  const std::string out = slurp(log);
  EXPECT_NE(out.find("SIGINT received"), std::string::npos) << out;
  EXPECT_NE(out.find(std::string(PFEDHN_BINARY) + " train --resume " + dir.string()),
            std::string::npos)
      << out;
  EXPECT_TRUE(has_checkpoint(dir));
  EXPECT_FALSE(fs::exists(dir / "results.json"));
  const auto r = run_pfedhn(resume_args(dir));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_same_results(dir);
}

TEST_F(Resume, SigtermExits143) {
  const fs::path dir = *tmp_ / "terminated";
  const fs::path log = *tmp_ / "terminated.log";
  const pid_t pid = testing::spawn_pfedhn(train_args(dir), log);
  ASSERT_TRUE(poll_until([&] { return has_checkpoint(dir); })) << slurp(log);
  ::kill(pid, SIGTERM);
  EXPECT_EQ(testing::wait_pfedhn(pid), 143) << slurp(log);
  EXPECT_NE(slurp(log).find("resume with"), std::string::npos) << slurp(log);
}

// The run is stopped while both signals are sent, so both are delivered together when it
// continues, before it can finish a round or a checkpoint: the second one always finds the first.
TEST_F(Resume, ASecondSignalExitsAtOnceAndTheLastGoodCheckpointResumes) {
  const fs::path dir = *tmp_ / "signalled_twice";
  const fs::path log = *tmp_ / "signalled_twice.log";
  const pid_t pid = testing::spawn_pfedhn(train_args(dir), log);
  ASSERT_TRUE(poll_until([&] { return has_checkpoint(dir); })) << slurp(log);
  ASSERT_TRUE(testing::stop_pfedhn(pid)) << slurp(log);
  ::kill(pid, SIGINT);
  ::kill(pid, SIGTERM);
  ::kill(pid, SIGCONT);
  const int code = testing::wait_pfedhn(pid);
  EXPECT_TRUE(code == 130 || code == 143) << code << "\n" << slurp(log);
  const std::string out = slurp(log);
  EXPECT_NE(out.find("second signal: exiting at once"), std::string::npos) << out;
  EXPECT_EQ(out.find("received: stopped after round"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(dir / "results.json"));
  const auto checkpoints = io::list_checkpoints(dir);
  ASSERT_FALSE(checkpoints.empty());
  for (const auto& path : checkpoints) EXPECT_NO_THROW(io::read_checkpoint(path)) << path;
  const auto r = run_pfedhn(resume_args(dir));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("skipped"), std::string::npos) << r.output;
  expect_same_results(dir);
}

// Stopped after the handler is installed (the run directory's first log line) and before the
// data is loaded (the "data:" line), a run that gets SIGINT exits at once. Whether loading is
// still going on when the test stops the run is up to the scheduler, hence a few attempts.
TEST_F(Resume, ASignalWhileLoadingTheDataExitsAtOnceWithNothingToSave) {
  for (int attempt = 0; attempt < 10; ++attempt) {
    const fs::path dir = *tmp_ / ("loading" + std::to_string(attempt));
    const fs::path log = *tmp_ / ("loading" + std::to_string(attempt) + ".log");
    const pid_t pid = testing::spawn_pfedhn(train_args(dir), log);
    ASSERT_TRUE(poll_until([&] {
      return slurp(dir / "train.log").find("run directory") != std::string::npos;
    })) << slurp(log);
    ASSERT_TRUE(testing::stop_pfedhn(pid)) << slurp(log);
    if (slurp(dir / "train.log").find("data: ") != std::string::npos) {  // too late: again
      ::kill(pid, SIGKILL);
      ::kill(pid, SIGCONT);
      testing::wait_pfedhn(pid);
      continue;
    }
    ::kill(pid, SIGINT);
    ::kill(pid, SIGCONT);
    EXPECT_EQ(testing::wait_pfedhn(pid), 130) << slurp(log);
    const std::string out = slurp(log);
    EXPECT_NE(out.find("\npfedhn: interrupted before the first round: nothing to save\n"),
              std::string::npos)
        << out;
    EXPECT_EQ(out.find("data: "), std::string::npos) << out;
    EXPECT_FALSE(has_checkpoint(dir));
    return;
  }
  GTEST_SKIP() << "the data was loaded every time before the test could stop the run";
}

TEST_F(Resume, CorruptNewestCheckpointFallsBackToThePreviousOne) {
  for (const std::string how : {"truncated", "flipped"}) {
    const fs::path dir = copy_of_reference(how);
    const fs::path newest = dir / "checkpoints" / ("ckpt-" + std::to_string(kRounds) + ".pt");
    ASSERT_TRUE(fs::exists(newest));
    if (how == "truncated") {
      fs::resize_file(newest, fs::file_size(newest) / 2);
    } else {
      // Invert the byte rather than write a constant, which may be the byte already there.
      std::fstream f(newest, std::ios::in | std::ios::out | std::ios::binary);
      const auto middle = static_cast<std::streamoff>(fs::file_size(newest) / 2);
      f.seekg(middle);
      const char byte = static_cast<char>(f.get());
      f.seekp(middle);
      f.put(static_cast<char>(~byte));
    }
    const auto r = run_pfedhn(resume_args(dir));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("skipped checkpoint"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("ckpt-41.pt"), std::string::npos) << r.output;
    expect_same_results(dir);
  }
}

TEST_F(Resume, NoUsableCheckpointIsOneLineAndExitCode2) {
  const fs::path dir = copy_of_reference("all_corrupt");
  for (const auto& p : fs::directory_iterator(dir / "checkpoints")) {
    fs::resize_file(p.path(), 100);
  }
  const auto r = run_pfedhn(resume_args(dir));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_NE(r.output.find("no usable checkpoint"), std::string::npos) << r.output;
}

TEST_F(Resume, AChangeThatChangesResultsIsRefusedNamingTheKey) {
  const fs::path dir = copy_of_reference("changed_seed");
  for (const std::string change : {"seed=43", "server.lr=0.02", "client.num_rounds=50",
                                   "dataset.test_split=holdout", "dataset.test_size=500"}) {
    const auto r = run_pfedhn(resume_args(dir, change));
    EXPECT_EQ(r.exit_code, 2) << change << "\n" << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    const std::string key = change.substr(0, change.find('='));
    EXPECT_NE(r.output.find("cannot resume with " + key), std::string::npos) << r.output;
  }
}

TEST_F(Resume, MoreRoundsAndHarmlessChangesAreAcceptedAndSaid) {
  const fs::path dir = copy_of_reference("extended");
  const auto r = run_pfedhn(resume_args(dir, "client.num_rounds=80 log_every=5"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("accepted config change on resume: client.num_rounds: 60 -> 80"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("log_every: 0 -> 5"), std::string::npos) << r.output;
  const auto j = nlohmann::json::parse(slurp(dir / "results.json"));
  EXPECT_EQ(j["rounds_completed"].get<int>(), 80);
  EXPECT_NE(slurp(dir / "metrics.csv").find("\n79,"), std::string::npos);
  EXPECT_NE(slurp(dir / "config.yaml").find("num_rounds: 80"), std::string::npos);
}

TEST_F(Resume, ResumingAFinishedRunRewritesTheSameResults) {
  const fs::path dir = copy_of_reference("finished");
  const auto r = run_pfedhn(resume_args(dir));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_same_results(dir);
}

// A run made before client.class_shares existed used the spare share; its config.yaml has no
// such key. It must resume on that partition (not today's default, exact), to the very files
// of an uninterrupted spare-share run.
TEST_F(Resume, ARunWhoseConfigPredatesClassSharesResumesOnTheSpareShare) {
  const std::string spare = " client.class_shares=spare";
  const fs::path ref = *tmp_ / "spare_reference";
  auto r = run_pfedhn(train_args(ref) + spare);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_NE(slurp(ref / "metrics.csv"), slurp(reference_dir() / "metrics.csv"))
      << "exact and spare shares should give other runs";
  const fs::path dir = *tmp_ / "predates_class_shares";
  fs::copy(ref, dir, fs::copy_options::recursive);
  fs::remove(dir / "results.json");
  fs::remove(dir / "partition.json");
  fs::remove(dir / "checkpoints" / "ckpt-60.pt");  // resume from round 41
  std::string config = slurp(dir / "config.yaml");
  const auto line = config.find("  class_shares: spare\n");
  ASSERT_NE(line, std::string::npos) << config;
  config.erase(line, std::string("  class_shares: spare\n").size());
  std::ofstream(dir / "config.yaml", std::ios::trunc) << config;

  r = run_pfedhn(resume_args(dir));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(slurp(dir / "metrics.csv"), slurp(ref / "metrics.csv"));
  EXPECT_EQ(slurp(dir / "results.json"), slurp(ref / "results.json"));
  EXPECT_EQ(slurp(dir / "partition.json"), slurp(ref / "partition.json"));
  EXPECT_NE(slurp(dir / "partition.json").find("\"class_shares\": \"spare\""), std::string::npos);
}

// A run trained on a pinned partition (client.partition=file) resumes on the partition it
// recorded, even when the file it named has changed since.
TEST_F(Resume, APinnedPartitionResumesOnItsRecordNotOnTheChangedFile) {
  const fs::path pinned = *tmp_ / "pinned_partition.json";
  fs::copy_file(reference_dir() / "partition.json", pinned);
  const std::string from_file = " client.partition=file client.partition_file=" + pinned.string();
  const fs::path ref = *tmp_ / "pinned_reference";
  auto r = run_pfedhn(train_args(ref) + from_file);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // The same partition as the run that recorded it: the same files, bit for bit.
  expect_same_results(ref);

  const fs::path dir = *tmp_ / "pinned_resumed";
  fs::copy(ref, dir, fs::copy_options::recursive);
  fs::remove(dir / "results.json");
  fs::remove(dir / "checkpoints" / "ckpt-60.pt");
  std::ofstream(pinned, std::ios::trunc) << "{\"clients\": []}";  // the file changes
  r = run_pfedhn(resume_args(dir));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_same_results(dir);
}

TEST_F(Resume, ABadPartitionFileIsOneLineExit2AndNoRun) {
  const fs::path bad = *tmp_ / "bad_partition.json";
  std::ofstream(bad, std::ios::trunc)
      << R"({"clients": [{"classes": [0, 11], "proportions": [0.5, 0.5]}]})";
  const fs::path dir = *tmp_ / "bad_partition_run";
  const auto r =
      run_pfedhn(train_args(dir) + " client.partition=file client.partition_file=" + bad.string());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("lists 1 clients, but this run partitions 5"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find(bad.string()), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir)) << "the run directory is made only after its inputs check out";
}

// The baselines checkpoint their own state (global model, FedPer's heads, Local's networks):
// killed with kill -9 after a checkpoint, FedAvg resumes to the uninterrupted run's files.
TEST_F(Resume, KilledFedAvgRunResumesToTheUninterruptedResult) {
  const std::string fedavg = " algorithm=fedavg client.clients_per_round=2";
  const fs::path ref = *tmp_ / "fedavg_reference";
  auto r = run_pfedhn(train_args(ref) + fedavg);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const fs::path dir = *tmp_ / "fedavg_killed";
  const pid_t pid = testing::spawn_pfedhn(train_args(dir) + fedavg, *tmp_ / "fedavg_killed.log");
  ASSERT_TRUE(poll_until([&] { return fs::exists(dir / "checkpoints" / "ckpt-21.pt"); }))
      << slurp(*tmp_ / "fedavg_killed.log");
  ::kill(pid, SIGKILL);
  EXPECT_EQ(testing::wait_pfedhn(pid), 128 + SIGKILL) << "the run ended before the kill";
  r = run_pfedhn(resume_args(dir));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("resumed from"), std::string::npos) << r.output;
  EXPECT_EQ(slurp(dir / "metrics.csv"), slurp(ref / "metrics.csv"));
  EXPECT_EQ(slurp(dir / "results.json"), slurp(ref / "results.json"));
  EXPECT_NE(slurp(ref / "results.json").find("\"algorithm\": \"fedavg\""), std::string::npos);
}

// Every other baseline, resumed from the checkpoint after round 40 of a finished run (its
// newest, final checkpoint removed), writes the same files again.
class BaselineResume : public Resume, public ::testing::WithParamInterface<std::string> {};

TEST_P(BaselineResume, FromAnEarlierCheckpointGivesIdenticalFiles) {
  const std::string algorithm = " algorithm=" + GetParam() + " client.clients_per_round=2";
  const fs::path ref = *tmp_ / (GetParam() + "_reference");
  auto r = run_pfedhn(train_args(ref) + algorithm);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const fs::path dir = *tmp_ / (GetParam() + "_resumed");
  fs::copy(ref, dir, fs::copy_options::recursive);
  fs::remove(dir / "results.json");
  ASSERT_TRUE(fs::remove(dir / "checkpoints" / ("ckpt-" + std::to_string(kRounds) + ".pt")));
  ASSERT_TRUE(fs::exists(dir / "checkpoints" / "ckpt-41.pt"));
  r = run_pfedhn(resume_args(dir));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("resumed from " + (dir / "checkpoints" / "ckpt-41.pt").string()),
            std::string::npos)
      << r.output;
  EXPECT_EQ(slurp(dir / "metrics.csv"), slurp(ref / "metrics.csv"));
  EXPECT_EQ(slurp(dir / "results.json"), slurp(ref / "results.json"));
}

INSTANTIATE_TEST_SUITE_P(Baselines, BaselineResume,
                         ::testing::Values("local", "fedavg_ft", "perfedavg", "fedper"),
                         [](const auto& info) { return info.param; });

TEST_F(Resume, WithoutARunDirectoryItSaysSo) {
  const auto r = run_pfedhn(resume_args(*tmp_ / "nowhere"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("not a run directory"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace pfedhn
