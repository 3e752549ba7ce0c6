// Every command fed malformed numbers, paths and run directories, on the real binary: each row
// must end in one line naming the problem and exit code 2, with nothing written or changed
// (every file and folder under the test's directory keeps its size and modification time).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "support/binary_runner.h"

namespace pfedhn {
namespace {
namespace fs = std::filesystem;
using data::testing::TempDir;
using testing::run_pfedhn;

// Each path under `root` with its size (0 for folders) and modification time.
std::map<std::string, std::pair<uintmax_t, fs::file_time_type>> snapshot(const fs::path& root) {
  std::map<std::string, std::pair<uintmax_t, fs::file_time_type>> out;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    out[entry.path().string()] = {entry.is_regular_file() ? entry.file_size() : 0,
                                  entry.last_write_time()};
  }
  return out;
}

size_t count_lines(const std::string& s) {
  return static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
}

struct BadInput {
  std::string args;      // after the program name
  std::string expected;  // a part of the one line
};

class BadInputCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir();
    testing::write_learnable_mnist(*tmp_ / "data" / "mnist");
  }
  static void TearDownTestSuite() {
    delete tmp_;
    tmp_ = nullptr;
  }

  static std::string path(const std::string& name) { return (*tmp_ / name).string(); }

  // A short run, trained on first use: "run" (pFedHN, seed 1, a novel client), "other_seed" (the
  // same with seed 2) or "fedavg". Returns its directory.
  static std::string trained(const std::string& name) {
    const std::map<std::string, std::string> extra{
        {"run", "seed=1 novel.num_clients=1"},
        {"other_seed", "seed=2 novel.num_clients=1"},
        {"fedavg", "algorithm=fedavg client.clients_per_round=2"}};
    if (!fs::exists(*tmp_ / name / "results.json")) {
      const auto r = run_pfedhn(std::string("train ") + testing::kFastTraining +
                                " client.num_rounds=4 eval_every=2 dataset.root=" + path("data") +
                                " " + extra.at(name) + " --output-dir " + path(name));
      EXPECT_EQ(r.exit_code, 0) << r.output;
    }
    return path(name);
  }
  static std::string newest_checkpoint(const std::string& run) {
    return trained(run) + "/checkpoints/ckpt-4.pt";
  }

  // A copy of the seed-1 run, for a test to damage.
  static fs::path copy_of_run(const std::string& name) {
    const fs::path dir = *tmp_ / name;
    fs::copy(trained("run"), dir, fs::copy_options::recursive);
    return dir;
  }

  // Runs every row and checks its one line, its exit code and that nothing changed.
  static void expect_refused(const std::vector<BadInput>& rows) {
    for (const auto& row : rows) {
      const auto before = snapshot(tmp_->path());
      const auto r = run_pfedhn(row.args);
      EXPECT_EQ(r.exit_code, 2) << row.args << "\n" << r.output;
      EXPECT_EQ(count_lines(r.output), 1u) << row.args << "\n" << r.output;
      EXPECT_EQ(r.output.rfind("pfedhn: error: ", 0), 0u) << row.args << "\n" << r.output;
      EXPECT_NE(r.output.find(row.expected), std::string::npos)
          << row.args << "\nexpected: " << row.expected << "\n"
          << r.output;
      EXPECT_TRUE(snapshot(tmp_->path()) == before) << row.args << ": wrote or changed a file";
    }
  }

  static TempDir* tmp_;
};
TempDir* BadInputCli::tmp_ = nullptr;

const std::string kHuge = "99999999999999999999";  // beyond int64

TEST_F(BadInputCli, MalformedNumbersStateTheRange) {
  const std::string bench = "bench -c " PFEDHN_SOURCE_DIR "/conf/mnist.yaml ";
  const std::string sweep = "train -m --output-dir " + path("sweep") + " ";
  const std::string rounds = "--rounds: must be an integer from 1 to 100000, got ";
  expect_refused({
      {bench + "--rounds 0", rounds + "'0'"},
      {bench + "--rounds " + kHuge, rounds + "'" + kHuge + "'"},
      {bench + "--rounds -3", rounds + "'-3'"},
      {bench + "--rounds 2.5", rounds + "'2.5'"},
      {bench + "--rounds abc", rounds + "'abc'"},
      {bench + "--warmup -1", "--warmup: must be an integer from 0 to 100000, got '-1'"},
      {bench + "--warmup 100001", "--warmup: must be an integer from 0 to 100000"},
      {"train --workers 0", "--workers: must be an integer from 1 to 1024, got '0'"},
      {"train --workers " + kHuge, "--workers: must be an integer from 1 to 1024"},
      {sweep + "--jobs 0 seed=1,2", "--jobs: must be an integer from 1 to 1024, got '0'"},
      {sweep + "--max-runs 0 seed=1,2", "--max-runs: must be an integer from 1 to 100000"},
      {sweep + "--max-runs " + kHuge + " seed=1,2", "--max-runs: must be an integer from 1"},
      {"train client.num_rounds=" + kHuge, "client.num_rounds"},
      {"export " + trained("run") + " --clients 0," + kHuge, "'" + kHuge + "' is not a client"},
      {"export " + trained("run") + " --clients 3-1", "empty range '3-1'"},
      {"export " + trained("run") + " --clients 0,2-", "--clients '0,2-': an empty entry"},
      {"export " + trained("run") + " --clients 0,,1", "--clients '0,,1': an empty entry"},
      {"generalize " + trained("run") + " novel.steps=-1", "novel.steps"},
      {"generalize " + trained("run") + " novel.steps=" + kHuge, "novel.steps"},
  });
}

TEST_F(BadInputCli, OutputPathsAreCheckedBeforeAnyWork) {
  const std::string bench = "bench -c " PFEDHN_SOURCE_DIR "/conf/mnist.yaml ";
  const std::string file = trained("run") + "/config.yaml";  // a file where a folder is needed
  expect_refused({
      {bench + "--profile " + path("no_such_dir/trace.json"),
       "the folder '" + path("no_such_dir") + "' does not exist"},
      {bench + "--profile " + trained("run"), "is a directory"},
      {"export " + trained("run") + " --out " + file, "exists and is not a directory"},
      {"export " + trained("run") + " --out " + file + "/sub", "is not a directory"},
      {"export " + trained("run") + " --out " + path("data"),
       "is not empty: pass --overwrite to write into it anyway, or choose another --out"},
      {"train --output-dir " + file, "exists and is not a directory"},
      {"train -m --output-dir " + file + "/sweep seed=1,2", "is not a directory"},
      {"train --config " + path("missing.yaml"), "missing.yaml"},
      {"train " + path("missing.yaml"), "(a config file is given with --config FILE)"},
  });
}

TEST_F(BadInputCli, RunDirectoriesWhosePartsDoNotBelongTogetherAreRefused) {
  // config.yaml edited after training (the generalize case: another partition).
  const fs::path edited = copy_of_run("edited");
  std::string yaml = testing::slurp(edited / "config.yaml");
  ASSERT_NE(yaml.find("seed: 1\n"), std::string::npos);
  yaml.replace(yaml.find("seed: 1\n"), 8, "seed: 7\n");
  std::ofstream(edited / "config.yaml") << yaml;
  // The newest checkpoint is another algorithm's.
  const fs::path foreign = copy_of_run("foreign");
  fs::copy_file(newest_checkpoint("fedavg"), foreign / "checkpoints" / "ckpt-9.pt");
  // A corrupt newest checkpoint: a refused resume must not rename it.
  const fs::path corrupt = copy_of_run("corrupt");
  std::ofstream(corrupt / "checkpoints" / "ckpt-9.pt") << "not a checkpoint";

  const std::string edited_line =
      "the checkpoint was written with seed=1 where config.yaml has "
      "seed=7";
  const std::string fedavg_line = "the checkpoint was written with algorithm=fedavg";
  expect_refused({
      {"export " + trained("run") + " --checkpoint " + newest_checkpoint("other_seed"),
       "the checkpoint was written with seed=2 where config.yaml has seed=1"},
      {"export " + trained("run") + " --checkpoint " + newest_checkpoint("fedavg"), fedavg_line},
      {"export " + trained("run") + " --checkpoint " + path("missing.pt"), "--checkpoint: "},
      {"export " + trained("run") + " --checkpoint " + trained("run") + "/config.yaml",
       "--checkpoint: "},
      {"export " + edited.string(), edited_line},
      {"generalize " + edited.string(), edited_line},
      {"train --resume " + edited.string(), edited_line},
      {"export " + foreign.string(), fedavg_line},
      {"generalize " + foreign.string(), fedavg_line},
      {"train --resume " + foreign.string(), fedavg_line},
      {"train --resume " + corrupt.string() + " seed=9",
       "cannot resume with seed=9: the run used seed=1"},
      {"generalize " + trained("run") + " model.inner_lr=0.1",
       "cannot generalize with model.inner_lr=0.1"},
      {"generalize " + trained("fedavg"), "has no novel clients"},
      {"export " + path("data"), "not a run directory"},
      {"generalize " + path("nowhere"), "not a run directory"},
      {"train --resume " + path("data"), "not a run directory"},
  });
  // The same run directories are accepted once their parts agree again.
  std::ofstream(edited / "config.yaml") << testing::slurp(*tmp_ / "run" / "config.yaml");
  const auto r = run_pfedhn("export " + edited.string() + " --clients 0");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(edited / "export" / "client_0.pt")) << r.output;
}

TEST_F(BadInputCli, CommandLineMistakesNameWhatWasWrong) {
  expect_refused({
      {"trian --config x.yaml",
       "unknown command 'trian' (the commands are train, bench, "
       "generalize, export; see pfedhn --help)"},
      {"", "a command is required: train, bench, generalize, export"},
      {"export", "run_dir is required (see pfedhn export --help)"},
      {"bench --no-such-option", "(see pfedhn bench --help)"},
      {"train --jobs 2 seed=1", "--jobs requires --multirun"},
  });
}

TEST_F(BadInputCli, ASweepIsCountedBeforeItIsExpanded) {
  const std::string sweep = "train -m --output-dir " + path("sweep") + " ";
  // 10 keys of 100 values: 10^20 runs, more than a size_t counts.
  std::string values;
  for (int v = 1; v <= 100; ++v) values += (v > 1 ? "," : "") + std::to_string(v);
  std::string huge;
  for (const char* key :
       {"seed", "eval_every", "client.num_rounds", "client.num_epochs", "client.batch_size",
        "model.n_kernels", "model.n_hidden", "server.hidden_dim", "novel.steps", "log_every"}) {
    huge += std::string(key) + "=" + values + " ";
  }
  expect_refused({
      {sweep + "seed=1,2,3 server.lr=0.1,0.2 --max-runs 5",
       "the sweep has 6 runs (3 seed x 2 server.lr), more than --max-runs 5: shorten its comma "
       "lists, or raise --max-runs (at most 100000)"},
      {sweep + "seed=1,2,3 server.lr=0.1,0.2 client.num_rounds=1,2,3,4,5,6,7,8,9,10,11,12 "
               "server.wd=0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1.0,1.1,1.2,1.3,1.4",
       "the sweep has 1008 runs (3 seed x 2 server.lr x 12 client.num_rounds x 14 server.wd), "
       "more than --max-runs 1000"},
      {sweep + huge, "the sweep has more than 18446744073709551614 runs"},
  });
  // At the limit it is accepted.
  const auto r = run_pfedhn(sweep + "seed=1,2,3 server.lr=0.1,0.2 --max-runs 6 --print-config");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("# 5_seed=3,server.lr=0.2\n"), std::string::npos) << r.output;
}

// The commands on the same inputs without the mistake: the rows above fail for their mistake.
TEST_F(BadInputCli, TheSameCommandsWithoutTheMistakeRun) {
  const fs::path trace = *tmp_ / "trace.json";
  auto r = run_pfedhn(std::string("bench -c " PFEDHN_SOURCE_DIR "/conf/mnist.yaml ") +
                      testing::kFastTraining +
                      " --rounds 1 --warmup 0 --no-eval --json --profile " + trace.string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_GT(fs::file_size(trace), 0u);
  r = run_pfedhn("export " + trained("run") + " --out " + path("exported") + " --checkpoint " +
                 trained("run") + "/checkpoints/best.pt");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = run_pfedhn("generalize " + trained("run") + " novel.steps=1 num_threads=1");
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

}  // namespace
}  // namespace pfedhn
