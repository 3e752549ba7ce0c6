#include "pfedhn/io/export.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "pfedhn/io/run_dir.h"
#include "pfedhn/util/error.h"

namespace pfedhn::io {
namespace fs = std::filesystem;

void write_export_manifest(const fs::path& path, const ExportManifest& m) {
  nlohmann::json clients = nlohmann::json::array();
  for (const auto& c : m.clients) {
    clients.push_back({{"client", c.client},
                       {"file", c.file},
                       {"n_kernels", c.n_kernels},
                       {"novel", c.novel},
                       {"test_split", m.test_split},
                       {"test_indices", c.test_indices},
                       {"test_correct", c.test_correct},
                       {"test_accuracy", c.test_accuracy}});
  }
  nlohmann::json j = {
      {"format", "pfedhn-export-1"},
      {"dataset", m.dataset},
      {"source", m.source.empty() ? nlohmann::json(nullptr) : nlohmann::json(m.source)},
      {"class_names", m.class_names},
      {"normalization", {{"mean", m.mean}, {"std", m.std}}},
      {"input_shape", m.input_shape},
      {"num_classes", m.num_classes},
      {"algorithm", m.algorithm},
      {"round", m.round},
      {"checkpoint", m.checkpoint},
      {"test_split", m.test_split},
      {"hypernetwork",
       m.hypernetwork_file.empty() ? nlohmann::json(nullptr) : nlohmann::json(m.hypernetwork_file)},
      {"clients", clients}};
  write_file_atomic(path, j.dump(2) + "\n");
}

void save_script_module(const torch::jit::Module& module, const fs::path& path) {
  const fs::path tmp = path.string() + ".tmp" + std::to_string(::getpid());
  try {
    module.save(tmp.string());
  } catch (const c10::Error& e) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw UserError("cannot write '" + path.string() + "': " + e.what_without_backtrace());
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) throw UserError("cannot write '" + path.string() + "': " + ec.message());
}

}  // namespace pfedhn::io
