#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace pfedhn::io {

struct ProgressState {
  int64_t round = 0;  // rounds completed so far (this process and before a resume)
  int64_t total_rounds = 0;
  int64_t client = -1;  // last client trained
  double loss = 0.0;    // its inner training loss
  double train_accuracy = 0.0;
  double last_test_accuracy = -1.0;  // latest evaluation, < 0 before the first
};

// On a terminal: one line rewritten in place (round, client, loss, accuracy, rounds/s, ETA),
// at most ~10 times a second. Otherwise: the same facts as a log line every `log_every`
// rounds. Log messages go through `log()` so that they do not tear the live line.
class ProgressReporter {
 public:
  ProgressReporter(std::shared_ptr<spdlog::logger> logger, bool interactive, int64_t log_every,
                   int64_t start_round);
  void update(const ProgressState& state);
  void log(const std::string& message);
  void finish();

  static std::string format_duration(double seconds);
  std::string describe(const ProgressState& state) const;

 private:
  void clear_line();
  using Clock = std::chrono::steady_clock;
  std::shared_ptr<spdlog::logger> logger_;
  bool interactive_;
  int64_t log_every_;
  int64_t start_round_;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_draw_{};
  bool line_shown_ = false;
  ProgressState last_;
};

}  // namespace pfedhn::io
