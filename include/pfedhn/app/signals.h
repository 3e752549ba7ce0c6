#pragma once

// SIGINT / SIGTERM during `pfedhn train`. Until the round loop starts (config, data loading,
// partition, model set-up) there is nothing to save, so a signal exits at once with a one-line
// message. Once the loop runs, the first signal is only recorded: the loop finishes the round,
// writes a checkpoint and returns. A second signal exits at once: checkpoints are written
// atomically (temporary file, fsync, rename), so the last good one is intact whenever it comes.
// Every immediate exit uses the shell's code for the signal (128 + signal number: 130, 143).

#include "pfedhn/run/stop_requests.h"

namespace pfedhn::app {

// Installs the handlers for its lifetime (restoring the previous ones after); one at a time.
class StopSignals : public run::StopRequests {
 public:
  StopSignals();  // in the exit-at-once mode
  ~StopSignals() override;
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // From now on the first signal is only recorded (call it when checkpoints can be written).
  void stop_after_round() override;
  // The first signal received in the stop-after-round mode, or 0.
  int pending() const override;
};

}  // namespace pfedhn::app
