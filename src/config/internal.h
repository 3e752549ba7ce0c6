// Private to src/config/: the key table and the pieces the config files share. Not installed,
// not included outside src/config/ (the public interface is pfedhn/config/config.h).
#pragma once

#include <yaml-cpp/yaml.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "pfedhn/config/config.h"
#include "pfedhn/util/error.h"

namespace pfedhn::config::detail {

// ---------------------------------------------------------------------------------------------
// Enum names

template <typename E>
struct EnumNames;

template <>
struct EnumNames<Algorithm> {
  static constexpr std::array<std::pair<Algorithm, const char*>, 7> kValues{
      {{Algorithm::kPFedHN, "pfedhn"},
       {Algorithm::kPFedHNPC, "pfedhn_pc"},
       {Algorithm::kLocal, "local"},
       {Algorithm::kFedAvg, "fedavg"},
       {Algorithm::kFedAvgFT, "fedavg_ft"},
       {Algorithm::kPerFedAvg, "perfedavg"},
       {Algorithm::kFedPer, "fedper"}}};
};

template <>
struct EnumNames<PartitionKind> {
  static constexpr std::array<std::pair<PartitionKind, const char*>, 4> kValues{
      {{PartitionKind::kClasses, "classes"},
       {PartitionKind::kDirichlet, "dirichlet"},
       {PartitionKind::kDirichletPerClient, "dirichlet_per_client"},
       {PartitionKind::kFile, "file"}}};
};

template <>
struct EnumNames<ClassShares> {
  static constexpr std::array<std::pair<ClassShares, const char*>, 2> kValues{
      {{ClassShares::kExact, "exact"}, {ClassShares::kSpare, "spare"}}};
};

template <>
struct EnumNames<NovelScheme> {
  static constexpr std::array<std::pair<NovelScheme, const char*>, 4> kValues{
      {{NovelScheme::kAuto, "auto"},
       {NovelScheme::kLast, "last"},
       {NovelScheme::kShifted, "shifted"},
       {NovelScheme::kSets, "sets"}}};
};

template <>
struct EnumNames<TestSplit> {
  static constexpr std::array<std::pair<TestSplit, const char*>, 2> kValues{
      {{TestSplit::kOfficial, "official"}, {TestSplit::kHoldout, "holdout"}}};
};

template <>
struct EnumNames<DeviceKind> {
  static constexpr std::array<std::pair<DeviceKind, const char*>, 3> kValues{
      {{DeviceKind::kAuto, "auto"}, {DeviceKind::kCpu, "cpu"}, {DeviceKind::kCuda, "cuda"}}};
};

template <>
struct EnumNames<NovelAdapt> {
  static constexpr std::array<std::pair<NovelAdapt, const char*>, 2> kValues{
      {{NovelAdapt::kRounds, "rounds"}, {NovelAdapt::kLoss, "loss"}}};
};

template <typename E>
std::string enum_name(E value) {
  for (const auto& [v, name] : EnumNames<E>::kValues) {
    if (v == value) return name;
  }
  return "<invalid " + std::to_string(static_cast<int>(value)) + ">";
}

template <typename E>
std::string enum_choices() {
  std::string out;
  for (const auto& [v, name] : EnumNames<E>::kValues) {
    out += out.empty() ? "" : "|";
    out += name;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Scalar values (values.cpp)

// Thrown by the scalar parsers; says what is allowed. The caller adds key, value and origin.
class BadValue : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

int64_t parse_int(const std::string& text);
uint64_t parse_non_negative_int(const std::string& text);
double parse_float(const std::string& text);
bool parse_bool(const std::string& text);
// Shortest text that parses back to exactly `value`; always looks like a float ("50.0").
std::string format_double(double value);
// "[8, 16, 32]", "8,16,32", "[]" or "" (the empty list).
std::vector<int64_t> parse_int_list(const std::string& text);
std::string int_list_text(const std::vector<int64_t>& values);
std::vector<double> parse_float_list(const std::string& text);
std::string float_list_text(const std::vector<double>& values);

template <typename E>
E parse_enum(const std::string& text) {
  for (const auto& [v, name] : EnumNames<E>::kValues) {
    if (text == name) return v;
  }
  throw BadValue("expected one of " + enum_choices<E>() + " (lowercase)");
}

// A numeric interval; missing bounds are unbounded.
struct Range {
  std::optional<double> lo;
  bool lo_open = false;
  std::optional<double> hi;
  bool hi_open = false;

  bool contains(double v) const;
  std::string describe() const;  // "must be in [0, 1)", "must be >= 1", or ""
};

// ---------------------------------------------------------------------------------------------
// The key table (key_table.cpp)

struct KeyDescriptor {
  KeyInfo info;
  // Canonical key of the field this key writes; keys sharing a field are aliases
  // (model.variant and model.local write algorithm).
  std::string field;
  std::function<void(Config&, const std::string&)> set;  // from a YAML scalar; throws BadValue
  std::function<std::string(const Config&)> get;         // YAML scalar text
  std::function<double(const Config&)> number;           // numeric keys only, for `range`
  Range range;
  bool quoted = false;  // strings are written double-quoted so any text round-trips
  // List keys only: the values as YAML scalars, written as a YAML flow sequence; `set` and `get`
  // use the text "[8, 16, 32]", and a YAML sequence is turned into that text before `set`.
  std::function<std::vector<std::string>(const Config&)> items;
  std::string list_example;  // "a list of integers, e.g. [8, 16, 32]"; for error messages
};

const std::vector<KeyDescriptor>& key_table();
const KeyDescriptor* find_key(const std::string& key);  // nullptr if unknown
std::string group_of(const std::string& key);           // "client" of "client.num_nodes"
std::string leaf_of(const std::string& key);            // "num_nodes" of "client.num_nodes"
std::vector<std::string> group_names();
bool is_group(const std::string& name);

// ---------------------------------------------------------------------------------------------
// Suggestions for misspelt names (suggestions.cpp)

// Levenshtein distance, ignoring case (for suggestions only; names are matched exactly).
size_t edit_distance(const std::string& a, const std::string& b);
std::string join(const std::vector<std::string>& items, const std::string& sep);
[[noreturn]] void throw_unknown_key(const std::string& key, const std::string& origin);
[[noreturn]] void throw_unknown_group(const std::string& group, const std::string& origin);

// ---------------------------------------------------------------------------------------------
// Applying values (source.cpp)

std::string node_kind(const YAML::Node& node);  // "a map", "a list", "nothing" or "a scalar"

// The values of one source: one file (not its includes) or one batch of overrides. Two keys
// that write the same field (algorithm, model.variant, model.local) must agree within a source; a
// later source simply replaces an earlier one's value.
class Source {
 public:
  explicit Source(bool reject_repeated_keys) : reject_repeated_keys_(reject_repeated_keys) {}

  // `origin` names where the value comes from in messages ("conf/x.yaml", "override 'a=1'").
  void apply(Config& cfg, const std::string& key, const YAML::Node& value,
             const std::string& origin);

 private:
  struct Setting {
    std::string text;       // as written
    std::string canonical;  // the field's value afterwards, as its canonical key prints it
  };

  void check_agrees_with_aliases(const Config& cfg, const KeyDescriptor& d, const std::string& text,
                                 const std::string& origin);

  bool reject_repeated_keys_;
  std::set<std::string> set_keys_;
  std::map<std::string, std::map<std::string, Setting>> fields_;  // field -> key -> value
};

// ---------------------------------------------------------------------------------------------
// YAML files (yaml_files.cpp)

// The reason yaml-cpp must not see `text` (with its line), or "" if the text is fine.
std::string yaml_cpp_hazard(const std::string& text);
// One YAML document, or a ConfigError naming `name`; a null node for an empty document.
YAML::Node parse_yaml_file(const std::string& text, const std::string& name);
// Applies the top-level map of one file (groups and keys; `include` is skipped).
void apply_file_values(Config& cfg, const YAML::Node& root, const std::string& origin);

}  // namespace pfedhn::config::detail
