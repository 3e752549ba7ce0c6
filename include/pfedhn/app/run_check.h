#pragma once

// What every command that opens an existing run directory checks before it acts (train
// --resume, export, generalize; train -m on the run folders it finds): that the checkpoint it
// reads belongs with RUN_DIR/config.yaml, and that the command's overrides change only what the
// command may change. Keys are compared generically (config::changed_keys), so keys added later
// are covered without a change here.

#include <filesystem>
#include <string>
#include <vector>

#include "pfedhn/config/config.h"
#include "pfedhn/io/checkpoint.h"

namespace pfedhn::app {

// A run's config: RUN_DIR/config.yaml as recorded, and with a command's overrides.
struct RunConfigs {
  config::Config recorded;
  config::Config now;
};

// Both, through run_config (app/runtime.h). Throws UserError when `run_dir` is not a run
// directory, ConfigError for a bad override.
RunConfigs read_run_configs(const std::filesystem::path& run_dir,
                            const std::vector<std::string>& overrides);

// The resolved config a checkpoint was written with. Throws ConfigError naming the checkpoint.
config::Config checkpoint_config(const io::LoadedCheckpoint& checkpoint);

// What a command may change against the config its checkpoint was written with: the keys that
// never change results (config::changes_results), and these.
struct ChangeRules {
  std::string command;  // "resume", "export", "generalize": names the command in messages
  // An override may raise client.num_rounds (resume continues to more rounds). A checkpoint
  // written under fewer rounds than config.yaml names is accepted by every command: a run
  // resumed to more rounds keeps its older checkpoints (best.pt).
  bool more_rounds = true;
  std::vector<std::string> keys;  // e.g. generalize's novel.steps
};

// Whether `rules` accept `change` from `before` (a checkpoint's or folder's config) to `now`.
bool accepts_change(const ChangeRules& rules, const config::KeyChange& change,
                    const config::Config& before, const config::Config& now);

// Checks that `checkpoint` belongs to the run in `run_dir` whose configs are `configs`: every key
// that differs between the checkpoint's config and `configs.now` must be accepted by `rules`.
// Otherwise throws UserError, one line naming every refused key: when RUN_DIR/config.yaml itself
// differs from the checkpoint (edited after training, or another run's checkpoint, another
// algorithm's too), that the two do not belong together; else that the overrides would change
// the results. Returns the accepted changes (checkpoint -> now), for the log.
std::vector<config::KeyChange> check_run_consistency(const std::filesystem::path& run_dir,
                                                     const io::LoadedCheckpoint& checkpoint,
                                                     const RunConfigs& configs,
                                                     const ChangeRules& rules);

}  // namespace pfedhn::app
