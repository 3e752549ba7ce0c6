#include "pfedhn/app/workers.h"

#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "pfedhn/util/error.h"

extern char** environ;

namespace pfedhn::app {

std::string describe_exit_status(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "was killed by signal " + std::to_string(WTERMSIG(status));
  return "stopped";
}

std::string self_executable(const std::string& who) {
  char exe[4096];
  const ssize_t len = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (len <= 0) throw UserError(who + ": cannot find this program's path (/proc/self/exe)");
  exe[len] = '\0';
  return exe;
}

std::vector<std::string> child_environment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string var(*e);
    const std::string name = var.substr(0, var.find('='));
    if (name == "RANK" || name == "WORLD_SIZE" || name == "MASTER_ADDR" || name == "MASTER_PORT" ||
        name == "LOCAL_RANK" || name == "PFEDHN_PARENT_PID" ||
        name == "TORCHELASTIC_USE_AGENT_STORE") {
      continue;
    }
    env.push_back(var);
  }
  env.push_back("PFEDHN_PARENT_PID=" + std::to_string(::getpid()));
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

LocalWorkers::LocalWorkers(int world_size, int port, const std::vector<std::string>& args) {
  std::string exe_path = self_executable("--workers");
  char* exe = exe_path.data();
  for (int rank = 1; rank < world_size; ++rank) {
    std::vector<std::string> env =
        child_environment({"RANK=" + std::to_string(rank), "LOCAL_RANK=" + std::to_string(rank),
                           "WORLD_SIZE=" + std::to_string(world_size), "MASTER_ADDR=127.0.0.1",
                           "MASTER_PORT=" + std::to_string(port)});
    std::vector<char*> argv{exe};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (auto& v : env) envp.push_back(v.data());
    envp.push_back(nullptr);
    pid_t pid = 0;
    const int rc = ::posix_spawn(&pid, exe, nullptr, nullptr, argv.data(), envp.data());
    if (rc != 0) {
      throw UserError("--workers: cannot start worker " + std::to_string(rank) + ": " +
                      std::strerror(rc));
    }
    pids_.push_back(pid);
    reaped_.push_back(false);
  }
}

void LocalWorkers::check_alive() {
  for (size_t i = 0; i < pids_.size(); ++i) {
    if (reaped_[i]) continue;
    int status = 0;
    if (::waitpid(pids_[i], &status, WNOHANG) == pids_[i]) {
      reaped_[i] = true;
      const int rank = static_cast<int>(i) + 1;
      throw RankFailure(rank, "worker rank " + std::to_string(rank) + " (pid " +
                                  std::to_string(pids_[i]) + ") " + describe_exit_status(status) +
                                  " during start-up");
    }
  }
}

bool LocalWorkers::wait_all(double seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  bool all_ok = true;
  for (size_t i = 0; i < pids_.size(); ++i) {
    while (!reaped_[i]) {
      int status = 0;
      const pid_t r = ::waitpid(pids_[i], &status, WNOHANG);
      if (r == pids_[i] || r < 0) {
        reaped_[i] = true;
        all_ok = all_ok && r == pids_[i] && WIFEXITED(status) && WEXITSTATUS(status) == 0;
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  return all_ok;
}

LocalWorkers::~LocalWorkers() {
  for (size_t i = 0; i < pids_.size(); ++i) {
    if (!reaped_[i]) ::kill(pids_[i], SIGTERM);
  }
  if (!wait_all(5.0)) {
    for (size_t i = 0; i < pids_.size(); ++i) {
      if (!reaped_[i]) ::kill(pids_[i], SIGKILL);
    }
    wait_all(5.0);
  }
}

void die_with_parent() {
  const char* parent = std::getenv("PFEDHN_PARENT_PID");
  if (parent == nullptr) return;
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (std::to_string(::getppid()) != parent) ::_exit(1);  // the parent is already gone
}

}  // namespace pfedhn::app
