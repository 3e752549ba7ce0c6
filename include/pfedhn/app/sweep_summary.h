#pragma once

// The summary files of a sweep (`pfedhn train -m`, app/multirun.h): OUT/summary.csv and
// OUT/summary.md with one row per run, and, when `seed` is swept, the mean and sample standard
// deviation over the seeds of each combination of the other swept keys (a second table in
// summary.md, and OUT/summary_seeds.csv).

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace pfedhn::app {

// done: ran to the end now; skipped: had results.json before; interrupted: stopped by a signal
// (resumable); pending / running: not finished when the summary was written.
enum class RunStatus { kPending, kRunning, kDone, kSkipped, kFailed, kInterrupted };
std::string to_string(RunStatus status);

struct RunOutcome {
  std::string folder;                                      // OUT/<folder>
  std::vector<std::pair<std::string, std::string>> swept;  // key, value
  RunStatus status = RunStatus::kPending;
  double best_test_accuracy = NAN;   // results.json best.test.accuracy
  int64_t best_round = -1;           // results.json best.round
  double final_test_accuracy = NAN;  // results.json final.test.accuracy
  double wall_seconds = NAN;         // run_info.json wall_seconds
  std::string error;                 // failed or interrupted: one line
};

// Fills the numbers of `outcome` from RUN_DIR/results.json and RUN_DIR/run_info.json. Returns
// "" or, when results.json is missing or unreadable, a one-line reason.
std::string read_run_results(const std::filesystem::path& run_dir, RunOutcome& outcome);

// Mean and sample standard deviation (n - 1) of the finite values; std is NaN below two.
struct MeanStd {
  double mean = NAN;
  double std = NAN;
  size_t n = 0;
};
MeanStd mean_std(const std::vector<double>& values);

// The runs that differ only in `seed`, in the order their combination first appears.
struct SeedGroup {
  std::vector<std::pair<std::string, std::string>> swept;  // the other swept keys
  size_t runs = 0;                                         // seeds in the sweep
  MeanStd best_test_accuracy;                              // over the runs with results
  MeanStd final_test_accuracy;
};
// Empty when `seed` is not swept.
std::vector<SeedGroup> group_over_seeds(const std::vector<RunOutcome>& outcomes);

// "2 done, 1 failed": how many runs have each status.
std::string status_counts(const std::vector<RunOutcome>& outcomes);

std::string summary_csv(const std::vector<RunOutcome>& outcomes);
std::string seed_summary_csv(const std::vector<SeedGroup>& groups);
std::string summary_markdown(const std::vector<RunOutcome>& outcomes);

// Writes summary.csv, summary.md and (seed swept) summary_seeds.csv into `out_dir`, each
// atomically. Throws UserError if it cannot.
void write_sweep_summary(const std::filesystem::path& out_dir,
                         const std::vector<RunOutcome>& outcomes);

}  // namespace pfedhn::app
