#include "pfedhn/app/sweep_summary.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "pfedhn/io/progress.h"
#include "pfedhn/io/run_dir.h"

namespace pfedhn::app {
namespace fs = std::filesystem;
namespace {

using Swept = std::vector<std::pair<std::string, std::string>>;

// results.json writes null for a number that is not finite.
double number_at(const nlohmann::json& j, std::initializer_list<const char*> path) {
  const nlohmann::json* node = &j;
  for (const char* key : path) {
    if (!node->is_object() || !node->contains(key)) return NAN;
    node = &(*node)[key];
  }
  return node->is_number() ? node->get<double>() : NAN;
}

bool read_json(const fs::path& file, nlohmann::json& out) {
  std::ifstream in(file);
  if (!in) return false;
  out = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  return !out.is_discarded();
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string out = "\"";
  for (const char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string md_cell(const std::string& text) {
  std::string out;
  for (const char c : text) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

std::string fixed_or_empty(double x, int digits) {
  return std::isfinite(x) ? fmt::format("{:.{}f}", x, digits) : "";
}

std::string plus_minus(const MeanStd& m) {
  if (m.n == 0) return "";
  if (m.n == 1) return fmt::format("{:.4f}", m.mean);
  return fmt::format("{:.4f} ± {:.4f}", m.mean, m.std);
}

std::string seeds_cell(const SeedGroup& g) {
  const size_t with_results = g.best_test_accuracy.n;
  return with_results == g.runs ? std::to_string(g.runs)
                                : fmt::format("{} of {}", with_results, g.runs);
}

Swept without_seed(const Swept& swept) {
  Swept out;
  for (const auto& kv : swept) {
    if (kv.first != "seed") out.push_back(kv);
  }
  return out;
}

std::vector<std::string> swept_keys(const std::vector<RunOutcome>& outcomes) {
  std::vector<std::string> keys;
  if (!outcomes.empty()) {
    for (const auto& kv : outcomes.front().swept) keys.push_back(kv.first);
  }
  return keys;
}

// "| a | b |\n|---|---|\n"
std::string md_header(const std::vector<std::string>& columns) {
  std::string head = "|", rule = "|";
  for (const auto& c : columns) {
    head += " " + md_cell(c) + " |";
    rule += "---|";
  }
  return head + "\n" + rule + "\n";
}

std::string md_row(const std::vector<std::string>& cells) {
  std::string row = "|";
  for (const auto& c : cells) row += " " + md_cell(c) + " |";
  return row + "\n";
}

std::string runs_table_markdown(const std::vector<RunOutcome>& outcomes) {
  bool any_error = false;
  for (const auto& o : outcomes) any_error = any_error || !o.error.empty();
  std::vector<std::string> columns{"run"};
  for (const auto& k : swept_keys(outcomes)) columns.push_back(k);
  for (const char* c :
       {"status", "test acc at best val", "best round", "final test acc", "wall time"}) {
    columns.push_back(c);
  }
  if (any_error) columns.push_back("error");
  std::string text = md_header(columns);
  for (const auto& o : outcomes) {
    std::vector<std::string> cells{o.folder};
    for (const auto& kv : o.swept) cells.push_back(kv.second);
    cells.push_back(to_string(o.status));
    cells.push_back(fixed_or_empty(o.best_test_accuracy, 4));
    cells.push_back(o.best_round >= 0 ? std::to_string(o.best_round) : "");
    cells.push_back(fixed_or_empty(o.final_test_accuracy, 4));
    cells.push_back(
        std::isfinite(o.wall_seconds) ? io::ProgressReporter::format_duration(o.wall_seconds) : "");
    if (any_error) cells.push_back(o.error);
    text += md_row(cells);
  }
  return text;
}

std::string seeds_table_markdown(const std::vector<SeedGroup>& groups) {
  std::vector<std::string> columns;
  for (const auto& kv : groups.front().swept) columns.push_back(kv.first);
  for (const char* c : {"seeds", "test acc at best val", "final test acc"}) columns.push_back(c);
  std::string text = md_header(columns);
  for (const auto& g : groups) {
    std::vector<std::string> cells;
    for (const auto& kv : g.swept) cells.push_back(kv.second);
    cells.push_back(seeds_cell(g));
    cells.push_back(plus_minus(g.best_test_accuracy));
    cells.push_back(plus_minus(g.final_test_accuracy));
    text += md_row(cells);
  }
  return text;
}

}  // namespace

std::string to_string(RunStatus status) {
  switch (status) {
    case RunStatus::kPending:
      return "pending";
    case RunStatus::kRunning:
      return "running";
    case RunStatus::kDone:
      return "done";
    case RunStatus::kSkipped:
      return "skipped";
    case RunStatus::kFailed:
      return "failed";
    case RunStatus::kInterrupted:
      return "interrupted";
  }
  return "?";
}

std::string status_counts(const std::vector<RunOutcome>& outcomes) {
  std::string out;
  for (const RunStatus s : {RunStatus::kDone, RunStatus::kSkipped, RunStatus::kFailed,
                            RunStatus::kInterrupted, RunStatus::kRunning, RunStatus::kPending}) {
    size_t n = 0;
    for (const auto& o : outcomes) n += o.status == s ? 1 : 0;
    if (n > 0) out += fmt::format("{}{} {}", out.empty() ? "" : ", ", n, to_string(s));
  }
  return out;
}

std::string read_run_results(const fs::path& run_dir, RunOutcome& outcome) {
  nlohmann::json results, info;
  if (!fs::exists(run_dir / "results.json")) return "no results.json";
  if (!read_json(run_dir / "results.json", results)) return "results.json is not valid JSON";
  outcome.best_test_accuracy = number_at(results, {"best", "test", "accuracy"});
  const double best_round = number_at(results, {"best", "round"});
  outcome.best_round = std::isfinite(best_round) ? static_cast<int64_t>(best_round) : -1;
  outcome.final_test_accuracy = number_at(results, {"final", "test", "accuracy"});
  if (read_json(run_dir / "run_info.json", info)) {
    outcome.wall_seconds = number_at(info, {"wall_seconds"});
  }
  return "";
}

MeanStd mean_std(const std::vector<double>& values) {
  MeanStd m;
  double sum = 0.0;
  for (const double x : values) {
    if (!std::isfinite(x)) continue;
    sum += x;
    ++m.n;
  }
  if (m.n == 0) return m;
  m.mean = sum / static_cast<double>(m.n);
  if (m.n < 2) return m;
  double squares = 0.0;
  for (const double x : values) {
    if (std::isfinite(x)) squares += (x - m.mean) * (x - m.mean);
  }
  m.std = std::sqrt(squares / static_cast<double>(m.n - 1));
  return m;
}

std::vector<SeedGroup> group_over_seeds(const std::vector<RunOutcome>& outcomes) {
  const auto keys = swept_keys(outcomes);
  if (std::find(keys.begin(), keys.end(), "seed") == keys.end()) return {};
  std::vector<SeedGroup> groups;
  std::vector<std::vector<double>> best, final;
  for (const auto& o : outcomes) {
    const Swept others = without_seed(o.swept);
    size_t g = 0;
    while (g < groups.size() && groups[g].swept != others) ++g;
    if (g == groups.size()) {
      groups.push_back({others, 0, {}, {}});
      best.emplace_back();
      final.emplace_back();
    }
    ++groups[g].runs;
    best[g].push_back(o.best_test_accuracy);
    final[g].push_back(o.final_test_accuracy);
  }
  for (size_t g = 0; g < groups.size(); ++g) {
    groups[g].best_test_accuracy = mean_std(best[g]);
    groups[g].final_test_accuracy = mean_std(final[g]);
  }
  return groups;
}

std::string summary_csv(const std::vector<RunOutcome>& outcomes) {
  std::string text = "run";
  for (const auto& k : swept_keys(outcomes)) text += "," + csv_field(k);
  text += ",status,test_accuracy_at_best_val,best_round,final_test_accuracy,wall_seconds,error\n";
  for (const auto& o : outcomes) {
    text += csv_field(o.folder);
    for (const auto& kv : o.swept) text += "," + csv_field(kv.second);
    text += fmt::format(",{},{},{},{},{},{}\n", to_string(o.status),
                        fixed_or_empty(o.best_test_accuracy, 6),
                        o.best_round >= 0 ? std::to_string(o.best_round) : "",
                        fixed_or_empty(o.final_test_accuracy, 6), fixed_or_empty(o.wall_seconds, 1),
                        csv_field(o.error));
  }
  return text;
}

std::string seed_summary_csv(const std::vector<SeedGroup>& groups) {
  std::string text;
  if (!groups.empty()) {
    for (const auto& kv : groups.front().swept) text += csv_field(kv.first) + ",";
  }
  text +=
      "seeds,with_results,test_accuracy_at_best_val_mean,test_accuracy_at_best_val_std,"
      "final_test_accuracy_mean,final_test_accuracy_std\n";
  for (const auto& g : groups) {
    for (const auto& kv : g.swept) text += csv_field(kv.second) + ",";
    text += fmt::format("{},{},{},{},{},{}\n", g.runs, g.best_test_accuracy.n,
                        fixed_or_empty(g.best_test_accuracy.mean, 6),
                        fixed_or_empty(g.best_test_accuracy.std, 6),
                        fixed_or_empty(g.final_test_accuracy.mean, 6),
                        fixed_or_empty(g.final_test_accuracy.std, 6));
  }
  return text;
}

std::string summary_markdown(const std::vector<RunOutcome>& outcomes) {
  std::string text =
      fmt::format("# Sweep summary\n\n{} runs: {}.\n\n", outcomes.size(), status_counts(outcomes));
  text += runs_table_markdown(outcomes);
  const auto groups = group_over_seeds(outcomes);
  if (!groups.empty()) {
    text += "\n## Mean ± sample std over seed\n\n" + seeds_table_markdown(groups);
  }
  return text;
}

void write_sweep_summary(const fs::path& out_dir, const std::vector<RunOutcome>& outcomes) {
  io::write_file_atomic(out_dir / "summary.csv", summary_csv(outcomes));
  io::write_file_atomic(out_dir / "summary.md", summary_markdown(outcomes));
  const auto groups = group_over_seeds(outcomes);
  if (!groups.empty())
    io::write_file_atomic(out_dir / "summary_seeds.csv", seed_summary_csv(groups));
}

}  // namespace pfedhn::app
