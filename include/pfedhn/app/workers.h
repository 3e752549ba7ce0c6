#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace pfedhn::app {

// The worker processes of `pfedhn train --workers N`: this program re-executed N-1 times with
// torchrun's environment (RANK 1..N-1, WORLD_SIZE N, MASTER_ADDR 127.0.0.1, MASTER_PORT of the
// store rank 0 already serves). A worker dies with its parent (PR_SET_PDEATHSIG, set by the
// worker itself when PFEDHN_PARENT_PID names its parent). The destructor ends workers that are
// still running (SIGTERM, then SIGKILL after a grace period) and reaps them.
class LocalWorkers {
 public:
  LocalWorkers(int world_size, int port, const std::vector<std::string>& args);
  ~LocalWorkers();
  LocalWorkers(const LocalWorkers&) = delete;
  LocalWorkers& operator=(const LocalWorkers&) = delete;

  const std::vector<pid_t>& pids() const { return pids_; }
  // Throws RankFailure naming the first worker that has exited (before it was asked to).
  void check_alive();
  // Waits up to `seconds` for every worker to exit; true if all did, with exit code 0.
  bool wait_all(double seconds);

 private:
  std::vector<pid_t> pids_;
  std::vector<bool> reaped_;
};

// In a spawned worker: die with the parent (called early in the worker's start-up).
void die_with_parent();

}  // namespace pfedhn::app
