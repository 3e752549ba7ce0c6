#include "pfedhn/app/train.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <iostream>
#include <optional>
#include <thread>

#include "pfedhn/app/runtime.h"
#include "pfedhn/app/signals.h"
#include "pfedhn/app/workers.h"
#include "pfedhn/data/dataset.h"
#include "pfedhn/data/partition.h"
#include "pfedhn/eval/evaluator.h"
#include "pfedhn/fl/algorithm.h"
#include "pfedhn/fl/distributed.h"
#include "pfedhn/fl/hetero.h"
#include "pfedhn/fl/trainer.h"
#include "pfedhn/io/checkpoint.h"
#include "pfedhn/io/progress.h"
#include "pfedhn/io/results.h"
#include "pfedhn/io/run_dir.h"
#include "pfedhn/util/error.h"

namespace pfedhn::app {
namespace fs = std::filesystem;

config::Config resolve_config(const TrainOptions& options) {
  config::Config cfg =
      options.config_file ? config::load_config_file(*options.config_file) : config::Config{};
  config::apply_overrides(cfg, options.overrides);
  config::resolve_and_validate(cfg);
  return cfg;
}

namespace {

std::shared_ptr<spdlog::logger> make_logger(const fs::path& log_file, bool append) {
  auto console = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  console->set_pattern("[%H:%M:%S] %v");
  auto file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(log_file.string(), !append);
  file->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%l] %v");
  auto logger = std::make_shared<spdlog::logger>("pfedhn", spdlog::sinks_init_list{console, file});
  logger->flush_on(spdlog::level::info);
  return logger;
}

std::vector<int64_t> sample_counts(const std::vector<data::ClientIndices>& clients,
                                   torch::Tensor data::ClientIndices::*split) {
  std::vector<int64_t> out;
  for (const auto& c : clients) out.push_back((c.*split).numel());
  return out;
}

std::string eval_line(const eval::EvalRecord& r) {
  return fmt::format(
      "eval round {}: val acc {:.4f} loss {:.4f} | test acc {:.4f} loss {:.4f} "
      "(clients min {:.3f} max {:.3f} std {:.3f})",
      r.round, r.val.accuracy, r.val.mean_loss, r.test.accuracy, r.test.mean_loss,
      r.test.min_accuracy, r.test.max_accuracy, r.test.std_accuracy);
}

// ---------------------------------------------------------------------------------------------
// Resume: which checkpoint, and which config changes are acceptable.

// The accepted changes, as "key: old -> new"; throws UserError naming the first key whose
// change would change the results.
std::vector<std::string> check_resume_config(const config::Config& before,
                                             const config::Config& now) {
  std::vector<std::string> accepted;
  for (const auto& info : config::all_keys()) {
    if (!info.alias_of.empty()) continue;  // compared under its canonical key
    const std::string a = config::config_value(before, info.key);
    const std::string b = config::config_value(now, info.key);
    if (a == b) continue;
    const bool more_rounds =
        info.key == "client.num_rounds" && now.client.num_rounds > before.client.num_rounds;
    if (config::changes_results(info.key) && !more_rounds) {
      throw UserError("cannot resume with " + info.key + "=" + b + ": the run used " + info.key +
                      "=" + a +
                      " and changing it changes the results (on resume only client.num_rounds "
                      "may grow and log_every, eval_batch_size, num_threads, device, "
                      "checkpoint_every, dist_timeout may change)");
    }
    accepted.push_back(info.key + ": " + a + " -> " + b);
  }
  return accepted;
}

struct ResumePoint {
  io::LoadedCheckpoint checkpoint;
  std::vector<std::string> warnings;  // checkpoints skipped, for the log
};

// The newest checkpoint that verifies. Newer ones that do not are renamed *.corrupt so that
// they are neither retried nor kept in place of good ones. Throws one line if none is usable.
ResumePoint find_resume_point(const fs::path& run_dir) {
  const auto candidates = io::list_checkpoints(run_dir);
  if (candidates.empty()) {
    throw UserError("no checkpoint to resume from in '" + io::checkpoint_dir(run_dir).string() +
                    "'");
  }
  std::vector<std::string> problems;
  for (const auto& path : candidates) {
    try {
      ResumePoint point{io::read_checkpoint(path), {}};
      for (size_t i = 0; i < problems.size(); ++i) {
        std::error_code ec;
        fs::rename(candidates[i], candidates[i].string() + ".corrupt", ec);
        point.warnings.push_back("warning: skipped " + problems[i] + "; renamed it *.corrupt");
      }
      return point;
    } catch (const io::CheckpointError& e) {
      problems.push_back(e.what());
    }
  }
  std::string all;
  for (const auto& p : problems) all += (all.empty() ? "" : "; ") + p;
  throw UserError("no usable checkpoint in '" + io::checkpoint_dir(run_dir).string() + "': " + all);
}

// ---------------------------------------------------------------------------------------------
// The run: data, trainer, round loop, outputs.

struct RunContext {
  config::Config cfg;
  fs::path run_dir;
  std::string program;
  torch::Device device = torch::kCPU;
  int64_t threads = 1;
  std::shared_ptr<spdlog::logger> logger;
  // Multi-process runs only: the group (rank 0's end) and, with --workers, the local workers.
  std::unique_ptr<fl::Cluster> cluster;
  std::unique_ptr<LocalWorkers> workers;
  int resume_workers = 1;  // for the "resume with" hint
};

}  // namespace

RunData load_run_data(const config::Config& cfg, const torch::Device& device) {
  RunData d{data::to_device(data::load_dataset(cfg.dataset.data, cfg.dataset.root,
                                               split_options(cfg), cfg.seed),
                            device),
            {}};
  d.clients =
      data::partition_clients(d.splits.train.y.cpu(), d.splits.val.y.cpu(), d.splits.test.y.cpu(),
                              partition_options(cfg, d.splits.info->num_classes), cfg.seed);
  return d;
}

namespace {

int train_loop(const RunContext& ctx, io::LoadedCheckpoint* resume, StopSignals& signals) {
  const config::Config& cfg = ctx.cfg;
  const fs::path& run_dir = ctx.run_dir;
  auto& logger = ctx.logger;

  const auto load_start = std::chrono::steady_clock::now();
  RunData run_data = load_run_data(cfg, ctx.device);
  const data::DatasetSplits& splits = run_data.splits;
  logger->info(
      "data: {} train / {} val / {} test samples, partitioned in {:.1f}s", splits.train.size(),
      splits.val.size(), splits.test.size(),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count());

  const auto algorithm = fl::make_algorithm(cfg, splits, std::move(run_data.clients), ctx.device);
  fl::Algorithm& trainer = *algorithm;
  logger->info("{}", trainer.describe());
  // Several processes run pFedHN and pFedHN-PC only (check_multi_process refused the rest).
  fl::Cluster* cluster = ctx.cluster.get();
  fl::Trainer* hn_trainer = dynamic_cast<fl::Trainer*>(&trainer);
  TORCH_CHECK(cluster == nullptr || hn_trainer != nullptr, "a cluster needs a hypernetwork");
  // Novel clients (novel.num_clients, the last ones) are left to `pfedhn generalize`.
  const std::vector<data::ClientIndices> eval_clients(
      trainer.clients().begin(), trainer.clients().begin() + fl::num_training_clients(cfg));
  const fl::HeteroReport hetero(cfg, eval_clients);
  if (hetero.enabled() && hn_trainer != nullptr) {
    const auto& specs = hn_trainer->hypernetwork()->target_specs();
    for (size_t s = 0; s < specs.size(); ++s) {
      logger->info("target network of width {} (clients i with i mod {} = {}): {} parameters",
                   specs[s].n_kernels, specs.size(), s, specs[s].num_parameters());
    }
  }

  io::LoopState loop;
  fs::path last_checkpoint;
  if (resume != nullptr) {
    try {
      trainer.load(*resume->model);
    } catch (const c10::Error& e) {
      throw UserError("checkpoint '" + resume->path.string() +
                      "' does not fit this config: " + e.what_without_backtrace());
    }
    loop = resume->loop;
    ++loop.resumes;
    last_checkpoint = resume->path;
    logger->info("resumed from {} at round {}", resume->path.string(), loop.next_round);
    if (cluster != nullptr) cluster->scatter_local_states(*hn_trainer);
  }
  loop.config_yaml = config::to_yaml(cfg);

  // On resume both files are rewritten from the checkpoint: rows written after it are dropped.
  io::CsvLog metrics(run_dir / "metrics.csv", io::MetricsCsv::header() + hetero.csv_header_suffix(),
                     loop.metrics_rows);
  io::CsvLog timing(run_dir / "timing.csv", io::TimingCsv::header(), loop.timing_rows);
  eval::BestTracker best{loop.has_best, loop.best};

  const int64_t total = cfg.client.num_rounds;
  const int64_t log_every = cfg.log_every > 0 ? cfg.log_every : std::max<int64_t>(1, total / 50);
  io::ProgressReporter progress(logger, ::isatty(STDOUT_FILENO) == 1, log_every, loop.next_round);
  io::ProgressState state;
  state.round = loop.next_round;
  state.total_rounds = total;
  state.last_test_accuracy = loop.last_test_accuracy;
  const double elapsed_before = loop.elapsed_seconds;
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return elapsed_before +
           std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  auto evaluate = [&](int64_t round) {
    auto record = cluster != nullptr
                      ? cluster->evaluate(*hn_trainer, round, cfg.eval_batch_size)
                      : eval::evaluate_all(
                            round, [&](int64_t c) { return trainer.client_model(c); }, splits,
                            eval_clients, cfg.eval_batch_size);
    const double train_loss =
        loop.rounds_since_eval > 0
            ? loop.loss_since_eval / static_cast<double>(loop.rounds_since_eval)
            : NAN;
    metrics.append(
        io::MetricsCsv::row(record, (round + 1) * trainer.clients_per_round(), train_loss) +
        hetero.csv_row_suffix(record));
    timing.append(io::TimingCsv::row(round, elapsed()));
    loop.loss_since_eval = 0.0;
    loop.rounds_since_eval = 0;
    const bool is_best = best.update(record);
    progress.log(eval_line(record) + (is_best ? " *best*" : ""));
    if (hetero.enabled()) progress.log(hetero.log_line(record));
    loop.last_test_accuracy = state.last_test_accuracy = record.test.accuracy;
    loop.last_eval = record;
    loop.has_last_eval = true;
  };
  auto checkpoint = [&] {
    loop.metrics_rows = metrics.rows();
    loop.timing_rows = timing.rows();
    loop.has_best = best.has_best;
    loop.best = best.best;
    loop.elapsed_seconds = elapsed();
    if (cluster != nullptr) cluster->gather_local_states(*hn_trainer);
    last_checkpoint = io::save_checkpoint(
        run_dir, loop, [&](torch::serialize::OutputArchive& a) { trainer.save(a); });
  };

  const std::string resume_hint =
      ctx.program + " train --resume " + run_dir.string() +
      (ctx.resume_workers > 1 ? " --workers " + std::to_string(ctx.resume_workers) : "");
  // A failed rank stops the run with one line; the last checkpoint stays the resume point.
  auto rank_failure = [&](const RankFailure& e) {
    progress.finish();
    return RankFailure(e.rank(), std::string(e.what()) + "; stopped" +
                                     (last_checkpoint.empty()
                                          ? " before the first checkpoint"
                                          : "; the last checkpoint is " + last_checkpoint.string() +
                                                "; resume with: " + resume_hint));
  };
  const int64_t first_round = loop.next_round;
  const auto round_start = std::chrono::steady_clock::now();
  signals.stop_after_round();  // from here a signal ends the run with a checkpoint
  for (int64_t round = loop.next_round; round < total; ++round) {
    fl::RoundReport report;
    try {
      report =
          cluster != nullptr ? cluster->run_round(*hn_trainer, round) : trainer.run_round(round);
    } catch (const RankFailure& e) {
      throw rank_failure(e);
    }
    // A non-finite delta_theta shows up here too: the gradient is its vector-Jacobian product,
    // and NaN/Inf survive any multiplication, so the gradient norm is non-finite as well.
    if (!std::isfinite(report.loss) || !std::isfinite(report.grad_norm)) {
      const bool hypernetwork = hn_trainer != nullptr;
      const char* what = !std::isfinite(report.loss) ? "training loss"
                         : hypernetwork              ? "hypernetwork gradient"
                                                     : "model update";
      throw TrainingDiverged(fmt::format(
          "training diverged: non-finite {} in round {} (client {}); the evaluations so far are "
          "in {}{}; try a lower {}",
          what, round, report.clients.front(), (run_dir / "metrics.csv").string(),
          last_checkpoint.empty() ? ""
                                  : ", the last good checkpoint is " + last_checkpoint.string(),
          hypernetwork ? "model.inner_lr or server.lr" : "model.inner_lr"));
    }
    loop.loss_since_eval += report.loss;
    ++loop.rounds_since_eval;
    state.round = round + 1;
    state.client = report.clients.front();
    state.loss = report.loss;
    state.train_accuracy = report.accuracy;
    // The authors' protocol: evaluate after rounds 0, eval_every, 2*eval_every, ... and the last.
    const bool eval_now = round % cfg.eval_every == 0 || round == total - 1;
    const bool last = round == total - 1;
    const bool stop = signals.pending() != 0 && !last;
    const bool due = cfg.checkpoint_every > 0 ? (round + 1) % cfg.checkpoint_every == 0 : eval_now;
    try {
      if (eval_now) evaluate(round);
      progress.update(state);
      loop.next_round = round + 1;
      if (due || last || stop) checkpoint();
    } catch (const RankFailure& e) {
      throw rank_failure(e);
    }
    if (stop) {
      const int sig = signals.pending();
      progress.finish();
      logger->warn("{} received: stopped after round {} of {}; checkpoint {}",
                   sig == SIGINT ? "SIGINT" : "SIGTERM", round + 1, total,
                   last_checkpoint.string());
      logger->warn("resume with: {}", resume_hint);
      if (cluster != nullptr) cluster->stop_workers();
      return sig == SIGINT ? kInterruptedExitCode : kTerminatedExitCode;
    }
  }
  progress.finish();
  const double round_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - round_start).count();
  const int64_t rounds_run = total - first_round;
  if (rounds_run > 0) {
    logger->info(
        "throughput: {:.2f} client updates/s ({} rounds of {} clients in {:.1f}s, "
        "evaluations and checkpoints included)",
        static_cast<double>(rounds_run * trainer.clients_per_round()) / round_seconds, rounds_run,
        trainer.clients_per_round(), round_seconds);
  }

  io::RunSummary summary;
  summary.dataset = cfg.dataset.data;
  summary.variant = config::to_string(cfg.algorithm);
  summary.test_split = config::to_string(cfg.dataset.test_split);
  summary.train_size = splits.train.size();
  summary.val_size = splits.val.size();
  summary.test_size = splits.test.size();
  summary.num_clients = static_cast<int64_t>(eval_clients.size());
  summary.novel_clients = cfg.novel.num_clients;
  summary.client_train_samples = sample_counts(eval_clients, &data::ClientIndices::train);
  summary.client_val_samples = sample_counts(eval_clients, &data::ClientIndices::val);
  summary.client_test_samples = sample_counts(eval_clients, &data::ClientIndices::test);
  summary.rounds_completed = total;
  summary.client_updates = total * trainer.clients_per_round();
  summary.best = best.best;
  summary.final = loop.last_eval;
  summary.widths = hetero.widths();
  summary.best_per_width = hetero.per_width(summary.best);
  summary.final_per_width = hetero.per_width(summary.final);
  io::write_results(run_dir / "results.json", summary);
  io::RunInfo info;
  info.wall_seconds = elapsed();
  info.resumes = loop.resumes;
  info.num_threads = ctx.threads;
  info.device = ctx.device.str();
  if (cluster != nullptr) {
    cluster->stop_workers();
    const auto& t = cluster->traffic();
    info.world_size = cluster->world_size();
    info.rounds_in_this_process = rounds_run;
    info.train_bytes_sent = t.train_sent;
    info.train_bytes_received = t.train_received;
    info.eval_bytes = t.eval_sent + t.eval_received;
    info.other_bytes = t.state_sent + t.state_received + t.control;
    if (rounds_run > 0) {
      const double per_round =
          static_cast<double>(t.train_sent + t.train_received) / static_cast<double>(rounds_run);
      info.train_bytes_per_round = per_round;
      logger->info(
          "communication over {} ranks: {:.0f} bytes per round for training (theta out, "
          "delta_theta in; {} bytes per remote client update = 2 x 4 x {} parameters + 16), "
          "{} bytes for evaluations, {} bytes else",
          cluster->world_size(), per_round, 8 * trainer.target_spec().num_parameters() + 16,
          trainer.target_spec().num_parameters(), info.eval_bytes, info.other_bytes);
    }
  }
  io::write_run_info(run_dir / "run_info.json", info);
  logger->info(
      "done in {}: test accuracy at best val (round {}) = {:.4f}; final test accuracy {:.4f}",
      io::ProgressReporter::format_duration(info.wall_seconds), best.best.round,
      best.best.test.accuracy, loop.last_eval.test.accuracy);
  if (hetero.enabled()) logger->info("at best val: {}", hetero.log_line(best.best));
  logger->info("results: {}", (run_dir / "results.json").string());
  return 0;
}

void log_start(const RunContext& ctx) {
  const auto& cfg = ctx.cfg;
  ctx.logger->info("pfedhn {} | run directory {}", PFEDHN_VERSION, ctx.run_dir.string());
  ctx.logger->info("{} on {} | {} clients | {} rounds | device {} | {} threads",
                   config::to_string(cfg.algorithm), cfg.dataset.data, cfg.client.num_nodes,
                   cfg.client.num_rounds, ctx.device.str(), ctx.threads);
  if (cfg.client.clients_per_round > 1) {
    ctx.logger->info("{} clients per round; their updates are averaged in one server step",
                     cfg.client.clients_per_round);
  }
  if (ctx.cluster) {
    std::string pids;
    if (ctx.workers) {
      for (size_t i = 0; i < ctx.workers->pids().size(); ++i) {
        pids +=
            fmt::format("{}rank {} pid {}", i == 0 ? "; " : ", ", i + 1, ctx.workers->pids()[i]);
      }
    }
    ctx.logger->info(
        "{} ranks over Gloo (rank 0 pid {}{}); client updates and evaluations are "
        "spread over all ranks",
        ctx.cluster->world_size(), ::getpid(), pids);
  }
}

// ---------------------------------------------------------------------------------------------
// Several processes: rank 0 starts the group here (spawning local workers for --workers);
// the other ranks run run_worker.

// Several processes split pFedHN's client updates and evaluations (fl/distributed.h); the
// baselines and held-out novel clients run in one process. Throws UserError for those when
// this run has several processes (checked before any file or worker is made).
void check_multi_process(const config::Config& cfg, const TrainOptions& options,
                         const std::optional<fl::DistEnv>& env) {
  if (options.workers <= 1 && !(env && env->world_size > 1)) return;
  if (!config::uses_hypernetwork(cfg.algorithm)) {
    throw UserError("algorithm=" + config::to_string(cfg.algorithm) +
                    " runs in one process only: --workers and torchrun support pfedhn and "
                    "pfedhn_pc");
  }
  if (cfg.novel.num_clients > 0) {
    throw UserError("novel.num_clients=" + std::to_string(cfg.novel.num_clients) +
                    " runs in one process only: --workers and torchrun need "
                    "novel.num_clients=0");
  }
  fl::check_hetero_world_size(cfg, options.workers > 1 ? options.workers : env->world_size);
}

void start_cluster(RunContext& ctx, const TrainOptions& options,
                   const std::optional<fl::DistEnv>& env) {
  const auto timeout = std::chrono::seconds(ctx.cfg.dist_timeout);
  if (options.workers > 1) {
    fl::DistEnv local;
    local.world_size = options.workers;
    local.master_addr = "127.0.0.1";
    local.master_port = 0;  // any free port; the workers are told which
    ctx.cluster = std::make_unique<fl::Cluster>(local, ctx.cfg, timeout);
    ctx.workers =
        std::make_unique<LocalWorkers>(options.workers, ctx.cluster->port(), options.worker_args);
    ctx.cluster->connect(/*adopt_config=*/false, [&] { ctx.workers->check_alive(); });
    ctx.resume_workers = options.workers;
  } else if (env && env->world_size > 1) {
    ctx.cluster = std::make_unique<fl::Cluster>(*env, ctx.cfg, timeout);
    ctx.cluster->connect();
  }
}

int finish_run(RunContext& ctx, int code) {
  // The workers were told to stop; give them a moment to exit on their own.
  if (ctx.workers && !ctx.workers->wait_all(30.0) && code == 0) {
    ctx.logger->warn("a worker process did not exit cleanly");
  }
  return code;
}

int run_worker(const TrainOptions& options, const fl::DistEnv& env) {
  die_with_parent();
  // Ctrl-C reaches every process of the terminal's group: rank 0 handles it (checkpoint, then
  // it stops the workers), so the workers ignore it.
  ::signal(SIGINT, SIG_IGN);
  const bool adopt = options.resume_dir.has_value();  // only rank 0 has the run directory
  config::Config cfg = adopt ? config::Config{} : resolve_config(options);
  if (!adopt) check_multi_process(cfg, options, env);  // rank 0 refuses it too, with the same line
  fl::Cluster cluster(env, cfg, std::chrono::seconds(cfg.dist_timeout));
  cluster.connect(adopt);
  cfg = cluster.config();
  fl::check_hetero_world_size(cfg, env.world_size);  // a resumed run's config comes from rank 0
  if (adopt) {  // this rank's own harmless overrides (e.g. num_threads) still apply
    config::apply_overrides(cfg, options.overrides);
    config::resolve_and_validate(cfg);
  }
  const torch::Device device = select_device(cfg.device);
  set_thread_count(cfg.num_threads);
  RunData run_data = load_run_data(cfg, device);
  fl::Trainer trainer(cfg, run_data.splits, std::move(run_data.clients), device);
  cluster.work(trainer);
  return 0;
}

int resume_train(const TrainOptions& options, const std::optional<fl::DistEnv>& env,
                 StopSignals& signals) {
  const fs::path run_dir = *options.resume_dir;
  if (options.config_file || options.output_dir) {
    throw UserError(
        "--resume takes the config and output directory from RUN_DIR; give "
        "changes as overrides (e.g. client.num_rounds=1000), not --config or "
        "--output-dir");
  }
  const fs::path config_file = run_dir / "config.yaml";
  std::error_code ec;
  if (!fs::is_regular_file(config_file, ec)) {
    throw UserError("'" + run_dir.string() + "' is not a run directory (no config.yaml)");
  }
  TrainOptions from_run = options;
  from_run.config_file = config_file;
  RunContext ctx;
  ctx.cfg = resolve_config(from_run);
  if (options.print_config) {
    std::cout << config::to_yaml(ctx.cfg);
    return 0;
  }
  ResumePoint point = find_resume_point(run_dir);
  config::Config before =
      config::parse_config_text(point.checkpoint.loop.config_yaml, "the checkpoint's config");
  config::resolve_and_validate(before);
  const auto accepted = check_resume_config(before, ctx.cfg);
  check_multi_process(ctx.cfg, options, env);
  ctx.device = select_device(ctx.cfg.device);
  ctx.threads = set_thread_count(ctx.cfg.num_threads);
  io::prepare_run_dir(run_dir, /*overwrite=*/true);  // checks it is still writable
  start_cluster(ctx, options, env);
  io::write_file_atomic(config_file, config::to_yaml(ctx.cfg));
  ctx.run_dir = run_dir;
  ctx.program = options.program;
  ctx.logger = make_logger(run_dir / "train.log", /*append=*/true);
  log_start(ctx);
  for (const auto& w : point.warnings) ctx.logger->warn("{}", w);
  if (point.checkpoint.pfedhn_version != PFEDHN_VERSION) {
    ctx.logger->warn(
        "the checkpoint was written by pfedhn {}: results may differ from an "
        "uninterrupted run",
        point.checkpoint.pfedhn_version);
  }
  for (const auto& change : accepted) {
    ctx.logger->info("accepted config change on resume: {}", change);
    if (change.rfind("num_threads:", 0) == 0 || change.rfind("device:", 0) == 0) {
      ctx.logger->warn(
          "bit-for-bit equality with an uninterrupted run needs the same device and "
          "thread count");
    }
  }
  return finish_run(ctx, train_loop(ctx, &point.checkpoint, signals));
}

}  // namespace

int run_train(const TrainOptions& options) {
  const auto env = fl::dist_env_from_environment();
  if (options.workers > 1 && env && env->world_size > 1) {
    throw UserError("--workers " + std::to_string(options.workers) +
                    " under torchrun (WORLD_SIZE=" + std::to_string(env->world_size) +
                    "): use one or the other");
  }
  if (options.workers < 1) throw UserError("--workers must be at least 1");
  if (env && env->rank > 0) return run_worker(options, *env);
  StopSignals signals;  // before any data is read: Ctrl-C while loading exits with 130 too
  if (options.resume_dir) return resume_train(options, env, signals);
  RunContext ctx;
  ctx.cfg = resolve_config(options);
  if (options.print_config) {
    std::cout << config::to_yaml(ctx.cfg);
    return 0;
  }
  check_multi_process(ctx.cfg, options, env);
  ctx.device = select_device(ctx.cfg.device);
  ctx.threads = set_thread_count(ctx.cfg.num_threads);
  ctx.run_dir = options.output_dir ? *options.output_dir : io::default_run_dir();
  ctx.program = options.program;
  io::prepare_run_dir(ctx.run_dir, options.overwrite);
  start_cluster(ctx, options, env);
  std::error_code ec;  // an overwritten run's checkpoints must never be resumed into this one
  fs::remove_all(io::checkpoint_dir(ctx.run_dir), ec);
  io::write_file_atomic(ctx.run_dir / "config.yaml", config::to_yaml(ctx.cfg));
  ctx.logger = make_logger(ctx.run_dir / "train.log", /*append=*/false);
  log_start(ctx);
  return finish_run(ctx, train_loop(ctx, nullptr, signals));
}

}  // namespace pfedhn::app
