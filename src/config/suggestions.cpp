// Suggestions for misspelt key, group and dataset names ("did you mean ...?").
#include <algorithm>
#include <cctype>

#include "internal.h"

namespace pfedhn::config::detail {
namespace {

std::string lowercase(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

// Levenshtein distance, ignoring case (for suggestions only; names are matched exactly).
size_t edit_distance(const std::string& a_text, const std::string& b_text) {
  const std::string a = lowercase(a_text);
  const std::string b = lowercase(b_text);
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t substitute = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
      diagonal = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, substitute});
    }
  }
  return row[b.size()];
}

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : sep) + item;
  return out;
}
namespace {

std::string quoted_alternatives(const std::vector<std::string>& names) {
  std::vector<std::string> quoted;
  for (const auto& n : names) quoted.push_back("'" + n + "'");
  return join(quoted, " or ");
}

// The valid keys closest to `key`. Comparing leaf names (with a cost of 1 for the wrong or
// missing group) finds `client.num_rounds` for both `num_rounds` and `server.num_rounds`.
std::vector<std::string> closest_keys(const std::string& key) {
  size_t best = std::string::npos;
  std::vector<std::string> matches;
  for (const auto& d : key_table()) {
    const std::string& candidate = d.info.key;
    const size_t score = std::min(edit_distance(key, candidate),
                                  edit_distance(leaf_of(key), leaf_of(candidate)) + 1);
    if (score < best) {
      best = score;
      matches.clear();
    }
    if (score == best) matches.push_back(candidate);
  }
  const size_t tolerance = 2 + leaf_of(key).size() / 4;
  if (best > tolerance || matches.size() > 3) return {};
  return matches;
}

std::string valid_keys_hint(const std::string& key) {
  const std::string group = group_of(key);
  if (!group.empty() && is_group(group)) {
    std::vector<std::string> leaves;
    for (const auto& d : key_table()) {
      if (group_of(d.info.key) == group) leaves.push_back(leaf_of(d.info.key));
    }
    return "valid keys in '" + group + "': " + join(leaves, ", ");
  }
  std::vector<std::string> top;
  for (const auto& d : key_table()) {
    if (group_of(d.info.key).empty()) top.push_back(d.info.key);
  }
  return "valid top-level keys: " + join(top, ", ") + "; groups: " + join(group_names(), ", ");
}
}  // namespace

[[noreturn]] void throw_unknown_key(const std::string& key, const std::string& origin) {
  const auto matches = closest_keys(key);
  const std::string hint =
      matches.empty() ? valid_keys_hint(key) : "did you mean " + quoted_alternatives(matches) + "?";
  throw ConfigError("unknown config key '" + key + "' in " + origin + "; " + hint);
}

[[noreturn]] void throw_unknown_group(const std::string& group, const std::string& origin) {
  std::string best;
  size_t best_distance = 3;  // suggest only within 2 edits
  for (const auto& g : group_names()) {
    const size_t distance = edit_distance(group, g);
    if (distance < best_distance) {
      best_distance = distance;
      best = g;
    }
  }
  const std::string hint =
      best.empty() ? "valid groups: " + join(group_names(), ", ") : "did you mean '" + best + "'?";
  throw ConfigError("unknown config group '" + group + "' in " + origin + "; " + hint);
}
}  // namespace pfedhn::config::detail
