#include "pfedhn/app/signals.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>

namespace pfedhn::app {
namespace {

// Shared with the handler, hence globals; lock-free atomics are async-signal-safe, and the
// exchange makes exactly one handler the first even if two threads take a signal at once.
static_assert(std::atomic<int>::is_always_lock_free);
std::atomic<int> g_pending{0};
std::atomic<bool> g_exit_at_once{true};
struct sigaction g_old_int {};
struct sigaction g_old_term {};

// Only async-signal-safe calls here: write(2) and _exit(2).
void say(const char* line) {
  const ssize_t ignored = ::write(STDERR_FILENO, line, std::strlen(line));
  (void)ignored;
}

void on_stop_signal(int sig) {
  if (g_exit_at_once.load()) {
    say("\npfedhn: interrupted before the first round: nothing to save\n");
    ::_exit(128 + sig);
  }
  if (g_pending.exchange(sig) != 0) {
    say("\npfedhn: second signal: exiting at once; the last good checkpoint is intact\n");
    ::_exit(128 + sig);
  }
}

}  // namespace

StopSignals::StopSignals() {
  g_pending = 0;
  g_exit_at_once = true;
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &action, &g_old_int);
  ::sigaction(SIGTERM, &action, &g_old_term);
}

StopSignals::~StopSignals() {
  ::sigaction(SIGINT, &g_old_int, nullptr);
  ::sigaction(SIGTERM, &g_old_term, nullptr);
  g_exit_at_once = true;
}

void StopSignals::stop_after_round() {
  g_exit_at_once = false;
}

int StopSignals::pending() const {
  return g_pending.load();
}

}  // namespace pfedhn::app
