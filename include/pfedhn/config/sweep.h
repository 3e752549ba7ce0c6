#pragma once

// Hydra-style sweeps for `pfedhn train -m`: an override whose value is a comma list
// (`seed=1,2,3`) is swept, and the Cartesian product of the swept keys gives the runs. Pure
// logic: nothing here reads a file or resolves a config.

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace pfedhn::config {

// `value` split at its top-level commas: commas inside [...], {...} or quotes belong to the
// value (`[8,16],[16,32]` is two values, `[8,16,32]` one). A value without such a comma is one
// item. Throws ConfigError for an empty item (`1,,2`, `1,`), naming `assignment`.
std::vector<std::string> split_sweep_values(const std::string& value,
                                            const std::string& assignment);

// One override of the command line: a fixed `key=value` (one value) or a swept key.
struct SweepOverride {
  std::string key;                  // trimmed; empty for an assignment without '='
  std::vector<std::string> values;  // one item: a fixed override
  std::string assignment;           // as given, for fixed overrides and error messages
  bool swept() const { return values.size() > 1; }
};

// The overrides in their order. A key given again replaces the earlier one (the last one wins,
// as for plain overrides) at the earlier one's position. Throws ConfigError (empty items).
std::vector<SweepOverride> parse_sweep(const std::vector<std::string>& overrides);

// One run of the product.
struct SweepRun {
  size_t index = 0;                                        // 0, 1, ... in product order
  std::vector<std::pair<std::string, std::string>> swept;  // key, value of each swept key
  std::vector<std::string> overrides;                      // every override of this run, in order
};

// How many runs the product of the swept keys has, counted without expanding it; SIZE_MAX when
// the count does not fit in a size_t.
size_t sweep_size(const std::vector<SweepOverride>& overrides);

// The Cartesian product of the swept keys, the first swept key varying slowest (Hydra's order).
// Without a swept key: one run with the fixed overrides. Holds every run in memory: check
// sweep_size first (ConfigError when the count does not fit in a size_t).
std::vector<SweepRun> expand_sweep(const std::vector<SweepOverride>& overrides);

// The run's folder: `<index>_<key>=<value>,...` over the swept keys only (`<index>` alone
// without one). Filesystem- and shell-safe: in keys and values only letters, digits and `.-+_`
// are kept; brackets, braces, quotes and spaces are dropped, any other character (a comma
// inside a list, '/') becomes '_'. At most 200 bytes; the index keeps names unique.
std::string run_folder_name(const SweepRun& run);

// The swept values as `key=value,...`, for messages.
std::string describe_swept(const SweepRun& run);

}  // namespace pfedhn::config
