#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "pfedhn/eval/evaluator.h"

namespace pfedhn::io {

// metrics.csv: one row per evaluation, flushed at once so a crash loses no finished row.
class MetricsWriter {
 public:
  explicit MetricsWriter(const std::filesystem::path& path);
  void append(const eval::EvalRecord& record, int64_t client_updates, double train_loss,
              double elapsed_seconds);
  static const char* header();

 private:
  std::ofstream out_;
  std::filesystem::path path_;
};

struct RunSummary {
  std::string dataset;
  std::string variant;
  int64_t num_clients = 0;
  int64_t rounds_completed = 0;
  int64_t client_updates = 0;
  double wall_seconds = 0.0;
  eval::EvalRecord best;   // the evaluation with the best val accuracy
  eval::EvalRecord final;  // the last evaluation
  std::vector<int64_t> client_train_samples, client_val_samples, client_test_samples;
};

nlohmann::json split_metrics_json(const eval::SplitMetrics& m, bool with_clients);
nlohmann::json summary_json(const RunSummary& summary);

// results.json, written atomically.
void write_results(const std::filesystem::path& path, const RunSummary& summary);

}  // namespace pfedhn::io
