// Command-line overrides: `group.key=value`, each value parsed as one YAML scalar.
#include "internal.h"

namespace pfedhn::config {
namespace {

using detail::Source;

std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  const auto last = s.find_last_not_of(" \t");
  return s.substr(first, last - first + 1);
}

// Whether `text` looks like a YAML file's name: an override given where --config was meant.
bool names_yaml_file(const std::string& text) {
  const auto ends_with = [&](const std::string& suffix) {
    return text.size() > suffix.size() &&
           text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return ends_with(".yaml") || ends_with(".yml");
}

void apply_one_override(Config& cfg, Source& source, const std::string& assignment) {
  const std::string origin = "override '" + assignment + "'";
  const auto eq = assignment.find('=');
  const std::string key = eq == std::string::npos ? "" : trim(assignment.substr(0, eq));
  if (key.empty()) {
    throw ConfigError("invalid " + origin +
                      ": expected group.key=value, e.g. client.num_rounds=10" +
                      (eq == std::string::npos && names_yaml_file(assignment)
                           ? " (a config file is given with --config FILE)"
                           : ""));
  }
  const std::string text = assignment.substr(eq + 1);
  YAML::Node value;
  try {
    if (const std::string hazard = detail::yaml_cpp_hazard(text); !hazard.empty()) {
      throw YAML::ParserException(YAML::Mark(), hazard);
    }
    value = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError("invalid " + origin + ": value '" + text + "' is not a YAML scalar (" +
                      e.msg + ")");
  }
  source.apply(cfg, key, value, origin);
}

}  // namespace

void apply_override(Config& cfg, const std::string& assignment) {
  apply_overrides(cfg, {assignment});
}

void apply_overrides(Config& cfg, const std::vector<std::string>& assignments) {
  Config next = cfg;
  Source source(/*reject_repeated_keys=*/false);
  for (const auto& assignment : assignments) apply_one_override(next, source, assignment);
  cfg = std::move(next);
}

}  // namespace pfedhn::config
