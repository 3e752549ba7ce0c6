#include "pfedhn/app/train.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <iostream>
#include <thread>

#include "pfedhn/data/dataset.h"
#include "pfedhn/data/partition.h"
#include "pfedhn/eval/evaluator.h"
#include "pfedhn/fl/trainer.h"
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

torch::Device select_device(config::DeviceKind kind) {
  const bool cuda = torch::cuda::is_available();
  if (kind == config::DeviceKind::kCuda && !cuda) {
    throw UserError(
        "device=cuda requested but CUDA is not available (no GPU found, or this LibTorch is a "
        "CPU-only build); use device=cpu or device=auto");
  }
  if (kind == config::DeviceKind::kCpu || !cuda) return torch::kCPU;
  return torch::kCUDA;
}

int64_t set_thread_count(int64_t requested) {
  const int64_t n =
      requested > 0 ? requested : std::max<int64_t>(1, std::thread::hardware_concurrency());
  torch::set_num_threads(static_cast<int>(n));
  return n;
}

std::shared_ptr<spdlog::logger> make_logger(const fs::path& log_file) {
  auto console = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  console->set_pattern("[%H:%M:%S] %v");
  auto file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(log_file.string(), true);
  file->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%l] %v");
  auto logger = std::make_shared<spdlog::logger>("pfedhn", spdlog::sinks_init_list{console, file});
  logger->flush_on(spdlog::level::info);
  return logger;
}

data::DatasetSplits to_device(data::DatasetSplits d, const torch::Device& device) {
  if (device.is_cpu()) return d;
  for (auto* s : {&d.train, &d.val, &d.test}) {
    s->x = s->x.to(device);
    s->y = s->y.to(device);
  }
  return d;
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

}  // namespace

int run_train(const TrainOptions& options) {
  const config::Config cfg = resolve_config(options);
  if (options.print_config) {
    std::cout << config::to_yaml(cfg);
    return 0;
  }
  const torch::Device device = select_device(cfg.device);
  const int64_t threads = set_thread_count(cfg.num_threads);

  const fs::path run_dir = options.output_dir ? *options.output_dir : io::default_run_dir();
  io::prepare_run_dir(run_dir, options.overwrite);
  io::write_file_atomic(run_dir / "config.yaml", config::to_yaml(cfg));
  auto logger = make_logger(run_dir / "train.log");
  logger->info("pfedhn {} | run directory {}", PFEDHN_VERSION, run_dir.string());
  logger->info("{} on {} | {} clients | {} rounds | device {} | {} threads",
               config::to_string(cfg.model.variant), cfg.dataset.data, cfg.client.num_nodes,
               cfg.client.num_rounds, device.str(), threads);

  const auto load_start = std::chrono::steady_clock::now();
  const data::DatasetSplits splits = to_device(
      data::load_dataset(cfg.dataset.data, cfg.dataset.root, cfg.dataset.val_size, cfg.seed),
      device);
  data::PartitionOptions popts;
  popts.num_clients = cfg.client.num_nodes;
  popts.num_classes = splits.info->num_classes;
  popts.classes_per_client = cfg.client.num_classes_per_node;
  popts.dirichlet = cfg.client.partition == config::PartitionKind::kDirichlet;
  popts.dirichlet_alpha = cfg.client.dirichlet_alpha;
  auto clients = data::partition_clients(splits.train.y.cpu(), splits.val.y.cpu(),
                                         splits.test.y.cpu(), popts, cfg.seed);
  logger->info(
      "data: {} train / {} val / {} test samples, partitioned in {:.1f}s", splits.train.size(),
      splits.val.size(), splits.test.size(),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count());

  fl::Trainer trainer(cfg, splits, std::move(clients), device);
  logger->info("target network: {} parameters; hypernetwork embedding dim {}",
               trainer.target_spec().num_parameters(), cfg.effective_embedding_dim());

  io::MetricsWriter metrics(run_dir / "metrics.csv");
  io::RunSummary summary;
  summary.dataset = cfg.dataset.data;
  summary.variant = config::to_string(cfg.model.variant);
  summary.num_clients = trainer.num_clients();
  summary.client_train_samples = sample_counts(trainer.clients(), &data::ClientIndices::train);
  summary.client_val_samples = sample_counts(trainer.clients(), &data::ClientIndices::val);
  summary.client_test_samples = sample_counts(trainer.clients(), &data::ClientIndices::test);

  const int64_t total = cfg.client.num_rounds;
  const int64_t log_every = cfg.log_every > 0 ? cfg.log_every : std::max<int64_t>(1, total / 50);
  io::ProgressReporter progress(logger, ::isatty(STDOUT_FILENO) == 1, log_every, 0);
  eval::BestTracker best;
  io::ProgressState state;
  state.total_rounds = total;
  double loss_since_eval = 0.0;
  int64_t rounds_since_eval = 0;
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  auto evaluate = [&](int64_t round) {
    auto record = eval::evaluate_all(
        round, [&](int64_t c) { return trainer.client_model(c); }, splits, trainer.clients(),
        cfg.eval_batch_size);
    const double train_loss =
        rounds_since_eval > 0 ? loss_since_eval / static_cast<double>(rounds_since_eval) : NAN;
    metrics.append(record, (round + 1) * trainer.clients_per_round(), train_loss, elapsed());
    loss_since_eval = 0.0;
    rounds_since_eval = 0;
    const bool is_best = best.update(record);
    progress.log(eval_line(record) + (is_best ? " *best*" : ""));
    state.last_test_accuracy = record.test.accuracy;
    return record;
  };

  eval::EvalRecord last_eval;
  for (int64_t round = 0; round < total; ++round) {
    const fl::RoundReport report = trainer.run_round(round);
    if (!std::isfinite(report.loss) || !std::isfinite(report.grad_norm)) {
      throw TrainingDiverged(fmt::format(
          "training diverged: non-finite {} in round {} (client {}); the evaluations so far are "
          "in {}; try a lower model.inner_lr or server.lr",
          std::isfinite(report.loss) ? "hypernetwork gradient" : "training loss", round,
          report.clients.front(), (run_dir / "metrics.csv").string()));
    }
    loss_since_eval += report.loss;
    ++rounds_since_eval;
    state.round = round + 1;
    state.client = report.clients.front();
    state.loss = report.loss;
    state.train_accuracy = report.accuracy;
    // The authors' protocol: evaluate after rounds 0, eval_every, 2*eval_every, ... and the last.
    if (round % cfg.eval_every == 0 || round == total - 1) {
      last_eval = evaluate(round);
    }
    progress.update(state);
  }
  progress.finish();

  summary.rounds_completed = total;
  summary.client_updates = total * trainer.clients_per_round();
  summary.wall_seconds = elapsed();
  summary.best = best.best;
  summary.final = last_eval;
  io::write_results(run_dir / "results.json", summary);
  logger->info(
      "done in {} ({:.2f} rounds/s): test accuracy at best val (round {}) = {:.4f}; "
      "final test accuracy {:.4f}",
      io::ProgressReporter::format_duration(summary.wall_seconds),
      static_cast<double>(total) / summary.wall_seconds, best.best.round, best.best.test.accuracy,
      last_eval.test.accuracy);
  logger->info("results: {}", (run_dir / "results.json").string());
  return 0;
}

}  // namespace pfedhn::app
