#pragma once

// The server loop of `pfedhn train`: rounds, the evaluation schedule, checkpoints and resume,
// progress, stop requests, the divergence guard and the summary files. Where client updates and
// evaluations run is the Execution's business (run/execution.h); what a round does is the
// algorithm's (fl/algorithm.h).

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pfedhn/config/config.h"
#include "pfedhn/data/dataset.h"
#include "pfedhn/data/partition.h"
#include "pfedhn/eval/evaluator.h"
#include "pfedhn/fl/algorithm.h"
#include "pfedhn/fl/hetero.h"
#include "pfedhn/io/checkpoint.h"
#include "pfedhn/io/progress.h"
#include "pfedhn/io/results.h"
#include "pfedhn/run/execution.h"
#include "pfedhn/run/stop_requests.h"
#include "pfedhn/util/error.h"

namespace pfedhn::run {

struct RunSettings {
  std::filesystem::path run_dir;
  std::shared_ptr<spdlog::logger> logger;
  std::string resume_command;  // "pfedhn train --resume DIR", for the messages that need one
  int64_t threads = 1;         // for run_info.json
  std::string device;          // for run_info.json
};

// The authors' protocol: evaluate after rounds 0, eval_every, 2*eval_every, ... and the last.
bool evaluates_after(int64_t round, int64_t eval_every, int64_t total_rounds);

// Loads the model part of `checkpoint` into `algorithm`; UserError when it does not fit.
void load_checkpoint_model(fl::Algorithm& algorithm, const io::LoadedCheckpoint& checkpoint);

// The data a run trains and evaluates on: the splits, and the clients that are evaluated (the
// training clients; novel clients are left to `pfedhn generalize`).
struct RunInputs {
  const data::DatasetSplits& splits;
  const std::vector<data::ClientIndices>& eval_clients;
};

class RunLoop {
 public:
  // `resume`: the checkpoint to continue from (its model is loaded here), or nullptr.
  RunLoop(const config::Config& cfg, RunSettings settings, fl::Algorithm& algorithm,
          Execution& execution, RunInputs inputs, io::LoadedCheckpoint* resume);

  // Runs the remaining rounds and writes results.json and run_info.json. Returns 0 when every
  // round ran, or the signal number of a stop request (the run then ends with a checkpoint).
  // Throws TrainingDiverged, or RankFailure with the resume command.
  int run(StopRequests& stops);

 private:
  void load(io::LoadedCheckpoint& checkpoint);
  // Returns whether this evaluation is the best so far.
  bool evaluate(int64_t round);
  void checkpoint();
  void check_finite(const fl::RoundReport& report, int64_t round) const;
  RankFailure with_resume_hint(const RankFailure& e);
  int stop(int signal, int64_t round);
  void finish(int64_t rounds_run, double round_seconds);
  void write_results() const;
  double elapsed() const;

  const config::Config& cfg_;
  RunSettings settings_;
  fl::Algorithm& algorithm_;
  Execution& execution_;
  RunInputs inputs_;
  fl::HeteroReport hetero_;
  io::LoopState loop_;
  std::filesystem::path last_checkpoint_;
  std::optional<io::CsvLog> metrics_, timing_;
  eval::BestTracker best_;
  std::optional<io::ProgressReporter> progress_;
  io::ProgressState progress_state_;
  double elapsed_before_ = 0.0;  // wall time of the run's earlier starts
  std::chrono::steady_clock::time_point start_;
};

}  // namespace pfedhn::run
