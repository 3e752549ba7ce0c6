#pragma once

// The files of `pfedhn export`: TorchScript modules and manifest.json (docs/export.md).

#include <torch/script.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace pfedhn::io {

struct ExportedClient {
  int64_t client = 0;
  std::string file;  // relative to the export folder
  int64_t n_kernels = 0;
  bool novel = false;                 // held out of training (novel.num_clients)
  std::vector<int64_t> test_indices;  // into the official test set, or training set (holdout)
  int64_t test_correct = 0;
  double test_accuracy = 0.0;  // pfedhn's accuracy of this module on these samples
};

struct ExportManifest {
  std::string dataset;
  // folder and tensors only: the image folder or the file (as the config names it), and the
  // class names of a folder
  std::string source;
  std::vector<std::string> class_names;
  std::vector<double> mean, std;     // per channel, for pixels scaled to [0, 1]
  std::vector<int64_t> input_shape;  // [C, H, W]
  int64_t num_classes = 0;
  std::string algorithm;
  int64_t round = 0;  // the last round the checkpoint had completed
  std::string checkpoint;
  std::string test_split;         // official | holdout
  std::string hypernetwork_file;  // empty for the baselines
  std::vector<ExportedClient> clients;
};

void write_export_manifest(const std::filesystem::path& path, const ExportManifest& manifest);

// Saves `module` to `path` atomically (a temporary file in the same folder, then a rename).
void save_script_module(const torch::jit::Module& module, const std::filesystem::path& path);

}  // namespace pfedhn::io
