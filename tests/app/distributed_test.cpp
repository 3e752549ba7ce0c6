// Multi-process runs over Gloo on localhost, on the real binary: `--workers N` and torchrun's
// environment must give the single-process result with the same clients_per_round; a dead or
// hung worker stops rank 0 with one line naming it and a resumable checkpoint; a rank with
// another config is rejected at start-up.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <regex>

#include "support/binary_runner.h"

namespace pfedhn {
namespace {
namespace fs = std::filesystem;
using data::testing::TempDir;
using testing::poll_until;
using testing::run_pfedhn;
using testing::slurp;

constexpr int kRounds = 12;

class Distributed : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir();
    testing::write_learnable_mnist(*tmp_ / "data" / "mnist");
  }
  static void TearDownTestSuite() {
    delete tmp_;
    tmp_ = nullptr;
  }

  static std::string train_args(const fs::path& run_dir, const std::string& extra) {
    return std::string("train ") + testing::kFastTraining +
           " client.num_rounds=" + std::to_string(kRounds) +
           " eval_every=4 dataset.root=" + (*tmp_ / "data").string() + " --output-dir " +
           run_dir.string() + " " + extra;
  }

  // The single-process run of `extra`, computed once per distinct `extra`.
  static fs::path reference(const std::string& extra) {
    const fs::path dir = *tmp_ / ("ref-" + std::to_string(std::hash<std::string>{}(extra)));
    if (!fs::exists(dir / "results.json")) {
      const auto r = run_pfedhn(train_args(dir, extra + " --overwrite"));
      EXPECT_EQ(r.exit_code, 0) << r.output;
    }
    return dir;
  }

  static void expect_same_results(const fs::path& run, const fs::path& ref) {
    EXPECT_EQ(slurp(run / "metrics.csv"), slurp(ref / "metrics.csv"));
    EXPECT_EQ(slurp(run / "results.json"), slurp(ref / "results.json"));
  }

  static nlohmann::json run_info(const fs::path& run) {
    return nlohmann::json::parse(slurp(run / "run_info.json"));
  }

  static TempDir* tmp_;
};
TempDir* Distributed::tmp_ = nullptr;

TEST_F(Distributed, TwoAndThreeWorkersGiveTheSingleProcessResult) {
  const std::string k3 = "client.clients_per_round=3";
  const fs::path ref = reference(k3);
  ASSERT_TRUE(fs::exists(ref / "metrics.csv"));
  for (int workers : {2, 3}) {
    const fs::path run = *tmp_ / ("workers" + std::to_string(workers));
    const auto r = run_pfedhn(train_args(run, k3 + " --workers " + std::to_string(workers)));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find(std::to_string(workers) + " ranks over Gloo"), std::string::npos)
        << r.output;
    expect_same_results(run, ref);
    const auto info = run_info(run);
    EXPECT_EQ(info["world_size"], workers);
    // Each round sends theta to, and receives delta_theta from, the ranks other than 0.
    EXPECT_GT(info["communication"]["train_bytes_per_round"].get<double>(), 0.0);
    EXPECT_GT(info["communication"]["eval_bytes"].get<int64_t>(), 0);
  }
  // Without workers nothing crosses a wire.
  EXPECT_EQ(run_info(ref)["world_size"], 1);
  EXPECT_FALSE(run_info(ref).contains("communication"));
}

TEST_F(Distributed, PcLocalLayersStayWithTheirRankAndACheckpointResumesOnAnotherCount) {
  const std::string pc = "model.variant=pfedhn_pc client.clients_per_round=2";
  const fs::path ref = reference(pc);
  const fs::path run = *tmp_ / "pc";
  auto r = run_pfedhn(train_args(run, pc + " --workers 2"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_same_results(run, ref);
  // Back to the checkpoint after round 8 (the newest is the final one, ckpt-12): it holds every
  // client's local layer, gathered to rank 0; resumed on 3 processes, each rank gets back the
  // layers of its clients, and the last rounds come out the same.
  ASSERT_TRUE(fs::exists(run / "checkpoints" / "ckpt-9.pt"));
  fs::remove(run / "checkpoints" / "ckpt-12.pt");
  fs::remove(run / "results.json");
  r = run_pfedhn("train --resume " + run.string() + " --workers 3");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("resumed from"), std::string::npos) << r.output;
  expect_same_results(run, ref);
}

// Rank 0 is paused once a checkpoint exists, the worker is killed, rank 0 continues: it must
// stop at its next exchange with that worker, name it, keep the checkpoint, and the run must
// resume (here on 3 processes) to the uninterrupted result.
TEST_F(Distributed, KilledWorkerStopsRankZeroWithOneLineAndTheRunResumes) {
  const std::string k2 = "client.clients_per_round=2";
  const fs::path ref = reference(k2);
  const fs::path run = *tmp_ / "killed";
  const fs::path log = *tmp_ / "killed.log";
  const pid_t rank0 = testing::spawn_pfedhn(train_args(run, k2 + " --workers 2"), log);
  std::smatch m;
  const std::regex worker_pid("rank 1 pid ([0-9]+)");
  std::string train_log;
  ASSERT_TRUE(poll_until([&] {
    train_log = slurp(run / "train.log");
    return std::regex_search(train_log, m, worker_pid) && fs::exists(run / "checkpoints") &&
           !fs::is_empty(run / "checkpoints");
  })) << slurp(log);
  ::kill(rank0, SIGSTOP);
  const pid_t worker = static_cast<pid_t>(std::stol(m[1].str()));
  ::kill(worker, SIGKILL);
  ::kill(rank0, SIGCONT);
  const int code = testing::wait_pfedhn(rank0);
  const std::string out = slurp(log);
  if (code == 0) GTEST_SKIP() << "the run finished before the worker was killed";
  EXPECT_EQ(code, 4) << out;
  EXPECT_NE(out.find("pfedhn: error: worker rank 1 failed"), std::string::npos) << out;
  EXPECT_NE(out.find("resume with: "), std::string::npos) << out;
  EXPECT_FALSE(fs::is_empty(run / "checkpoints"));
  const auto r = run_pfedhn("train --resume " + run.string() + " --workers 3");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_same_results(run, ref);
}

TEST_F(Distributed, HungWorkerStopsRankZeroAfterTheTimeout) {
  const fs::path run = *tmp_ / "hung";
  const fs::path log = *tmp_ / "hung.log";
  const pid_t rank0 = testing::spawn_pfedhn(
      train_args(run,
                 "client.clients_per_round=2 client.num_rounds=100000 dist_timeout=1 "
                 "--workers 2"),
      log);
  std::smatch m;
  const std::regex worker_pid("rank 1 pid ([0-9]+)");
  std::string train_log;
  ASSERT_TRUE(poll_until([&] {
    train_log = slurp(run / "train.log");
    return std::regex_search(train_log, m, worker_pid);
  })) << slurp(log);
  const pid_t worker = static_cast<pid_t>(std::stol(m[1].str()));
  ::kill(worker, SIGSTOP);
  const int code = testing::wait_pfedhn(rank0);
  ::kill(worker, SIGKILL);  // rank 0 has ended it already; make sure
  const std::string out = slurp(log);
  EXPECT_EQ(code, 4) << out;
  EXPECT_NE(out.find("worker rank 1 did not answer within dist_timeout=1 s"), std::string::npos)
      << out;
}

// The baselines and held-out novel clients run in one process: --workers is refused before
// any worker or run directory is made, with one line naming the algorithm (or the key).
TEST_F(Distributed, BaselinesAndNovelClientsRefuseWorkersWithOneLine) {
  for (const std::string algorithm : {"fedavg", "local", "fedper"}) {
    const fs::path run = *tmp_ / ("refused_" + algorithm);
    const auto r = run_pfedhn(train_args(run, "algorithm=" + algorithm + " --workers 2"));
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    EXPECT_NE(r.output.find("pfedhn: error: algorithm=" + algorithm +
                            " runs in one process only: --workers and torchrun support pfedhn "
                            "and pfedhn_pc"),
              std::string::npos)
        << r.output;
    EXPECT_FALSE(fs::exists(run));
  }
  const auto r = run_pfedhn(train_args(*tmp_ / "refused_novel", "novel.num_clients=1 --workers 2"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("novel.num_clients=1 runs in one process only"), std::string::npos)
      << r.output;
}

// Two ranks started by hand with torchrun's variables; rank 1 with another client.num_epochs.
TEST_F(Distributed, RankWithAnotherConfigIsRejectedAtStartUp) {
  int port = 0;
  {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    socklen_t len = sizeof(addr);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
    ::close(fd);
  }
  const fs::path run = *tmp_ / "mismatch";
  auto start = [&](int rank, const std::string& extra, const fs::path& log) {
    const std::string cmd =
        "RANK=" + std::to_string(rank) +
        " WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port) + " exec " +
        PFEDHN_BINARY + " " + train_args(run, extra) + " > '" + log.string() + "' 2>&1";
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    return pid;
  };
  const pid_t r0 = start(0, "dist_timeout=60", *tmp_ / "mismatch0.log");
  const pid_t r1 = start(1, "client.num_epochs=4", *tmp_ / "mismatch1.log");
  const int c0 = testing::wait_pfedhn(r0), c1 = testing::wait_pfedhn(r1);
  const std::string out0 = slurp(*tmp_ / "mismatch0.log"), out1 = slurp(*tmp_ / "mismatch1.log");
  EXPECT_EQ(c0, 2) << out0;
  EXPECT_EQ(c1, 2) << out1;
  const std::string expected =
      "pfedhn: error: config mismatch: rank 1 was started with client.num_epochs=4 but rank 0 "
      "with client.num_epochs=5";
  EXPECT_NE(out0.find(expected), std::string::npos) << out0;
  EXPECT_NE(out1.find(expected), std::string::npos) << out1;
  EXPECT_FALSE(fs::exists(run / "metrics.csv"));  // rejected before any training
}

}  // namespace
}  // namespace pfedhn
