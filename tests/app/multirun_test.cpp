// `pfedhn train -m`: the summary tables on their own, then the real binary sweeping tiny runs on
// fixture MNIST files written by the tests.
#include "pfedhn/app/multirun.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "data/data_fixtures.h"
#include "pfedhn/app/sweep_summary.h"
#include "pfedhn/io/checkpoint.h"
#include "support/binary_runner.h"

namespace pfedhn::app {
namespace {
namespace fs = std::filesystem;
using pfedhn::data::testing::TempDir;
using pfedhn::testing::slurp;

using Row = std::vector<std::string>;

// summary.csv's rows (header first); quoted fields may hold commas.
std::vector<Row> read_csv(const fs::path& file) {
  std::vector<Row> rows;
  std::istringstream in(slurp(file));
  for (std::string line; std::getline(in, line);) {
    Row row(1);
    bool quoted = false;
    for (size_t i = 0; i < line.size(); ++i) {
      const char c = line[i];
      if (c == '"' && quoted && i + 1 < line.size() && line[i + 1] == '"') {
        row.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = !quoted;
      } else if (c == ',' && !quoted) {
        row.emplace_back();
      } else {
        row.back() += c;
      }
    }
    rows.push_back(row);
  }
  return rows;
}

size_t column(const Row& header, const std::string& name) {
  for (size_t i = 0; i < header.size(); ++i) {
    if (header[i] == name) return i;
  }
  ADD_FAILURE() << "no column " << name;
  return 0;
}

RunOutcome outcome(const std::string& seed, const std::string& lr, double best, double final) {
  RunOutcome o;
  o.folder = "x_seed=" + seed + ",server.lr=" + lr;
  o.swept = {{"seed", seed}, {"server.lr", lr}};
  o.status = RunStatus::kDone;
  o.best_test_accuracy = best;
  o.best_round = 3;
  o.final_test_accuracy = final;
  o.wall_seconds = 65.0;
  return o;
}

TEST(MultirunSummary, MeanAndSampleStdIgnoreMissingValues) {
  const MeanStd m = mean_std({0.5, NAN, 0.7, 0.9});
  EXPECT_EQ(m.n, 3u);
  EXPECT_NEAR(m.mean, 0.7, 1e-12);
  EXPECT_NEAR(m.std, 0.2, 1e-12);  // sample std: sqrt((0.04 + 0 + 0.04) / 2)
  const MeanStd one = mean_std({0.5});
  EXPECT_EQ(one.n, 1u);
  EXPECT_TRUE(std::isnan(one.std));
  EXPECT_EQ(mean_std({}).n, 0u);
}

TEST(MultirunSummary, GroupsTheRunsThatDifferOnlyInSeed) {
  std::vector<RunOutcome> runs{outcome("1", "0.01", 0.80, 0.70), outcome("1", "0.02", 0.60, 0.50),
                               outcome("2", "0.01", 0.90, 0.80), outcome("2", "0.02", NAN, NAN)};
  runs[3].status = RunStatus::kFailed;
  const auto groups = group_over_seeds(runs);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].swept,
            (std::vector<std::pair<std::string, std::string>>{{"server.lr", "0.01"}}));
  EXPECT_EQ(groups[0].runs, 2u);
  EXPECT_NEAR(groups[0].best_test_accuracy.mean, 0.85, 1e-12);
  EXPECT_NEAR(groups[0].best_test_accuracy.std, std::sqrt(0.005), 1e-12);
  EXPECT_EQ(groups[1].best_test_accuracy.n, 1u);  // the failed seed has no result
  const std::string md = summary_markdown(runs);
  EXPECT_NE(md.find("| 0.01 | 2 | 0.8500 ± 0.0707 | 0.7500 ± 0.0707 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 0.02 | 1 of 2 | 0.6000 | 0.5000 |"), std::string::npos) << md;
  EXPECT_NE(md.find("4 runs: 3 done, 1 failed."), std::string::npos) << md;
  EXPECT_NE(seed_summary_csv(groups).find("0.01,2,2,0.850000,0.070711,0.750000,0.070711\n"),
            std::string::npos)
      << seed_summary_csv(groups);
}

TEST(MultirunSummary, WithoutASweptSeedThereIsNoSeedTable) {
  RunOutcome o = outcome("1", "0.01", 0.8, 0.7);
  o.swept = {{"server.lr", "0.01"}};
  EXPECT_TRUE(group_over_seeds({o}).empty());
  EXPECT_EQ(summary_markdown({o}).find("over seed"), std::string::npos);
}

TEST(MultirunSummary, CsvQuotesFieldsWithCommasAndMarkdownEscapesBars) {
  RunOutcome o = outcome("1", "0.01", 0.8, 0.7);
  o.folder = "0_model.hetero_kernels=8_16";
  o.swept = {{"model.hetero_kernels", "[8,16]"}};
  o.status = RunStatus::kFailed;
  o.error = "pfedhn: error: \"a|b\", c";
  const std::string csv = summary_csv({o});
  EXPECT_EQ(csv,
            "run,model.hetero_kernels,status,test_accuracy_at_best_val,best_round,"
            "final_test_accuracy,wall_seconds,error\n"
            "0_model.hetero_kernels=8_16,\"[8,16]\",failed,0.800000,3,0.700000,65.0,"
            "\"pfedhn: error: \"\"a|b\"\", c\"\n");
  const std::string md = summary_markdown({o});
  EXPECT_NE(md.find("| failed | 0.8000 | 3 | 0.7000 | 1m05s | pfedhn: error: \"a\\|b\", c |"),
            std::string::npos)
      << md;
}

// ---------------------------------------------------------------------------------------------
// The binary.

// testing::kFastTraining without num_threads: the sweep sets num_threads=1 itself.
const char* kTinyRun =
    "dataset.data=mnist model.n_kernels=2 model.n_hidden=1 server.hidden_dim=16 "
    "client.num_nodes=5 client.num_epochs=5 client.batch_size=32";

class Multirun : public ::testing::Test {
 protected:
  void SetUp() override { testing::write_learnable_mnist(tmp_ / "data" / "mnist"); }

  // `pfedhn train -m` on the fixture data into out_.
  std::string sweep_args(const std::string& args) const {
    return std::string("train -m ") + kTinyRun + " dataset.root=" + (tmp_ / "data").string() +
           " --output-dir " + out_.string() + " " + args;
  }
  testing::CommandResult sweep(const std::string& args) const {
    return testing::run_pfedhn(sweep_args(args));
  }
  // summary.csv's rows by run folder: the value of `name`.
  std::map<std::string, std::string> summary_column(const std::string& name) const {
    const auto rows = read_csv(out_ / "summary.csv");
    std::map<std::string, std::string> out;
    if (rows.empty()) return out;
    const size_t c = column(rows[0], name);
    for (size_t r = 1; r < rows.size(); ++r) out[rows[r][0]] = rows[r].at(c);
    return out;
  }

  TempDir tmp_;
  fs::path out_ = tmp_ / "sweep";
};

const std::vector<std::string> kFourRuns{"0_seed=1,server.lr=0.01", "1_seed=1,server.lr=0.02",
                                         "2_seed=2,server.lr=0.01", "3_seed=2,server.lr=0.02"};

TEST_F(Multirun, SweepsTheProductAndSummarisesOverTheSeeds) {
  const auto r = sweep("seed=1,2 server.lr=0.01,0.02 client.num_rounds=4 eval_every=2 --jobs 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("[4/4]"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("ETA"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("eval round"), std::string::npos) << "a run's output on the terminal";
  const auto status = summary_column("status");
  const auto best = summary_column("test_accuracy_at_best_val");
  ASSERT_EQ(status.size(), 4u);
  std::vector<double> lr1_best;
  for (const auto& name : kFourRuns) {
    EXPECT_EQ(status.at(name), "done") << name;
    const fs::path dir = out_ / name;
    const auto cfg = config::load_config_file(dir / "config.yaml");
    EXPECT_EQ(cfg.seed, name[7] == '1' ? 1u : 2u) << name;
    EXPECT_DOUBLE_EQ(cfg.server.lr, name.back() == '1' ? 0.01 : 0.02) << name;
    EXPECT_EQ(cfg.num_threads, 1) << name;
    EXPECT_NE(slurp(dir / "output.log").find("eval round 3"), std::string::npos) << name;
    const auto j = nlohmann::json::parse(slurp(dir / "results.json"));
    EXPECT_EQ(best.at(name), fmt::format("{:.6f}", j["best"]["test"]["accuracy"].get<double>()));
    if (name.back() == '1') lr1_best.push_back(j["best"]["test"]["accuracy"].get<double>());
  }
  // The seed table: server.lr=0.01 over seeds 1 and 2.
  ASSERT_EQ(lr1_best.size(), 2u);
  const std::string md = slurp(out_ / "summary.md");
  const std::string row =
      fmt::format("| 0.01 | 2 | {:.4f} ± {:.4f} |", (lr1_best[0] + lr1_best[1]) / 2,
                  std::abs(lr1_best[0] - lr1_best[1]) / std::sqrt(2.0));
  EXPECT_NE(md.find(row), std::string::npos) << row << "\n" << md;
  EXPECT_NE(md.find("| 0.02 | 2 | "), std::string::npos) << md;
  EXPECT_EQ(read_csv(out_ / "summary_seeds.csv").size(), 3u);
}

TEST_F(Multirun, RerunningSkipsEveryFinishedRunWithoutTouchingIt) {
  const std::string args = "seed=1,2 client.num_rounds=3 eval_every=2";
  ASSERT_EQ(sweep(args).exit_code, 0);
  const std::vector<fs::path> metrics{out_ / "0_seed=1" / "metrics.csv",
                                      out_ / "1_seed=2" / "metrics.csv"};
  auto contents_and_times = [&] {
    std::vector<std::pair<std::string, fs::file_time_type>> out;
    for (const auto& m : metrics) out.emplace_back(slurp(m), fs::last_write_time(m));
    return out;
  };
  const auto before = contents_and_times();
  ASSERT_FALSE(before[0].first.empty());
  const auto done = summary_column("test_accuracy_at_best_val");

  const auto again = sweep(args);
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("2 done before"), std::string::npos) << again.output;
  EXPECT_EQ(summary_column("status"),
            (std::map<std::string, std::string>{{"0_seed=1", "skipped"}, {"1_seed=2", "skipped"}}));
  EXPECT_EQ(summary_column("test_accuracy_at_best_val"), done);
  EXPECT_EQ(contents_and_times(), before);

  // A changed command does not mix its runs with these: refused before anything runs.
  const auto changed = sweep("seed=1,2 client.num_rounds=3 eval_every=1");
  EXPECT_EQ(changed.exit_code, 2) << changed.output;
  EXPECT_NE(changed.output.find("0_seed=1' holds a run with eval_every=2, not 1"),
            std::string::npos)
      << changed.output;
  EXPECT_EQ(contents_and_times(), before);
}

TEST_F(Multirun, ARunWithACheckpointButNoResultsIsResumed) {
  const std::string args = "seed=1,2 client.num_rounds=4 eval_every=2 --jobs 1";
  ASSERT_EQ(sweep(args).exit_code, 0);
  const fs::path dir = out_ / "1_seed=2";
  const std::string results = slurp(dir / "results.json");
  fs::remove(dir / "results.json");
  ASSERT_FALSE(io::list_checkpoints(dir).empty());

  const auto again = sweep(args);
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("1 to resume"), std::string::npos) << again.output;
  EXPECT_EQ(summary_column("status"),
            (std::map<std::string, std::string>{{"0_seed=1", "skipped"}, {"1_seed=2", "done"}}));
  EXPECT_NE(slurp(dir / "output.log").find("train --resume " + dir.string() + "\n"),
            std::string::npos);
  EXPECT_EQ(slurp(dir / "results.json"), results);  // resumed bit-exactly
  EXPECT_EQ(nlohmann::json::parse(slurp(dir / "run_info.json"))["resumes"].get<int>(), 1);
}

// Waits up to a minute for a spawned sweep: its exit code, or -1 after killing it.
int wait_or_kill(pid_t pid) {
  int status = 0;
  const bool exited = testing::poll_until([&] { return ::waitpid(pid, &status, WNOHANG) == pid; },
                                          std::chrono::seconds(60));
  if (!exited) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST_F(Multirun, ASignalStopsTheRunsWithACheckpointAndRerunningResumesThem) {
  // Rounds enough that the runs are still going when the signal comes.
  const std::string args = sweep_args("seed=1,2 client.num_rounds=100000 eval_every=1 --jobs 2");
  const std::vector<std::string> names{"0_seed=1", "1_seed=2"};
  auto rows = [&](const std::string& name) {
    const std::string csv = slurp(out_ / name / "metrics.csv");
    return static_cast<size_t>(std::count(csv.begin(), csv.end(), '\n'));
  };
  // Sweeps until each run has more metrics.csv lines than `floor`, then sends `signal`.
  auto stop_after = [&](size_t floor, int signal) {
    const pid_t pid = testing::spawn_pfedhn(args, tmp_ / "sweep.log");
    const bool running =
        testing::poll_until([&] { return rows(names[0]) > floor && rows(names[1]) > floor; },
                            std::chrono::seconds(120));
    EXPECT_TRUE(running) << slurp(tmp_ / "sweep.log");
    ::kill(pid, signal);
    return wait_or_kill(pid);
  };
  ASSERT_EQ(stop_after(2, SIGTERM), kTerminatedExitCode) << slurp(tmp_ / "sweep.log");
  const std::map<std::string, std::string> interrupted{{names[0], "interrupted"},
                                                       {names[1], "interrupted"}};
  EXPECT_EQ(summary_column("status"), interrupted);
  for (const auto& name : names) {
    EXPECT_FALSE(io::list_checkpoints(out_ / name).empty()) << name;
    EXPECT_FALSE(fs::exists(out_ / name / "results.json")) << name;
  }
  // The rerun resumes both (it rewrites metrics.csv up to the checkpoint, then adds rows).
  const size_t floor = std::max(rows(names[0]), rows(names[1]));
  ASSERT_EQ(stop_after(floor, SIGINT), kInterruptedExitCode) << slurp(tmp_ / "sweep.log");
  EXPECT_EQ(summary_column("status"), interrupted);
  for (const auto& name : names) {
    EXPECT_NE(slurp(out_ / name / "output.log").find("resumed from"), std::string::npos) << name;
    EXPECT_GT(rows(name), floor) << name;
  }
}

// Whether process `pid` has a handler for `signal` (its /proc status SigCgt mask).
bool catches(pid_t pid, int signal) {
  std::istringstream status(slurp("/proc/" + std::to_string(pid) + "/status"));
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("SigCgt:", 0) == 0) {
      return (std::stoull(line.substr(7), nullptr, 16) >> (signal - 1)) & 1u;
    }
  }
  return false;
}

// A sweep is a while counting, resolving and planning its combinations: a SIGTERM then ends it
// at once, before its folder exists. Stopped (SIGSTOP) once its handler is installed, it is
// still planning unless the scheduler was slow, hence a few attempts.
TEST_F(Multirun, ASignalWhilePlanningExitsAtOnceWithNothingWritten) {
  std::string lrs;
  for (int i = 1; i <= 1000; ++i) lrs += fmt::format("{}0.{:04d}", i > 1 ? "," : "", i);
  const std::string args =
      sweep_args("seed=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20 server.lr=" + lrs +
                 " --max-runs 20000");
  for (int attempt = 0; attempt < 5; ++attempt) {
    const fs::path log = tmp_ / ("planning" + std::to_string(attempt) + ".log");
    const pid_t pid = testing::spawn_pfedhn(args, log);
    ASSERT_TRUE(testing::poll_until([&] { return catches(pid, SIGTERM); })) << slurp(log);
    ASSERT_TRUE(testing::stop_pfedhn(pid)) << slurp(log);
    if (fs::exists(out_)) {  // planned already: again
      ::kill(pid, SIGKILL);
      ::kill(pid, SIGCONT);
      testing::wait_pfedhn(pid);
      fs::remove_all(out_);
      continue;
    }
    ::kill(pid, SIGTERM);
    ::kill(pid, SIGCONT);
    EXPECT_EQ(testing::wait_pfedhn(pid), kTerminatedExitCode) << slurp(log);
    EXPECT_NE(slurp(log).find("nothing to save"), std::string::npos) << slurp(log);
    EXPECT_FALSE(fs::exists(out_));
    return;
  }
  GTEST_SKIP() << "the sweep was planned every time before the test could stop it";
}

TEST_F(Multirun, ABadSweptValueExits2BeforeAnyFolderIsMade) {
  for (const auto& [args, expected] : std::vector<std::pair<std::string, std::string>>{
           {"seed=1,2 server.lr=0.01,-1", "sweep run 1 (seed=1,server.lr=-1): "},
           {"client.num_round=1,2", "did you mean 'client.num_rounds'"},
           {"seed=1,,2", "empty value"},
           {"model.hetero_kernels=[8,16],[8,x]", "sweep run 1 (model.hetero_kernels=[8,x])"},
       }) {
    const auto r = sweep(args);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(expected), std::string::npos) << args << "\n" << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    EXPECT_FALSE(fs::exists(out_)) << args;
  }
}

TEST_F(Multirun, IsRefusedWithResumeWorkersOrOverwrite) {
  for (const std::string& extra : {"--resume " + tmp_.path().string(), std::string("--workers 2"),
                                   std::string("--overwrite")}) {
    const auto r = sweep("seed=1,2 " + extra);
    EXPECT_EQ(r.exit_code, 2) << extra << "\n" << r.output;
    EXPECT_NE(r.output.find("-m/--multirun"), std::string::npos) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    EXPECT_FALSE(fs::exists(out_)) << extra;
  }
  EXPECT_EQ(testing::run_pfedhn("train --jobs 2 seed=1").exit_code, 2);  // --jobs needs -m
}

TEST_F(Multirun, PrintConfigShowsEachCombinationAndRunsNothing) {
  const auto r = sweep("seed=1,2 --print-config");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("# 0_seed=1\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("# 1_seed=2\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("seed: 2\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("num_threads: 1\n"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out_));
  // A num_threads of the user's is kept.
  const auto own = sweep("seed=1,2 num_threads=2 --print-config");
  EXPECT_NE(own.output.find("num_threads: 2\n"), std::string::npos) << own.output;
  EXPECT_EQ(own.output.find("num_threads: 1\n"), std::string::npos) << own.output;
}

TEST_F(Multirun, AFailingRunIsMarkedFailedAndTheOthersFinish) {
  const fs::path missing = tmp_ / "no_data";
  const auto r = sweep("client.num_rounds=2 eval_every=1 dataset.root=" + (tmp_ / "data").string() +
                       "," + missing.string());
  EXPECT_EQ(r.exit_code, 1) << r.output;
  const auto status = summary_column("status");
  const auto error = summary_column("error");
  ASSERT_EQ(status.size(), 2u);
  for (const auto& [name, s] : status) {
    const bool failing = name.find("no_data") != std::string::npos;
    EXPECT_EQ(s, failing ? "failed" : "done") << name;
    if (failing) {
      EXPECT_NE(error.at(name).find("pfedhn: error: "), std::string::npos) << error.at(name);
      EXPECT_NE(error.at(name).find("scripts/fetch_data.sh"), std::string::npos) << error.at(name);
    } else {
      EXPECT_TRUE(fs::exists(out_ / name / "results.json")) << name;
    }
  }
  EXPECT_NE(slurp(out_ / "summary.md").find("1 done, 1 failed"), std::string::npos);
}

}  // namespace
}  // namespace pfedhn::app
