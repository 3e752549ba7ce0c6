#include "pfedhn/io/results.h"

#include <fmt/format.h>

#include <cmath>

#include "pfedhn/io/run_dir.h"
#include "pfedhn/util/error.h"

namespace pfedhn::io {

CsvLog::CsvLog(const std::filesystem::path& path, std::string header, std::vector<std::string> rows)
    : path_(path), rows_(std::move(rows)) {
  std::string text = header + '\n';
  for (const auto& r : rows_) text += r + '\n';
  write_file_atomic(path, text);
  out_.open(path, std::ios::app);
  if (!out_) throw UserError("cannot write '" + path.string() + "'");
}

void CsvLog::append(const std::string& row) {
  out_ << row << '\n' << std::flush;
  if (!out_) throw UserError("cannot append to '" + path_.string() + "'");
  rows_.push_back(row);
}

const char* MetricsCsv::header() {
  return "round,client_updates,val_acc,val_loss,val_min_acc,val_max_acc,val_std_acc,"
         "test_acc,test_loss,test_min_acc,test_max_acc,test_std_acc,train_loss";
}

std::string MetricsCsv::row(const eval::EvalRecord& r, int64_t client_updates, double train_loss) {
  return fmt::format(
      "{},{},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f}", r.round,
      client_updates, r.val.accuracy, r.val.mean_loss, r.val.min_accuracy, r.val.max_accuracy,
      r.val.std_accuracy, r.test.accuracy, r.test.mean_loss, r.test.min_accuracy,
      r.test.max_accuracy, r.test.std_accuracy, train_loss);
}

const char* TimingCsv::header() {
  return "round,elapsed_s";
}

std::string TimingCsv::row(int64_t round, double elapsed_seconds) {
  return fmt::format("{},{:.3f}", round, elapsed_seconds);
}

namespace {

// JSON has no NaN: a client without samples gets null.
nlohmann::json number_or_null(double x) {
  return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json();
}

}  // namespace

nlohmann::json split_metrics_json(const eval::SplitMetrics& m, bool with_clients) {
  nlohmann::json j = {{"accuracy", number_or_null(m.accuracy)},
                      {"mean_loss", number_or_null(m.mean_loss)},
                      {"min_accuracy", number_or_null(m.min_accuracy)},
                      {"max_accuracy", number_or_null(m.max_accuracy)},
                      {"std_accuracy", number_or_null(m.std_accuracy)},
                      {"correct", m.correct},
                      {"total", m.total}};
  if (with_clients) {
    auto& per_client = j["client_accuracy"] = nlohmann::json::array();
    for (double a : m.client_accuracy) per_client.push_back(number_or_null(a));
  }
  return j;
}

static nlohmann::json summary_json_common(const RunSummary& s) {
  auto record_json = [](const eval::EvalRecord& r) {
    return nlohmann::json{{"round", r.round},
                          {"val", split_metrics_json(r.val, true)},
                          {"test", split_metrics_json(r.test, true)}};
  };
  return {{"pfedhn_version", PFEDHN_VERSION},
          {"dataset", s.dataset},
          {"algorithm", s.variant},
          {"variant", s.variant},  // the older name, for scripts written before the baselines
          {"data_split",
           {{"test_split", s.test_split},
            {"train", s.train_size},
            {"val", s.val_size},
            {"test", s.test_size}}},
          {"num_clients", s.num_clients},
          {"novel_clients", s.novel_clients},
          {"rounds_completed", s.rounds_completed},
          {"client_updates", s.client_updates},
          {"test_accuracy_at_best_val", number_or_null(s.best.test.accuracy)},
          {"best_val_accuracy", number_or_null(s.best.val.accuracy)},
          {"best_round", s.best.round},
          {"best", record_json(s.best)},
          {"final", record_json(s.final)},
          {"client_samples",
           {{"train", s.client_train_samples},
            {"val", s.client_val_samples},
            {"test", s.client_test_samples}}},
          {"client_classes", s.client_classes}};
}

nlohmann::json summary_json(const RunSummary& s) {
  nlohmann::json j = summary_json_common(s);
  if (s.widths.empty()) return j;
  auto widths_json = [&](const std::vector<eval::GroupAccuracy>& groups) {
    auto out = nlohmann::json::array();
    for (size_t i = 0; i < groups.size() && i < s.widths.size(); ++i) {
      const auto& g = groups[i];
      out.push_back({{"n_kernels", s.widths[i]},
                     {"clients", g.clients},
                     {"val_accuracy", number_or_null(g.val_accuracy)},
                     {"test_accuracy", number_or_null(g.test_accuracy)},
                     {"val_correct", g.val_correct},
                     {"val_total", g.val_total},
                     {"test_correct", g.test_correct},
                     {"test_total", g.test_total}});
    }
    return out;
  };
  j["per_width"] = {{"best", widths_json(s.best_per_width)},
                    {"final", widths_json(s.final_per_width)}};
  return j;
}

void write_results(const std::filesystem::path& path, const RunSummary& summary) {
  write_file_atomic(path, summary_json(summary).dump(2) + "\n");
}

void write_run_info(const std::filesystem::path& path, const RunInfo& info) {
  nlohmann::json j = {{"pfedhn_version", PFEDHN_VERSION},
                      {"wall_seconds", info.wall_seconds},
                      {"resumes", info.resumes},
                      {"num_threads", info.num_threads},
                      {"device", info.device},
                      {"world_size", info.world_size},
                      {"host", host_json(info.host)}};
  if (info.world_size > 1) {
    j["communication"] = {{"rounds", info.rounds_in_this_process},
                          {"train_bytes_sent", info.train_bytes_sent},
                          {"train_bytes_received", info.train_bytes_received},
                          {"train_bytes_per_round", info.train_bytes_per_round},
                          {"eval_bytes", info.eval_bytes},
                          {"other_bytes", info.other_bytes}};
  }
  write_file_atomic(path, j.dump(2) + "\n");
}

}  // namespace pfedhn::io
