#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace pfedhn::app {

// The most rounds --rounds and --warmup take: far more than any timing needs, and small enough
// that no round index or count overflows.
inline constexpr int64_t kMaxBenchRounds = 100000;

struct BenchOptions {
  std::optional<std::filesystem::path> config_file;  // none: the built-in defaults
  std::vector<std::string> overrides;                // "group.key=value"
  int64_t warmup_rounds = 3;  // untimed rounds first (and one untimed evaluation)
  int64_t rounds = 20;        // timed rounds
  bool evaluate = true;       // also time one full evaluation
  bool json = false;          // one JSON object on stdout instead of a table
  // When set, LibTorch's profiler records the timed rounds into this file (Chrome trace format:
  // open in chrome://tracing or Perfetto, or sum the events by name).
  std::optional<std::filesystem::path> profile_file;
};

// Runs `pfedhn bench`: the configured round and evaluation on synthetic data of the dataset's
// real shapes and split sizes (no dataset files needed), and prints per-phase times, the
// projected wall time of the configured run, achieved GFLOP/s and peak resident memory.
// Returns the process exit code; bad config throws ConfigError.
int run_bench(const BenchOptions& options);

}  // namespace pfedhn::app
