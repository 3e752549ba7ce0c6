#pragma once

// Helpers for the tests that run the real `pfedhn` binary: a learnable MNIST fixture, the
// tiny model that trains it in a fraction of a second, and ways to run the binary (to
// completion, or in the background so a test can signal it).

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "data/data_fixtures.h"

namespace pfedhn::testing {

// A tiny target network and hypernetwork on MNIST-shaped data, one thread (bit-exact runs).
inline const char* kFastTraining =
    "dataset.data=mnist model.n_kernels=2 model.n_hidden=1 server.hidden_dim=16 "
    "client.num_nodes=5 client.num_epochs=5 client.batch_size=32 num_threads=1";

struct CommandResult {
  int exit_code;
  std::string output;  // stdout and stderr together
};

// Runs `pfedhn <args>` to completion through the shell.
inline CommandResult run_pfedhn(const std::string& args) {
  const std::string cmd = std::string(PFEDHN_BINARY) + " " + args + " 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed"};
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// Starts `pfedhn <args>` in the background with its output in `log`; the pid is the binary's
// own (the shell execs it), so signals reach it directly.
inline pid_t spawn_pfedhn(const std::string& args, const std::filesystem::path& log) {
  const std::string cmd =
      "exec " + std::string(PFEDHN_BINARY) + " " + args + " > '" + log.string() + "' 2>&1";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

// Waits for a spawned process: its exit code, or 128 + signal if a signal killed it.
inline int wait_pfedhn(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Sends SIGSTOP and waits until the process has stopped; false if it ended instead.
inline bool stop_pfedhn(pid_t pid) {
  ::kill(pid, SIGSTOP);
  int status = 0;
  while (::waitpid(pid, &status, WUNTRACED) < 0) {
    if (errno != EINTR) return false;
  }
  return WIFSTOPPED(status);
}

// Polls until `pred` holds or `timeout` passes; true if it held.
template <typename Pred>
bool poll_until(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// An MNIST-format dataset of the official sizes whose class is written in the pixels, so a
// few rounds of training are enough to learn it.
inline void write_learnable_mnist(const std::filesystem::path& dir) {
  using data::testing::idx_bytes;
  using data::testing::write_bytes;
  auto split = [&](const std::string& prefix, uint32_t n) {
    std::vector<uint8_t> images(static_cast<size_t>(n) * 784), labels(n);
    for (uint32_t i = 0; i < n; ++i) {
      const uint8_t label = static_cast<uint8_t>((i * 7 + i / 13) % 10);
      labels[i] = label;
      // A bright horizontal band whose row depends on the class.
      for (int c = 0; c < 28; ++c)
        images[static_cast<size_t>(i) * 784 + (2 + 2 * label) * 28 + c] = 255;
    }
    write_bytes(dir / (prefix + "-images-idx3-ubyte"), idx_bytes({n, 28, 28}, images));
    write_bytes(dir / (prefix + "-labels-idx1-ubyte"), idx_bytes({n}, labels));
  };
  split("train", 60000);
  split("t10k", 10000);
}

}  // namespace pfedhn::testing
