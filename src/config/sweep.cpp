#include "pfedhn/config/sweep.h"

#include <cctype>
#include <cstdint>

#include "pfedhn/util/error.h"

namespace pfedhn::config {
namespace {

constexpr size_t kMaxFolderName = 200;

std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  const auto last = s.find_last_not_of(" \t");
  return s.substr(first, last - first + 1);
}

// Tracks whether a position of a value is inside brackets, braces or quotes.
class Nesting {
 public:
  void see(char c) {
    if (quote_ != 0) {
      if (c == quote_) quote_ = 0;
    } else if (c == '"' || c == '\'') {
      quote_ = c;
    } else if (c == '[' || c == '{') {
      ++depth_;
    } else if ((c == ']' || c == '}') && depth_ > 0) {
      --depth_;
    }
  }
  bool top_level() const { return quote_ == 0 && depth_ == 0; }

 private:
  char quote_ = 0;
  int depth_ = 0;
};

// One key or value for a folder name (see run_folder_name).
std::string safe_name_part(const std::string& text) {
  std::string out;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '.' || c == '-' || c == '+' || c == '_') {
      out += c;
    } else if (c == '[' || c == ']' || c == '{' || c == '}' || c == '"' || c == '\'' ||
               std::isspace(u)) {
      continue;
    } else {
      out += '_';
    }
  }
  return out.empty() ? "_" : out;
}

SweepOverride parse_one(const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos) return {"", {assignment}, assignment};
  SweepOverride o{trim(assignment.substr(0, eq)), {}, assignment};
  o.values = split_sweep_values(assignment.substr(eq + 1), assignment);
  return o;
}

}  // namespace

std::vector<std::string> split_sweep_values(const std::string& value,
                                            const std::string& assignment) {
  std::vector<std::string> items;
  std::string current;
  Nesting nesting;
  for (const char c : value) {
    if (c == ',' && nesting.top_level()) {
      items.push_back(trim(current));
      current.clear();
      continue;
    }
    nesting.see(c);
    current += c;
  }
  if (items.empty()) return {value};  // no top-level comma: one value, exactly as given
  items.push_back(trim(current));
  for (const auto& item : items) {
    if (item.empty()) {
      throw ConfigError("invalid sweep '" + assignment +
                        "': empty value in the comma list (expected key=a,b,...)");
    }
  }
  return items;
}

std::vector<SweepOverride> parse_sweep(const std::vector<std::string>& overrides) {
  std::vector<SweepOverride> out;
  for (const auto& assignment : overrides) {
    SweepOverride o = parse_one(assignment);
    bool replaced = false;
    for (auto& earlier : out) {
      if (!o.key.empty() && earlier.key == o.key) {
        earlier = o;
        replaced = true;
      }
    }
    if (!replaced) out.push_back(std::move(o));
  }
  return out;
}

size_t sweep_size(const std::vector<SweepOverride>& overrides) {
  size_t total = 1;
  for (const auto& o : overrides) {
    const size_t n = o.values.size();
    if (n != 0 && total > SIZE_MAX / n) return SIZE_MAX;
    total *= n;
  }
  return total;
}

std::vector<SweepRun> expand_sweep(const std::vector<SweepOverride>& overrides) {
  const size_t total = sweep_size(overrides);
  if (total == SIZE_MAX) throw ConfigError("the sweep has more runs than can be counted");
  std::vector<SweepRun> runs(total);
  for (size_t index = 0; index < total; ++index) {
    SweepRun& run = runs[index];
    run.index = index;
    // Mixed-radix digits of the index, the last swept key the fastest.
    size_t stride = total;
    for (const auto& o : overrides) {
      stride /= o.values.size();
      const std::string& value = o.values[(index / stride) % o.values.size()];
      if (!o.swept()) {
        run.overrides.push_back(o.assignment);
        continue;
      }
      run.swept.emplace_back(o.key, value);
      run.overrides.push_back(o.key + "=" + value);
    }
  }
  return runs;
}

std::string run_folder_name(const SweepRun& run) {
  std::string name = std::to_string(run.index);
  for (size_t i = 0; i < run.swept.size(); ++i) {
    name += (i == 0 ? "_" : ",") + safe_name_part(run.swept[i].first) + "=" +
            safe_name_part(run.swept[i].second);
  }
  if (name.size() > kMaxFolderName) name.resize(kMaxFolderName);
  return name;
}

std::string describe_swept(const SweepRun& run) {
  std::string out;
  for (const auto& [key, value] : run.swept) out += (out.empty() ? "" : ",") + key + "=" + value;
  return out;
}

}  // namespace pfedhn::config
