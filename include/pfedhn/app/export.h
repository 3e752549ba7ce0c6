#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace pfedhn::app {

struct ExportOptions {
  std::filesystem::path run_dir;
  std::optional<std::filesystem::path> out;         // default RUN_DIR/export
  std::string clients = "all";                      // all, or a list: 0,3,5-9
  std::optional<std::filesystem::path> checkpoint;  // default: the run's newest good one
  bool overwrite = false;
};

// `pfedhn export RUN_DIR`: every chosen client's personalised model as a TorchScript module
// (client_<i>.pt), the hypernetwork (hypernetwork.pt, pFedHN and pFedHN-PC) and manifest.json
// with the normalisation, the clients' test samples and pfedhn's accuracy of each module on
// them (docs/export.md). Returns the exit code; bad input throws UserError.
int run_export(const ExportOptions& options);

// "all" -> 0..num_clients-1; "0,3,5-9" -> those clients, in order, each once. Throws UserError
// naming the entry that is not a client of the run.
std::vector<int64_t> parse_client_list(const std::string& text, int64_t num_clients);

}  // namespace pfedhn::app
