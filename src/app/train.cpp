#include "pfedhn/app/train.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <iostream>
#include <optional>

#include "pfedhn/app/run_check.h"
#include "pfedhn/app/runtime.h"
#include "pfedhn/app/signals.h"
#include "pfedhn/app/workers.h"
#include "pfedhn/data/dataset.h"
#include "pfedhn/data/partition.h"
#include "pfedhn/data/partition_file.h"
#include "pfedhn/eval/evaluator.h"
#include "pfedhn/fl/algorithm.h"
#include "pfedhn/fl/distributed.h"
#include "pfedhn/fl/hetero.h"
#include "pfedhn/fl/trainer.h"
#include "pfedhn/io/checkpoint.h"
#include "pfedhn/io/progress.h"
#include "pfedhn/io/results.h"
#include "pfedhn/io/run_dir.h"
#include "pfedhn/run/execution.h"
#include "pfedhn/run/run_loop.h"
#include "pfedhn/util/error.h"

namespace pfedhn::app {
namespace fs = std::filesystem;

namespace {
constexpr const char* kPartitionRecord = "partition.json";
}  // namespace

config::Config base_config(const TrainOptions& options) {
  config::Config cfg =
      options.config_file ? config::load_config_file(*options.config_file) : config::Config{};
  if (options.config_from_run) config::apply_older_run_defaults(cfg);
  return cfg;
}

config::Config resolve_overrides(config::Config base, const std::vector<std::string>& overrides) {
  config::apply_overrides(base, overrides);
  resolve_against_data(base);
  return base;
}

config::Config resolve_config(const TrainOptions& options) {
  return resolve_overrides(base_config(options), options.overrides);
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

// ---------------------------------------------------------------------------------------------
// Resume: which checkpoint, and which config changes are acceptable.

// What a resumed run may change: only what keeps its results (reliability.md).
const ChangeRules kResumeRules{"resume", /*more_rounds=*/true, {}};

struct ResumePoint {
  io::LoadedCheckpoint checkpoint;
  std::vector<fs::path> skipped;     // newer checkpoints that do not verify
  std::vector<std::string> reasons;  // why, one each
};

// The newest checkpoint that verifies, and the newer ones that do not. Throws one line if none
// is usable. Changes nothing: see set_aside_skipped.
ResumePoint find_resume_point(const fs::path& run_dir) {
  const auto candidates = io::list_checkpoints(run_dir);
  if (candidates.empty()) {
    throw UserError("no checkpoint to resume from in '" + io::checkpoint_dir(run_dir).string() +
                    "'");
  }
  ResumePoint point;
  for (const auto& path : candidates) {
    try {
      point.checkpoint = io::read_checkpoint(path);
      return point;
    } catch (const io::CheckpointError& e) {
      point.skipped.push_back(path);
      point.reasons.push_back(e.what());
    }
  }
  std::string all;
  for (const auto& p : point.reasons) all += (all.empty() ? "" : "; ") + p;
  throw UserError("no usable checkpoint in '" + io::checkpoint_dir(run_dir).string() + "': " + all);
}

// Renames the skipped checkpoints *.corrupt so that they are neither retried nor kept in place
// of good ones (once the resume is accepted); returns the warnings for the log.
std::vector<std::string> set_aside_skipped(const ResumePoint& point) {
  std::vector<std::string> warnings;
  for (size_t i = 0; i < point.skipped.size(); ++i) {
    std::error_code ec;
    fs::rename(point.skipped[i], point.skipped[i].string() + ".corrupt", ec);
    warnings.push_back("warning: skipped " + point.reasons[i] + "; renamed it *.corrupt");
  }
  return warnings;
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

namespace {

// The data must still be what the config was resolved against (a run's config.yaml holds the
// channels and classes the files had when it started).
void check_data_fits_config(const config::Config& cfg, const data::DatasetInfo& info) {
  if (cfg.model.in_channels == info.channels && cfg.model.out_dim == info.num_classes) return;
  throw UserError(fmt::format(
      "dataset '{}' ({}) now has {} channel(s) and {} classes, but the config says "
      "model.in_channels={} and model.out_dim={}: the data changed since the run started",
      info.name, info.source, info.channels, info.num_classes, cfg.model.in_channels,
      cfg.model.out_dim));
}

}  // namespace

RunData load_run_data(const config::Config& cfg, const torch::Device& device,
                      const fs::path& run_dir, const data::LoadProgress& progress) {
  data::DatasetSplits splits =
      data::load_dataset(dataset_source(cfg), split_options(cfg), cfg.seed, progress);
  check_data_fits_config(cfg, *splits.info);
  RunData d{data::to_device(std::move(splits), device), {}, {}};
  const fs::path recorded = run_dir.empty() ? fs::path{} : run_dir / kPartitionRecord;
  d.partition =
      data::make_partition(d.splits.train.y.cpu(), d.splits.val.y.cpu(), d.splits.test.y.cpu(),
                           partition_options(cfg, d.splits.info->num_classes, recorded), cfg.seed);
  d.clients = std::move(d.partition.clients);
  return d;
}

void write_partition_record(const fs::path& run_dir, const config::Config& cfg,
                            const RunData& data) {
  data::Partition record = data.partition;
  record.clients = data.clients;
  data::PartitionRecordInfo info;
  info.dataset = cfg.dataset.data;
  info.scheme = config::to_string(cfg.client.partition);
  if (cfg.client.partition == config::PartitionKind::kClasses) {
    info.class_shares = config::to_string(cfg.client.class_shares);
  }
  info.seed = cfg.seed;
  info.num_classes = data.splits.info->num_classes;
  const torch::Tensor labels[3] = {data.splits.train.y.cpu(), data.splits.val.y.cpu(),
                                   data.splits.test.y.cpu()};
  io::write_file_atomic(run_dir / kPartitionRecord,
                        data::partition_json(record, info, labels).dump(1) + "\n");
}

namespace {

void log_target_widths(const RunContext& ctx, const fl::Algorithm& algorithm) {
  const auto* trainer = dynamic_cast<const fl::Trainer*>(&algorithm);
  if (ctx.cfg.model.hetero_kernels.empty() || trainer == nullptr) return;
  const auto& specs = trainer->hypernetwork()->target_specs();
  for (size_t s = 0; s < specs.size(); ++s) {
    ctx.logger->info("target network of width {} (clients i with i mod {} = {}): {} parameters",
                     specs[s].n_kernels, specs.size(), s, specs[s].num_parameters());
  }
}

// A progress line every few seconds while a slow dataset (an image folder) is read.
data::LoadProgress progress_logger(const RunContext& ctx,
                                   std::chrono::steady_clock::time_point start) {
  constexpr double kFirstAfter = 3.0, kEvery = 5.0;
  return [logger = ctx.logger, start, next = kFirstAfter](int64_t done, int64_t total) mutable {
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (elapsed < next || done == total) return;
    logger->info("data: read {} of {} images ({:.0f}s)", done, total, elapsed);
    next = elapsed + kEvery;
  };
}

// Wires one run: the data, the algorithm, where its rounds run, and the loop (run/run_loop.h).
// Returns the exit code.
int train_loop(const RunContext& ctx, io::LoadedCheckpoint* resume, StopSignals& signals) {
  const config::Config& cfg = ctx.cfg;
  const auto load_start = std::chrono::steady_clock::now();
  RunData run_data = load_run_data(cfg, ctx.device, resume ? ctx.run_dir : fs::path{},
                                   progress_logger(ctx, load_start));
  write_partition_record(ctx.run_dir, cfg, run_data);
  const data::DatasetSplits& splits = run_data.splits;
  if (config::is_custom_dataset(cfg.dataset.data)) {
    ctx.logger->info("data: {}", describe_data(splits, cfg));
  }
  ctx.logger->info(
      "data: {} train / {} val / {} test samples, partitioned in {:.1f}s", splits.train.size(),
      splits.val.size(), splits.test.size(),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count());
  const auto algorithm = fl::make_algorithm(cfg, splits, std::move(run_data.clients), ctx.device);
  ctx.logger->info("{}", algorithm->describe());
  // Novel clients (novel.num_clients, the last ones) are left to `pfedhn generalize`.
  const std::vector<data::ClientIndices> eval_clients(
      algorithm->clients().begin(), algorithm->clients().begin() + fl::num_training_clients(cfg));
  log_target_widths(ctx, *algorithm);
  const auto execution = run::make_execution(*algorithm, ctx.cluster.get(), splits, eval_clients);
  run::RunSettings settings;
  settings.run_dir = ctx.run_dir;
  settings.logger = ctx.logger;
  settings.resume_command =
      ctx.program + " train --resume " + ctx.run_dir.string() +
      (ctx.resume_workers > 1 ? " --workers " + std::to_string(ctx.resume_workers) : "");
  settings.threads = ctx.threads;
  settings.device = ctx.device.str();
  run::RunLoop loop(cfg, std::move(settings), *algorithm, *execution, {splits, eval_clients},
                    resume);
  const int signal = loop.run(signals);
  if (signal == 0) return 0;
  return signal == SIGINT ? kInterruptedExitCode : kTerminatedExitCode;
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
  const RunConfigs configs = read_run_configs(run_dir, options.overrides);
  RunContext ctx;
  ctx.cfg = configs.now;
  if (options.print_config) {
    std::cout << config::to_yaml(ctx.cfg);
    return 0;
  }
  ResumePoint point = find_resume_point(run_dir);
  const auto accepted = check_run_consistency(run_dir, point.checkpoint, configs, kResumeRules);
  check_multi_process(ctx.cfg, options, env);
  ctx.device = select_device(ctx.cfg.device);
  ctx.threads = set_thread_count(ctx.cfg.num_threads);
  io::prepare_run_dir(run_dir, /*overwrite=*/true);  // checks it is still writable
  start_cluster(ctx, options, env);
  const auto warnings = set_aside_skipped(point);
  io::write_file_atomic(run_dir / "config.yaml", config::to_yaml(ctx.cfg));
  ctx.run_dir = run_dir;
  ctx.program = options.program;
  ctx.logger = make_logger(run_dir / "train.log", /*append=*/true);
  log_start(ctx);
  for (const auto& w : warnings) ctx.logger->warn("{}", w);
  if (point.checkpoint.pfedhn_version != PFEDHN_VERSION) {
    ctx.logger->warn(
        "the checkpoint was written by pfedhn {}: results may differ from an "
        "uninterrupted run",
        point.checkpoint.pfedhn_version);
  }
  for (const auto& change : accepted) {
    ctx.logger->info("accepted config change on resume: {}: {} -> {}", change.key, change.before,
                     change.now);
    if (change.key == "num_threads" || change.key == "device") {
      ctx.logger->warn(
          "bit-for-bit equality with an uninterrupted run needs the same device and "
          "thread count");
    }
  }
  return finish_run(ctx, train_loop(ctx, &point.checkpoint, signals));
}

}  // namespace

int run_train(const TrainOptions& options) {
  die_with_parent();  // a --workers worker, or a run of a sweep (app/multirun.h)
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
  check_partition_file(ctx.cfg);
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
