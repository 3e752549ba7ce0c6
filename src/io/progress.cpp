#include "pfedhn/io/progress.h"

#include <fmt/format.h>

#include <cstdio>

namespace pfedhn::io {

ProgressReporter::ProgressReporter(std::shared_ptr<spdlog::logger> logger, bool interactive,
                                   int64_t log_every, int64_t start_round)
    : logger_(std::move(logger)),
      interactive_(interactive),
      log_every_(log_every > 0 ? log_every : 1),
      start_round_(start_round) {}

std::string ProgressReporter::format_duration(double seconds) {
  if (!(seconds >= 0) || seconds > 1e8) return "?";
  const auto s = static_cast<int64_t>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  if (s >= 60) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

std::string ProgressReporter::describe(const ProgressState& st) const {
  const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  const double done = static_cast<double>(st.round - start_round_);
  const double rate = elapsed > 0 ? done / elapsed : 0.0;
  const double eta = rate > 0 ? static_cast<double>(st.total_rounds - st.round) / rate : -1.0;
  std::string line = fmt::format("round {}/{} | client {} | loss {:.4f} | train acc {:.3f}",
                                 st.round, st.total_rounds, st.client, st.loss, st.train_accuracy);
  if (st.last_test_accuracy >= 0) line += fmt::format(" | test acc {:.4f}", st.last_test_accuracy);
  line += fmt::format(" | {:.2f} rounds/s | elapsed {} | ETA {}", rate, format_duration(elapsed),
                      format_duration(eta));
  return line;
}

void ProgressReporter::clear_line() {
  if (line_shown_) {
    std::fputs("\r\033[K", stdout);
    std::fflush(stdout);
    line_shown_ = false;
  }
}

void ProgressReporter::update(const ProgressState& state) {
  last_ = state;
  if (interactive_) {
    const auto now = Clock::now();
    if (now - last_draw_ < std::chrono::milliseconds(100) && state.round < state.total_rounds) {
      return;
    }
    last_draw_ = now;
    std::fputs(("\r\033[K" + describe(state)).c_str(), stdout);
    std::fflush(stdout);
    line_shown_ = true;
  } else if (state.round % log_every_ == 0 || state.round == state.total_rounds) {
    logger_->info(describe(state));
  }
}

void ProgressReporter::log(const std::string& message) {
  clear_line();
  logger_->info(message);
  if (interactive_ && last_.total_rounds > 0) {
    std::fputs(describe(last_).c_str(), stdout);
    std::fflush(stdout);
    line_shown_ = true;
  }
}

void ProgressReporter::finish() {
  if (line_shown_) {
    std::fputs("\n", stdout);
    std::fflush(stdout);
    line_shown_ = false;
  }
}

}  // namespace pfedhn::io
