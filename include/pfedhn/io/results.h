#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "pfedhn/eval/evaluator.h"
#include "pfedhn/eval/groups.h"
#include "pfedhn/io/host_info.h"

namespace pfedhn::io {

// An append-only CSV file (metrics.csv, timing.csv): a header and rows, each row flushed at
// once so a crash loses no finished row. It remembers its rows, so a checkpoint can hold them
// and a resumed run can rewrite the file exactly as it was at the checkpoint.
class CsvLog {
 public:
  // Writes (atomically) the header and `rows`, then appends from there.
  CsvLog(const std::filesystem::path& path, std::string header, std::vector<std::string> rows = {});
  void append(const std::string& row);
  const std::vector<std::string>& rows() const { return rows_; }

 private:
  std::ofstream out_;
  std::filesystem::path path_;
  std::vector<std::string> rows_;
};

// metrics.csv: one row per evaluation, only deterministic content (no wall-clock times).
struct MetricsCsv {
  static const char* header();
  static std::string row(const eval::EvalRecord& record, int64_t client_updates, double train_loss);
};

// timing.csv: round and wall-clock seconds since the start, one row per evaluation.
struct TimingCsv {
  static const char* header();
  static std::string row(int64_t round, double elapsed_seconds);
};

struct RunSummary {
  std::string dataset;
  std::string variant;  // the algorithm (results.json: "algorithm", and "variant" as before)
  // Where the test split came from ("official" or "holdout": drawn from the official training
  // set) and the sizes of the three splits before partitioning ("data_split" in the JSON).
  std::string test_split = "official";
  int64_t train_size = 0, val_size = 0, test_size = 0;
  int64_t num_clients = 0;    // the clients trained and evaluated
  int64_t novel_clients = 0;  // held out for `pfedhn generalize` (novel.num_clients)
  int64_t rounds_completed = 0;
  int64_t client_updates = 0;
  eval::EvalRecord best;   // the evaluation with the best val accuracy
  eval::EvalRecord final;  // the last evaluation
  std::vector<int64_t> client_train_samples, client_val_samples, client_test_samples;
  // The classes of each client's training samples ("client_classes"), for reading the
  // per-client accuracies as tasks.
  std::vector<std::vector<int64_t>> client_classes;
  // Heterogeneous target networks only (else empty): the widths and, for the best and the
  // final evaluation, the pooled accuracy of each width's clients ("per_width" in the JSON).
  std::vector<int64_t> widths;
  std::vector<eval::GroupAccuracy> best_per_width, final_per_width;
};

nlohmann::json split_metrics_json(const eval::SplitMetrics& m, bool with_clients);
nlohmann::json summary_json(const RunSummary& summary);

// results.json, written atomically. Only deterministic content: a resumed run writes the
// same bytes as an uninterrupted one.
void write_results(const std::filesystem::path& path, const RunSummary& summary);

// run_info.json: what varies between runs of the same config (wall time, threads, resumes,
// the machine).
struct RunInfo {
  double wall_seconds = 0.0;
  int64_t resumes = 0;
  int64_t num_threads = 0;
  std::string device;
  HostInfo host;
  // Multi-process runs (world_size > 1): payload bytes rank 0 sent and received in this
  // process's rounds (the run's last start), and their mean per round.
  int64_t world_size = 1;
  int64_t rounds_in_this_process = 0;
  int64_t train_bytes_sent = 0, train_bytes_received = 0;
  double train_bytes_per_round = 0.0;
  int64_t eval_bytes = 0, other_bytes = 0;
};
void write_run_info(const std::filesystem::path& path, const RunInfo& info);

}  // namespace pfedhn::io
