#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "pfedhn/config/config.h"

namespace pfedhn::app {

struct TrainOptions {
  std::optional<std::filesystem::path>
      config_file;                     // none: the built-in defaults (= conf/config.yaml)
  std::vector<std::string> overrides;  // "group.key=value"
  std::optional<std::filesystem::path> output_dir;  // none: outputs/<date>/<time>
  bool print_config = false;                        // print the resolved config and exit
  bool overwrite = false;
};

// The resolved config: file (or defaults), then overrides, then validation. Throws ConfigError.
config::Config resolve_config(const TrainOptions& options);

// Runs `pfedhn train`. Returns the process exit code; user errors propagate as UserError.
int run_train(const TrainOptions& options);

}  // namespace pfedhn::app
