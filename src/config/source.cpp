// Applying one source's values (a file's, or a batch of overrides') to a Config through the key
// table, with the checks every source shares.
#include "internal.h"

namespace pfedhn::config::detail {
namespace {

// A YAML sequence of scalars as the list text "[a, b]" that list keys parse.
std::string sequence_text(const std::string& key, const YAML::Node& value,
                          const std::string& origin) {
  std::string out;
  for (const auto& item : value) {
    if (!item.IsScalar()) {
      throw ConfigError("config key '" + key + "' in " + origin +
                        " needs a list of integers, got " + node_kind(item) + " in the list");
    }
    out += (out.empty() ? "" : ", ") + item.Scalar();
  }
  return "[" + out + "]";
}

}  // namespace

std::string node_kind(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Null:
      return "nothing";
    default:
      return "a scalar";
  }
}

void Source::apply(Config& cfg, const std::string& key, const YAML::Node& value,
                   const std::string& origin) {
  const KeyDescriptor* d = find_key(key);
  if (d == nullptr) throw_unknown_key(key, origin);
  const bool list = d->items && value.IsSequence();
  if (!value.IsScalar() && !list) {
    throw ConfigError("config key '" + key + "' in " + origin + " needs " +
                      (d->items ? d->list_example : "a single value (" + d->info.type + ")") +
                      ", got " + node_kind(value));
  }
  if (reject_repeated_keys_ && set_keys_.count(key) > 0) {
    throw ConfigError("config key '" + key + "' is given twice in " + origin);
  }
  const std::string text = list ? sequence_text(key, value, origin) : value.Scalar();
  try {
    d->set(cfg, text);
  } catch (const BadValue& e) {
    throw ConfigError("invalid value '" + text + "' for config key '" + key + "' in " + origin +
                      ": " + e.what());
  }
  check_agrees_with_aliases(cfg, *d, text, origin);
  set_keys_.insert(key);
  cfg.explicit_keys.insert(key);
}

void Source::check_agrees_with_aliases(const Config& cfg, const KeyDescriptor& d,
                                       const std::string& text, const std::string& origin) {
  const std::string canonical = find_key(d.field)->get(cfg);
  auto& settings = fields_[d.field];
  for (const auto& [other_key, other] : settings) {
    if (other_key == d.info.key || other.canonical == canonical) continue;
    throw ConfigError("config keys '" + other_key + "' and '" + d.info.key + "' disagree in " +
                      origin + ": " + other_key + "=" + other.text + " but " + d.info.key + "=" +
                      text + "; set only one of them");
  }
  settings[d.info.key] = Setting{text, canonical};
}

}  // namespace pfedhn::config::detail
