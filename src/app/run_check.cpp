#include "pfedhn/app/run_check.h"

#include <algorithm>

#include "pfedhn/app/runtime.h"
#include "pfedhn/util/error.h"

namespace pfedhn::app {
namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

// "key=value, ..." of each change, its value before or now.
std::string assignments(const std::vector<config::KeyChange>& changes, bool now) {
  std::vector<std::string> items;
  for (const auto& c : changes) items.push_back(c.key + "=" + (now ? c.now : c.before));
  return join(items);
}

// What `rules` let a command change, for messages: "log_every, ... and a larger
// client.num_rounds".
std::string what_may_change(const ChangeRules& rules) {
  std::vector<std::string> keys = rules.keys;
  for (const auto& info : config::all_keys()) {
    if (info.alias_of.empty() && !config::changes_results(info.key)) keys.push_back(info.key);
  }
  return join(keys) + (rules.more_rounds ? " and a larger client.num_rounds" : "");
}

}  // namespace

RunConfigs read_run_configs(const std::filesystem::path& run_dir,
                            const std::vector<std::string>& overrides) {
  RunConfigs configs{run_config(run_dir), {}};
  configs.now = overrides.empty() ? configs.recorded : run_config(run_dir, overrides);
  return configs;
}

config::Config checkpoint_config(const io::LoadedCheckpoint& checkpoint) {
  config::Config cfg = config::parse_config_text(
      checkpoint.loop.config_yaml, "the config in checkpoint '" + checkpoint.path.string() + "'");
  config::apply_older_run_defaults(cfg);  // a checkpoint made before a key: as the run used it
  config::resolve_and_validate(cfg);
  return cfg;
}

bool accepts_change(const ChangeRules& rules, const config::KeyChange& change,
                    const config::Config& before, const config::Config& now) {
  if (!config::changes_results(change.key)) return true;
  if (change.key == "client.num_rounds") {
    return rules.more_rounds && now.client.num_rounds > before.client.num_rounds;
  }
  return std::find(rules.keys.begin(), rules.keys.end(), change.key) != rules.keys.end();
}

std::vector<config::KeyChange> check_run_consistency(const std::filesystem::path& run_dir,
                                                     const io::LoadedCheckpoint& checkpoint,
                                                     const RunConfigs& configs,
                                                     const ChangeRules& rules) {
  const config::Config before = checkpoint_config(checkpoint);
  std::vector<config::KeyChange> accepted, from_file, from_overrides;
  for (auto& change : config::changed_keys(before, configs.now)) {
    const bool in_file = config::config_value(configs.recorded, change.key) == change.now;
    // A run resumed to more rounds keeps the checkpoints written under the smaller count.
    const bool older_checkpoint = in_file && change.key == "client.num_rounds" &&
                                  configs.now.client.num_rounds > before.client.num_rounds;
    if (older_checkpoint || accepts_change(rules, change, before, configs.now)) {
      accepted.push_back(std::move(change));
    } else if (in_file) {
      from_file.push_back(std::move(change));
    } else {
      from_overrides.push_back(std::move(change));
    }
  }
  if (!from_file.empty()) {
    const std::string file = (run_dir / "config.yaml").string();
    throw UserError("checkpoint '" + checkpoint.path.string() + "' does not belong with '" + file +
                    "': the checkpoint was written with " + assignments(from_file, /*now=*/false) +
                    " where config.yaml has " + assignments(from_file, /*now=*/true) +
                    " (config.yaml edited after training, or a checkpoint of another run?)");
  }
  if (!from_overrides.empty()) {
    throw UserError("cannot " + rules.command + " with " +
                    assignments(from_overrides, /*now=*/true) + ": the run used " +
                    assignments(from_overrides, /*now=*/false) + " and changing " +
                    (from_overrides.size() == 1 ? "it" : "them") + " changes the results (" +
                    rules.command + " may change only " + what_may_change(rules) + ")");
  }
  return accepted;
}

}  // namespace pfedhn::app
