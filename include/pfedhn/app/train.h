#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "pfedhn/config/config.h"
#include "pfedhn/data/dataset.h"
#include "pfedhn/data/partition.h"

namespace pfedhn::app {

// -m: sweeps of more runs are refused unless --max-runs raises the limit (up to kMaxSweepRuns).
inline constexpr int kDefaultMaxRuns = 1000;
inline constexpr int kMaxSweepRuns = 100000;

struct TrainOptions {
  std::optional<std::filesystem::path>
      config_file;                     // none: the built-in defaults (= conf/config.yaml)
  std::vector<std::string> overrides;  // "group.key=value"
  std::optional<std::filesystem::path> output_dir;  // none: outputs/<date>/<time>
  bool print_config = false;                        // print the resolved config and exit
  bool overwrite = false;
  // Continue the run in this directory from its newest good checkpoint; the config is
  // RUN_DIR/config.yaml plus `overrides` (only changes that keep the results are accepted).
  std::optional<std::filesystem::path> resume_dir;
  std::string program = "pfedhn";  // how the user called us, for the "resume with" hint
  // --workers N: run N processes on this machine (this one is rank 0 and spawns N-1 workers,
  // each re-executing this program with `worker_args` and torchrun's environment).
  int workers = 1;
  // The command line after the program name, without --workers.
  std::vector<std::string> worker_args;
  // -m: run the sweep that `overrides` describe (app/multirun.h), `jobs` runs at a time
  // (0 = one per core).
  bool multirun = false;
  int jobs = 0;
  int max_runs = kDefaultMaxRuns;  // -m: refuse a sweep of more runs
  // config_file is a run directory's config.yaml: keys it lacks mean what they meant when the
  // run was made (config::apply_older_run_defaults).
  bool config_from_run = false;
};

// Exit codes of a run stopped by a signal (the shell's 128 + signal number).
inline constexpr int kInterruptedExitCode = 130;  // SIGINT
inline constexpr int kTerminatedExitCode = 143;   // SIGTERM

// The resolved config: file (or defaults), then overrides, then validation, against the files
// of an image folder, a tensors file or a scripted target (app::resolve_against_data). Throws
// ConfigError or another UserError.
config::Config resolve_config(const TrainOptions& options);

// Its two steps: the config file (or the defaults), not yet resolved; then `base` with
// `overrides` applied, resolved and validated (a sweep reads its file once and resolves each
// combination from it).
config::Config base_config(const TrainOptions& options);
config::Config resolve_overrides(config::Config base, const std::vector<std::string>& overrides);

// The dataset of `cfg` on `device` and its partition into clients, as every rank of a run
// and `pfedhn generalize` use them.
struct RunData {
  data::DatasetSplits splits;
  std::vector<data::ClientIndices> clients;
  data::Partition partition;  // what `clients` were made of (its `clients` moved to the above)
};
// `run_dir`: the run directory of a run being continued or read (resume, export, generalize),
// whose partition.json is then the partition of client.partition=file, as trained; empty for a
// new run, which reads client.partition_file. Throws UserError when the files no longer have
// the channels and classes of the config. `progress` is told how far the reading of an image
// folder is.
RunData load_run_data(const config::Config& cfg, const torch::Device& device,
                      const std::filesystem::path& run_dir = {},
                      const data::LoadProgress& progress = {});

// RUN_DIR/partition.json: the partition `data` was made with (data/partition_file.h).
void write_partition_record(const std::filesystem::path& run_dir, const config::Config& cfg,
                            const RunData& data);

// Runs `pfedhn train` (or resumes one). Under torchrun's environment (WORLD_SIZE > 1) or with
// --workers N, rank 0 runs the loop below and every other rank serves client updates and
// evaluations (fl/distributed.h); a failed rank raises RankFailure. Returns the process exit code:
// 0, or 130/143 when stopped by SIGINT/SIGTERM after writing a checkpoint. A signal before the
// first round, or a second one, ends the process at once with the same codes (app/signals.h).
// User errors propagate as UserError, non-finite training as TrainingDiverged.
int run_train(const TrainOptions& options);

}  // namespace pfedhn::app
