// Comparing two configs key by key (train --resume, export, generalize and sweeps ask which keys
// differ between a run's recorded config and the one they run with).
#include "pfedhn/config/config.h"

namespace pfedhn::config {

std::vector<KeyChange> changed_keys(const Config& before, const Config& now) {
  std::vector<KeyChange> changes;
  for (const auto& info : all_keys()) {
    if (!info.alias_of.empty()) continue;
    std::string a = config_value(before, info.key), b = config_value(now, info.key);
    if (a != b) changes.push_back({info.key, std::move(a), std::move(b)});
  }
  return changes;
}

}  // namespace pfedhn::config
