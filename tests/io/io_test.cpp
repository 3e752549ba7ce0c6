#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "pfedhn/io/progress.h"
#include "pfedhn/io/results.h"
#include "pfedhn/io/run_dir.h"
#include "pfedhn/util/error.h"

namespace pfedhn::io {
namespace {
namespace fs = std::filesystem;

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("pfedhn_io_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add);
    fs::remove_all(dir_);
  }
  static std::string slurp(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  fs::path dir_;
};

TEST_F(TempDir, PrepareRunDirCreatesNestedFoldersAndRefusesAnExistingRun) {
  const auto run = dir_ / "a" / "b";
  prepare_run_dir(run, false);
  EXPECT_TRUE(fs::is_directory(run));
  EXPECT_TRUE(fs::is_empty(run));  // the write probe is removed
  std::ofstream(run / "results.json") << "{}";
  EXPECT_THROW(prepare_run_dir(run, false), UserError);
  EXPECT_NO_THROW(prepare_run_dir(run, true));
}

TEST_F(TempDir, PrepareRunDirRefusesAFileAndAnUnwritableFolder) {
  std::ofstream(dir_ / "file") << "x";
  EXPECT_THROW(prepare_run_dir(dir_ / "file", false), UserError);
  if (::geteuid() != 0) {  // root can write anywhere
    fs::create_directories(dir_ / "ro");
    fs::permissions(dir_ / "ro", fs::perms::owner_read | fs::perms::owner_exec);
    EXPECT_THROW(prepare_run_dir(dir_ / "ro" / "run", false), UserError);
  }
}

TEST_F(TempDir, AtomicWriteReplacesContentAndLeavesNoTemporary) {
  write_file_atomic(dir_ / "f.txt", "first");
  write_file_atomic(dir_ / "f.txt", "second");
  EXPECT_EQ(slurp(dir_ / "f.txt"), "second");
  EXPECT_FALSE(fs::exists(dir_ / "f.txt.tmp"));
}

eval::EvalRecord record(int64_t round, double val, double test) {
  eval::EvalRecord r;
  r.round = round;
  r.val = eval::summarise({{static_cast<int64_t>(val * 100), 100, 10.0}});
  r.test = eval::summarise({{static_cast<int64_t>(test * 100), 100, 20.0}, {0, 0, 0.0}});
  return r;
}

TEST_F(TempDir, MetricsCsvHasAHeaderAndOneFlushedRowPerEvaluation) {
  CsvLog w(dir_ / "metrics.csv", MetricsCsv::header());
  w.append(MetricsCsv::row(record(0, 0.5, 0.4), 1, 2.3));
  // Readable before the writer is closed: nothing finished is lost on a crash.
  std::istringstream lines(slurp(dir_ / "metrics.csv"));
  std::string header, row;
  std::getline(lines, header);
  std::getline(lines, row);
  EXPECT_EQ(header, MetricsCsv::header());
  EXPECT_EQ(row.rfind("0,1,0.500000,0.100000,", 0), 0u) << row;
  const auto commas = [](const std::string& s) { return std::count(s.begin(), s.end(), ','); };
  EXPECT_EQ(commas(row), commas(header));
  // Only deterministic content: the wall clock lives in timing.csv.
  EXPECT_EQ(header.find("elapsed"), std::string::npos);
}

TEST_F(TempDir, CsvLogRestartsFromGivenRowsDroppingLaterOnes) {
  {
    CsvLog w(dir_ / "t.csv", "a,b");
    w.append("1,2");
    w.append("3,4");
  }
  CsvLog again(dir_ / "t.csv", "a,b", {"1,2"});  // as a resume from a checkpoint does
  again.append("5,6");
  EXPECT_EQ(slurp(dir_ / "t.csv"), "a,b\n1,2\n5,6\n");
  EXPECT_EQ(again.rows(), (std::vector<std::string>{"1,2", "5,6"}));
}

TEST_F(TempDir, ResultsJsonHoldsTheHeadlineAndPerClientAccuracies) {
  RunSummary s;
  s.dataset = "mnist";
  s.variant = "pfedhn";
  s.num_clients = 2;
  s.best = record(30, 0.9, 0.88);
  s.final = record(59, 0.8, 0.85);
  write_results(dir_ / "results.json", s);
  const auto j = nlohmann::json::parse(slurp(dir_ / "results.json"));
  EXPECT_DOUBLE_EQ(j["test_accuracy_at_best_val"].get<double>(), 0.88);
  EXPECT_EQ(j["best_round"].get<int64_t>(), 30);
  EXPECT_EQ(j["final"]["test"]["client_accuracy"].size(), 2u);
  EXPECT_TRUE(j["final"]["test"]["client_accuracy"][1].is_null());  // client without samples
}

TEST(Progress, DurationsReadNaturally) {
  EXPECT_EQ(ProgressReporter::format_duration(42.2), "42s");
  EXPECT_EQ(ProgressReporter::format_duration(125), "2m05s");
  EXPECT_EQ(ProgressReporter::format_duration(3 * 3600 + 61), "3h01m");
  EXPECT_EQ(ProgressReporter::format_duration(-1), "?");
}

TEST(Progress, LineNamesRoundClientLossAccuracyRateAndEta) {
  auto logger = std::make_shared<spdlog::logger>("test");
  ProgressReporter p(logger, false, 10, 0);
  ProgressState st;
  st.round = 10;
  st.total_rounds = 100;
  st.client = 7;
  st.loss = 0.25;
  st.train_accuracy = 0.9;
  st.last_test_accuracy = 0.8;
  const auto line = p.describe(st);
  for (const char* part : {"round 10/100", "client 7", "loss 0.2500", "train acc 0.900",
                           "test acc 0.8000", "rounds/s", "ETA"}) {
    EXPECT_NE(line.find(part), std::string::npos) << part << " in " << line;
  }
}

}  // namespace
}  // namespace pfedhn::io
