#pragma once

namespace pfedhn::run {

// Requests to stop a run early (SIGINT and SIGTERM in `pfedhn train`, app/signals.h). The loop
// arms them once checkpoints can be written and looks after every round.
class StopRequests {
 public:
  virtual ~StopRequests() = default;
  // From now on a request is only recorded: the loop finishes the round and checkpoints.
  virtual void stop_after_round() = 0;
  // The signal number of the first recorded request, or 0.
  virtual int pending() const = 0;
};

}  // namespace pfedhn::run
