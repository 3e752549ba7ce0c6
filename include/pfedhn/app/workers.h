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

// In a spawned worker or sweep run: die with the parent (called early in the start-up) when
// PFEDHN_PARENT_PID names it; a no-op otherwise.
void die_with_parent();

// This program's path (/proc/self/exe), to re-execute it. Throws UserError starting with `who`
// (e.g. "--workers") if it cannot be found.
std::string self_executable(const std::string& who);

// The environment of a child that dies with this process: ours without torchrun's variables,
// then PFEDHN_PARENT_PID=<our pid>, then `extra` ("NAME=value").
std::vector<std::string> child_environment(const std::vector<std::string>& extra);

// A waitpid status as "exited with code N" / "was killed by signal N".
std::string describe_exit_status(int status);

}  // namespace pfedhn::app
