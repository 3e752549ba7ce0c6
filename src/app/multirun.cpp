#include "pfedhn/app/multirun.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>
#include <thread>

#include "pfedhn/app/run_check.h"
#include "pfedhn/app/runtime.h"
#include "pfedhn/app/signals.h"
#include "pfedhn/app/sweep_summary.h"
#include "pfedhn/app/workers.h"
#include "pfedhn/config/sweep.h"
#include "pfedhn/fl/distributed.h"
#include "pfedhn/io/checkpoint.h"
#include "pfedhn/io/progress.h"
#include "pfedhn/io/run_dir.h"
#include "pfedhn/util/error.h"

namespace pfedhn::app {
namespace fs = std::filesystem;
namespace {

constexpr const char* kRunLog = "output.log";  // a run's stdout and stderr, in its folder
constexpr size_t kMaxErrorLine = 300;

// ---------------------------------------------------------------------------------------------
// Before anything starts: the options, every combination's config, the existing run folders.

void check_multirun_options(const TrainOptions& options) {
  if (options.resume_dir) {
    throw UserError(
        "-m/--multirun resumes its runs itself: drop --resume and rerun the same -m command "
        "with the same --output-dir");
  }
  if (options.workers != 1) {
    throw UserError(
        "-m/--multirun runs each combination in one process: --workers is not supported with it");
  }
  if (options.overwrite) {
    throw UserError(
        "-m/--multirun skips finished runs and resumes stopped ones instead of --overwrite: "
        "delete the output directory, or a run's folder, to redo runs");
  }
  const auto env = fl::dist_env_from_environment();
  if (env && env->world_size > 1) {
    throw UserError("-m/--multirun under torchrun (WORLD_SIZE=" + std::to_string(env->world_size) +
                    "): start the sweep once, without torchrun");
  }
}

// How a run of the sweep starts, given what its folder already holds.
enum class Start { kFresh, kResume, kSkip };

struct SweepJob {
  config::SweepRun run;
  std::string folder;  // OUT/<folder>
  fs::path dir;
  Start start = Start::kFresh;
  std::vector<std::string> child_args;  // after the program name
};

std::string run_label(const config::SweepRun& run) {
  const std::string swept = config::describe_swept(run);
  return "sweep run " + std::to_string(run.index) + (swept.empty() ? "" : " (" + swept + ")");
}

bool sets_num_threads(const std::vector<config::SweepOverride>& overrides) {
  return std::any_of(overrides.begin(), overrides.end(),
                     [](const config::SweepOverride& o) { return o.key == "num_threads"; });
}

// Refuses, before anything is expanded or resolved, a sweep of more runs than --max-runs.
void check_sweep_size(const std::vector<config::SweepOverride>& overrides, int max_runs) {
  const size_t runs = config::sweep_size(overrides);
  if (runs <= static_cast<size_t>(max_runs)) return;
  std::string factors;
  for (const auto& o : overrides) {
    if (o.swept())
      factors += fmt::format("{}{} {}", factors.empty() ? "" : " x ", o.values.size(), o.key);
  }
  const std::string how = max_runs < kMaxSweepRuns
                              ? fmt::format("raise --max-runs (at most {})", kMaxSweepRuns)
                              : "split it into several sweeps (--max-runs is at most " +
                                    std::to_string(kMaxSweepRuns) + ")";
  throw UserError(fmt::format(
      "the sweep has {} runs ({}), more than --max-runs {}: shorten its comma lists, or {}",
      runs == SIZE_MAX ? "more than " + std::to_string(SIZE_MAX - 1) : std::to_string(runs),
      factors, max_runs, how));
}

// A folder's recorded config, through run_config (app/runtime.h) like every command that opens
// a run.
config::Config folder_config(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_regular_file(dir / "config.yaml", ec)) {
    throw UserError("'" + dir.string() +
                    "' holds a run's results or checkpoints but no config.yaml: delete the "
                    "folder to redo the run");
  }
  return run_config(dir);
}

// A finished run must have been made with the same results-changing values; a stopped one may
// also continue to more rounds (the rules of `train --resume`, app/run_check.h). Throws
// UserError otherwise.
void check_changes(const SweepJob& job, const config::Config& before, const config::Config& now,
                   const std::vector<config::KeyChange>& changes) {
  const ChangeRules rules{"train -m", /*more_rounds=*/job.start == Start::kResume, {}};
  for (const auto& c : changes) {
    if (accepts_change(rules, c, before, now)) continue;
    throw UserError("'" + job.dir.string() + "' holds a run with " + c.key + "=" + c.before +
                    ", not " + c.now +
                    " as this sweep asks: choose another --output-dir, or delete that folder to "
                    "redo the run");
  }
}

// How `job` starts and the child's command line. A resumed run gets only the overrides that
// differ from its config.yaml (e.g. more rounds): the rest is in there.
void plan_job(SweepJob& job, const config::Config& cfg, const TrainOptions& options) {
  std::error_code ec;
  const bool finished = fs::exists(job.dir / "results.json", ec);
  if (finished || !io::list_checkpoints(job.dir).empty()) {
    job.start = finished ? Start::kSkip : Start::kResume;
    const config::Config before = folder_config(job.dir);
    const auto changes = config::changed_keys(before, cfg);
    check_changes(job, before, cfg, changes);
    job.child_args = {"train", "--resume", job.dir.string()};
    for (const auto& c : changes) job.child_args.push_back(c.key + "=" + c.now);
    return;
  }
  // A folder with neither is ours to start over (a run that failed or stopped early).
  job.child_args = {"train", "--output-dir", job.dir.string(), "--overwrite"};
  if (options.config_file) {
    job.child_args.push_back("--config");
    job.child_args.push_back(fs::absolute(*options.config_file).string());
  }
  job.child_args.insert(job.child_args.end(), job.run.overrides.begin(), job.run.overrides.end());
}

// ---------------------------------------------------------------------------------------------
// The child processes.

std::string command_line(const std::string& exe, const std::vector<std::string>& args) {
  std::string line = exe;
  for (const auto& a : args) {
    const bool plain = a.find_first_of(" \t'\"\\$*?[]{}()<>|&;") == std::string::npos;
    line += plain ? " " + a : " '" + a + "'";
  }
  return line;
}

// Starts `exe args` with stdout and stderr appended to `log`, in its own process group: a
// Ctrl-C on the terminal then reaches only the sweep, which forwards it once.
pid_t spawn_run(const std::string& exe, const std::vector<std::string>& args, const fs::path& log) {
  std::vector<std::string> env = child_environment({});
  std::vector<char*> argv{const_cast<char*>(exe.c_str())}, envp;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (auto& v : env) envp.push_back(v.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_addopen(&files, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&files, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&files, STDOUT_FILENO, STDERR_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, exe.c_str(), &files, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&files);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw UserError("cannot start '" + exe + "': " + std::strerror(rc));
  return pid;
}

// The last non-empty line `log` got after `offset`; "" if none.
std::string last_log_line(const fs::path& log, std::uintmax_t offset) {
  std::error_code ec;
  const std::uintmax_t size = fs::file_size(log, ec);
  if (ec || size <= offset) return "";
  std::ifstream in(log, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(
      std::max<std::uintmax_t>(offset, size - std::min<std::uintmax_t>(size, 65536))));
  std::string line, last;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) last = line;
  }
  if (last.size() > kMaxErrorLine) last = last.substr(0, kMaxErrorLine) + "...";
  return one_line(last);
}

RunStatus status_of_exit(int status) {
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return RunStatus::kDone;
  const bool stopped =
      WIFEXITED(status)
          ? (WEXITSTATUS(status) == kInterruptedExitCode ||
             WEXITSTATUS(status) == kTerminatedExitCode)
          : (WIFSIGNALED(status) && (WTERMSIG(status) == SIGINT || WTERMSIG(status) == SIGTERM));
  return stopped ? RunStatus::kInterrupted : RunStatus::kFailed;
}

// ---------------------------------------------------------------------------------------------
// The sweep: job slots, outcomes, progress, signals.

class SweepRunner {
 public:
  SweepRunner(fs::path out, std::vector<SweepJob> jobs, size_t slots, std::string exe);
  int run(StopSignals& signals);

 private:
  struct Child {
    size_t job;
    pid_t pid;
    std::uintmax_t log_offset;  // where this attempt's output starts in output.log
  };
  void announce() const;
  void launch(size_t j);
  bool reap_one();
  void finish(const Child& child, int status);
  void forward(int signal);
  void save_summary() const;
  void report(size_t j) const;
  int exit_code() const;

  fs::path out_;
  std::vector<SweepJob> jobs_;
  std::vector<RunOutcome> outcomes_;
  size_t slots_;
  std::string exe_;
  std::vector<Child> running_;
  size_t next_ = 0;      // the next job to start
  size_t finished_ = 0;  // skipped, done, failed or stopped
  size_t ran_ = 0;       // of them, run by this process (for the ETA)
  int signal_ = 0;       // the signal forwarded to the runs, once
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

SweepRunner::SweepRunner(fs::path out, std::vector<SweepJob> jobs, size_t slots, std::string exe)
    : out_(std::move(out)), jobs_(std::move(jobs)), slots_(slots), exe_(std::move(exe)) {
  for (const auto& job : jobs_) {
    RunOutcome o;
    o.folder = job.folder;
    o.swept = job.run.swept;
    if (job.start == Start::kSkip) {
      o.status = RunStatus::kSkipped;
      o.error = read_run_results(job.dir, o);
      ++finished_;
    }
    outcomes_.push_back(std::move(o));
  }
}

int SweepRunner::run(StopSignals& signals) {
  save_summary();
  announce();
  for (;;) {
    if (signals.pending() != 0 && signal_ == 0) forward(signals.pending());
    while (signal_ == 0 && running_.size() < slots_ && next_ < jobs_.size()) {
      const size_t j = next_++;
      if (jobs_[j].start != Start::kSkip) launch(j);
    }
    if (running_.empty()) break;
    if (!reap_one()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  save_summary();
  std::cerr << fmt::format("pfedhn multirun: {} runs: {}; summary in {}\n", outcomes_.size(),
                           status_counts(outcomes_), (out_ / "summary.md").string());
  return exit_code();
}

void SweepRunner::announce() const {
  size_t skipped = 0, resumed = 0;
  for (const auto& job : jobs_) {
    skipped += job.start == Start::kSkip ? 1 : 0;
    resumed += job.start == Start::kResume ? 1 : 0;
  }
  std::cerr << fmt::format(
      "pfedhn multirun: {} runs in {}, {} at a time ({} done before, {} to resume); each run's "
      "output is in its folder's {}\n",
      jobs_.size(), out_.string(), slots_, skipped, resumed, kRunLog);
}

void SweepRunner::launch(size_t j) {
  const SweepJob& job = jobs_[j];
  RunOutcome& outcome = outcomes_[j];
  try {
    fs::create_directories(job.dir);
    const fs::path log = job.dir / kRunLog;
    {
      std::ofstream header(log, std::ios::app);
      header << "$ " << command_line(exe_, job.child_args) << '\n';
      if (!header.flush()) throw UserError("cannot write '" + log.string() + "'");
    }
    const std::uintmax_t offset = fs::file_size(log);
    running_.push_back({j, spawn_run(exe_, job.child_args, log), offset});
    outcome.status = RunStatus::kRunning;
  } catch (const std::exception& e) {  // a folder or process that cannot be made
    outcome.status = RunStatus::kFailed;
    outcome.error = one_line(e.what());
    ++finished_;
    save_summary();
    report(j);
  }
}

// Reaps one finished child, if any; true if it did.
bool SweepRunner::reap_one() {
  for (size_t i = 0; i < running_.size(); ++i) {
    int status = 0;
    const pid_t r = ::waitpid(running_[i].pid, &status, WNOHANG);
    if (r == 0 || (r < 0 && errno == EINTR)) continue;
    const Child child = running_[i];
    running_.erase(running_.begin() + static_cast<std::ptrdiff_t>(i));
    finish(child, r > 0 ? status : -1);
    return true;
  }
  return false;
}

void SweepRunner::finish(const Child& child, int status) {
  RunOutcome& o = outcomes_[child.job];
  const fs::path& dir = jobs_[child.job].dir;
  o.status = status == -1 ? RunStatus::kFailed : status_of_exit(status);
  if (o.status == RunStatus::kDone) {
    const std::string problem = read_run_results(dir, o);
    if (!problem.empty()) o.status = RunStatus::kFailed;
    o.error = problem.empty() ? "" : "pfedhn train exited with 0 but left " + problem;
  } else if (o.status == RunStatus::kInterrupted) {
    o.error = "stopped by a signal; rerun the sweep to resume it";
  } else {
    o.error = last_log_line(dir / kRunLog, child.log_offset);
    if (o.error.empty()) o.error = "pfedhn train " + describe_exit_status(status);
  }
  ++finished_;
  ++ran_;
  save_summary();
  report(child.job);
}

void SweepRunner::forward(int signal) {
  signal_ = signal;
  std::cerr << fmt::format(
      "pfedhn multirun: {} received: stopping {} running runs after their current round (each "
      "writes a checkpoint); rerun the same command with --output-dir {} to continue\n",
      signal == SIGINT ? "SIGINT" : "SIGTERM", running_.size(), out_.string());
  for (const auto& child : running_) ::kill(child.pid, signal);
}

// A summary that cannot be written must not stop the runs: the next attempt may succeed.
void SweepRunner::save_summary() const {
  try {
    write_sweep_summary(out_, outcomes_);
  } catch (const UserError& e) {
    std::cerr << "pfedhn multirun: warning: " << e.what() << '\n';
  }
}

void SweepRunner::report(size_t j) const {
  const RunOutcome& o = outcomes_[j];
  std::string what = to_string(o.status);
  if (o.status == RunStatus::kDone) {
    what += fmt::format(": test acc at best val {:.4f} (round {}), final {:.4f}, {}",
                        o.best_test_accuracy, o.best_round, o.final_test_accuracy,
                        io::ProgressReporter::format_duration(o.wall_seconds));
  } else if (!o.error.empty()) {
    what += ": " + o.error;
  }
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const size_t left = jobs_.size() - finished_;
  const double eta = ran_ > 0 && signal_ == 0
                         ? elapsed / static_cast<double>(ran_) * static_cast<double>(left)
                         : -1.0;
  std::cerr << fmt::format("pfedhn multirun: [{}/{}] {} {} | {} running | elapsed {} | ETA {}\n",
                           finished_, jobs_.size(), o.folder, what, running_.size(),
                           io::ProgressReporter::format_duration(elapsed),
                           left == 0 ? "0s" : io::ProgressReporter::format_duration(eta));
}

int SweepRunner::exit_code() const {
  if (signal_ != 0) return signal_ == SIGINT ? kInterruptedExitCode : kTerminatedExitCode;
  const bool all_done = std::all_of(outcomes_.begin(), outcomes_.end(), [](const RunOutcome& o) {
    return o.status == RunStatus::kDone || o.status == RunStatus::kSkipped;
  });
  return all_done ? 0 : 1;
}

size_t job_slots(int jobs) {
  if (jobs > 0) return static_cast<size_t>(jobs);
  return std::max<size_t>(1, std::thread::hardware_concurrency());
}

// Every combination resolved through the config layer (the file read once, each config dropped
// once its run is planned) and, unless `printed` takes the configs for --print-config, planned
// against its folder. Throws UserError naming the first combination that does not resolve.
std::vector<SweepJob> plan_jobs(const TrainOptions& options, const fs::path& out,
                                std::string* printed) {
  const auto overrides = config::parse_sweep(options.overrides);
  check_sweep_size(overrides, options.max_runs);
  const bool one_thread = !sets_num_threads(overrides);
  const config::Config base = base_config(options);
  std::vector<SweepJob> jobs;
  for (auto& run : config::expand_sweep(overrides)) {
    if (one_thread) run.overrides.push_back("num_threads=1");
    SweepJob job;
    job.folder = config::run_folder_name(run);
    job.dir = out / job.folder;
    config::Config cfg;
    try {
      cfg = resolve_overrides(base, run.overrides);
    } catch (const UserError& e) {
      throw UserError(run_label(run) + ": " + e.what());
    }
    job.run = std::move(run);
    if (printed != nullptr) {
      *printed += "# " + job.folder + "\n" + config::to_yaml(cfg);
    } else {
      plan_job(job, cfg, options);
    }
    jobs.push_back(std::move(job));
  }
  return jobs;
}

}  // namespace

int run_multirun(const TrainOptions& options) {
  check_multirun_options(options);
  // Until the first run starts there is nothing to stop: a signal exits at once (app/signals.h).
  StopSignals signals;
  const fs::path out = options.output_dir ? *options.output_dir : io::default_run_dir("multirun");
  std::string printed;
  std::vector<SweepJob> jobs = plan_jobs(options, out, options.print_config ? &printed : nullptr);
  if (options.print_config) {
    std::cout << printed;
    return 0;
  }
  io::prepare_run_dir(out, /*overwrite=*/true);  // creates it and checks it is writable
  SweepRunner runner(out, std::move(jobs), job_slots(options.jobs),
                     self_executable("-m/--multirun"));
  signals.stop_after_round();  // from here every signal is the runner's: it forwards it to the runs
  return runner.run(signals);
}

}  // namespace pfedhn::app
