#include "pfedhn/app/bench.h"

#include <fmt/format.h>
#include <torch/csrc/autograd/profiler_legacy.h>

#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <tuple>
#include <utility>

#include "pfedhn/app/runtime.h"
#include "pfedhn/app/train.h"
#include "pfedhn/data/catalog.h"
#include "pfedhn/data/synthetic.h"
#include "pfedhn/eval/evaluator.h"
#include "pfedhn/fl/hetero.h"
#include "pfedhn/fl/trainer.h"
#include "pfedhn/io/run_dir.h"
#include "pfedhn/models/flops.h"
#include "pfedhn/util/error.h"
#include "pfedhn/util/sysinfo.h"

namespace pfedhn::app {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Evaluations of a full run: after rounds 0, eval_every, 2*eval_every, ... and the last.
int64_t evaluations_in_run(int64_t num_rounds, int64_t eval_every) {
  const int64_t periodic = (num_rounds - 1) / eval_every + 1;
  return periodic + ((num_rounds - 1) % eval_every != 0 ? 1 : 0);
}

struct PhaseTotals {
  double generate = 0, local = 0, server = 0, wall = 0;
  PhaseTotals& operator+=(const PhaseTotals& o) {
    generate += o.generate;
    local += o.local;
    server += o.server;
    wall += o.wall;
    return *this;
  }
};

PhaseTotals time_rounds(fl::Trainer& trainer, int64_t first_round, int64_t rounds) {
  PhaseTotals t;
  const auto start = Clock::now();
  for (int64_t r = first_round; r < first_round + rounds; ++r) {
    const auto report = trainer.run_round(r);
    t.generate += report.generate_seconds;
    t.local += report.local_seconds;
    t.server += report.server_seconds;
  }
  t.wall = seconds_since(start);
  return t;
}

double time_evaluation(fl::Trainer& trainer, const data::DatasetSplits& splits,
                       int64_t batch_size) {
  const auto start = Clock::now();
  eval::evaluate_all(
      0, [&](int64_t c) { return trainer.client_model(c); }, splits, trainer.clients(), batch_size);
  return seconds_since(start);
}

void check_options(const BenchOptions& o) {
  if (o.rounds < 1 || o.rounds > kMaxBenchRounds) {
    throw UserError("bench: --rounds must be an integer from 1 to " +
                    std::to_string(kMaxBenchRounds) + ", got " + std::to_string(o.rounds));
  }
  if (o.warmup_rounds < 0 || o.warmup_rounds > kMaxBenchRounds) {
    throw UserError("bench: --warmup must be an integer from 0 to " +
                    std::to_string(kMaxBenchRounds) + ", got " + std::to_string(o.warmup_rounds));
  }
  if (o.profile_file) io::check_output_file(*o.profile_file, "--profile");
}

// LibTorch's profiler writes the trace when it stops and only logs a failure; a missing or
// empty trace is an error here, not a silent exit 0.
void check_profile_written(const std::filesystem::path& file) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(file, ec);
  if (ec || size == 0) {
    throw UserError("--profile: LibTorch's profiler wrote no trace to '" + file.string() + "'");
  }
}

void print_builtin_comparison(const nlohmann::json& j) {
  if (!j.contains("builtin_s_per_round")) return;
  std::cout << fmt::format(
      "  built-in target     {:.4f} s per round, {:.3f} s per evaluation (rounds interleaved "
      "with the scripted ones)\n",
      j["builtin_s_per_round"].get<double>(), j["builtin_s_per_eval"].get<double>());
  std::cout << fmt::format(
      "  scripted / built-in {:.2f}x per round ({:.2f}x in local training), {:.2f}x per "
      "evaluation\n",
      j["script_to_builtin_round"].get<double>(), j["script_to_builtin_local"].get<double>(),
      j["script_to_builtin_eval"].get<double>());
  std::cout << "  (the GFLOP/s above count the hypernetwork only: a scripted target's FLOPs are "
               "not known)\n";
}

void print_table(const nlohmann::json& j) {
  auto f = [&](const char* key, int precision = 3) {
    return fmt::format("{:.{}f}", j[key].get<double>(), precision);
  };
  std::cout << fmt::format(
      "pfedhn bench: {} {} | {} clients, K={} per round, {} inner steps x batch {} | {} thread(s), "
      "{}\n",
      j["dataset"].get<std::string>(), j["variant"].get<std::string>(),
      j["num_nodes"].get<int64_t>(), j["clients_per_round"].get<int64_t>(),
      j["inner_steps"].get<int64_t>(), j["batch_size"].get<int64_t>(), j["threads"].get<int64_t>(),
      j["device"].get<std::string>());
  std::cout << fmt::format("  timed rounds        {} (after {} warm-up)\n",
                           j["rounds"].get<int64_t>(), j["warmup_rounds"].get<int64_t>());
  std::cout << "  ms per inner step   " << f("ms_per_inner_step") << '\n';
  std::cout << "  s per round         " << f("s_per_round", 4) << '\n';
  std::cout << "    generate (hnet)   " << f("s_generate", 4) << '\n';
  std::cout << "    local training    " << f("s_local", 4) << '\n';
  std::cout << "    hnet backward+step " << f("s_server", 4) << '\n';
  if (j["s_per_eval"].get<double>() > 0) {
    std::cout << "  s per evaluation    " << f("s_per_eval") << " (all "
              << j["num_nodes"].get<int64_t>() << " clients, val + test)\n";
  }
  std::cout << fmt::format("  projected run       {:.1f} min ({} rounds + {} evaluations)\n",
                           j["projected_s"].get<double>() / 60.0,
                           j["num_rounds_config"].get<int64_t>(),
                           j["evaluations_config"].get<int64_t>());
  std::cout << fmt::format(
      "  achieved            {:.2f} GFLOP/s per round, {:.2f} in local training, {:.2f} in "
      "evaluation; peak {:.1f} GFLOP/s ({})\n",
      j["gflops_per_s"].get<double>(), j["local_gflops_per_s"].get<double>(),
      j["eval_gflops_per_s"].get<double>(), j["peak_gflops"].get<double>(),
      j["cpu"].get<std::string>());
  std::cout << "  peak resident       " << f("peak_rss_mb", 1) << " MiB\n";
  print_builtin_comparison(j);
}

// The config to time; refuses what bench does not time.
config::Config bench_config(const BenchOptions& options) {
  check_options(options);
  TrainOptions train;
  train.config_file = options.config_file;
  train.overrides = options.overrides;
  const config::Config cfg = resolve_config(train);
  if (fl::is_hetero(cfg)) {
    throw UserError("pfedhn bench times one target width: leave model.hetero_kernels empty");
  }
  if (!config::uses_hypernetwork(cfg.algorithm)) {
    throw UserError("pfedhn bench times pfedhn and pfedhn_pc rounds; algorithm=" +
                    config::to_string(cfg.algorithm) + " is not benchmarked");
  }
  return cfg;
}

struct BenchTimings {
  PhaseTotals rounds;         // the timed rounds
  double eval_seconds = 0.0;  // one full evaluation; 0 with --no-eval
};

BenchTimings time_bench(fl::Trainer& trainer, const data::DatasetSplits& splits,
                        const BenchOptions& options, int64_t eval_batch_size) {
  time_rounds(trainer, 0, options.warmup_rounds);
  BenchTimings timings;
  PhaseTotals& t = timings.rounds;
  if (options.profile_file) {
    {
      torch::autograd::profiler::RecordProfile profile(options.profile_file->string());
      t = time_rounds(trainer, options.warmup_rounds, options.rounds);
    }
    check_profile_written(*options.profile_file);
  } else {
    t = time_rounds(trainer, options.warmup_rounds, options.rounds);
  }
  if (options.evaluate) {
    if (options.warmup_rounds > 0) time_evaluation(trainer, splits, eval_batch_size);
    timings.eval_seconds = time_evaluation(trainer, splits, eval_batch_size);
  }
  return timings;
}

// model.target=script: the same config with the built-in target network it is compared with.
config::Config builtin_counterpart(const config::Config& cfg) {
  config::Config builtin = cfg;
  builtin.model.target = config::TargetKind::kAuto;
  builtin.model.target_file.clear();
  builtin.model.local_layer.clear();
  return builtin;
}

// Both trainers' rounds, one after the other round by round (and their evaluations), so that
// both see the same load of a shared machine.
std::pair<BenchTimings, BenchTimings> time_bench_interleaved(fl::Trainer& script,
                                                             fl::Trainer& builtin,
                                                             const data::DatasetSplits& splits,
                                                             const BenchOptions& options,
                                                             int64_t eval_batch_size) {
  time_rounds(script, 0, options.warmup_rounds);
  time_rounds(builtin, 0, options.warmup_rounds);
  std::pair<BenchTimings, BenchTimings> t;
  for (int64_t r = options.warmup_rounds; r < options.warmup_rounds + options.rounds; ++r) {
    t.first.rounds += time_rounds(script, r, 1);
    t.second.rounds += time_rounds(builtin, r, 1);
  }
  if (options.evaluate) {
    t.first.eval_seconds = time_evaluation(script, splits, eval_batch_size);
    t.second.eval_seconds = time_evaluation(builtin, splits, eval_batch_size);
  }
  return t;
}

void add_builtin_comparison(nlohmann::json& j, const BenchTimings& builtin,
                            const BenchOptions& options) {
  const double s_per_round = builtin.rounds.wall / static_cast<double>(options.rounds);
  j["builtin_s_per_round"] = s_per_round;
  j["builtin_s_per_eval"] = builtin.eval_seconds;
  j["script_to_builtin_round"] = j["s_per_round"].get<double>() / s_per_round;
  j["script_to_builtin_local"] =
      builtin.rounds.local > 0
          ? j["s_local"].get<double>() * static_cast<double>(options.rounds) / builtin.rounds.local
          : 0.0;
  j["script_to_builtin_eval"] =
      builtin.eval_seconds > 0 ? j["s_per_eval"].get<double>() / builtin.eval_seconds : 0.0;
}

// Every figure bench prints, as one JSON object (the keys scripts/bench_pytorch.py prints too).
nlohmann::json bench_report(const config::Config& cfg, const BenchOptions& options,
                            const fl::Trainer& trainer, const data::DatasetSplits& splits,
                            const BenchTimings& timings, const torch::Device& device,
                            int64_t threads) {
  const PhaseTotals& t = timings.rounds;
  const double eval_seconds = timings.eval_seconds;
  const auto& spec = trainer.target_spec();
  const auto& hopts = trainer.hypernetwork()->options();
  const int64_t k = trainer.clients_per_round();
  const int64_t local_out = cfg.algorithm == config::Algorithm::kPFedHNPC ? cfg.model.out_dim : 0;
  const double n = static_cast<double>(options.rounds);
  const double steps = static_cast<double>(k * cfg.client.num_epochs);
  const double local_flops = steps * static_cast<double>(cfg.client.batch_size) *
                             static_cast<double>(models::target_train_flops(spec, local_out));
  const double hnet_flops =
      static_cast<double>(k * (models::hypernetwork_forward_flops(spec, hopts) +
                               models::hypernetwork_backward_flops(spec, hopts)));
  const double eval_flops =
      static_cast<double>(splits.val.size() + splits.test.size()) *
          static_cast<double>(models::target_forward_flops(spec, local_out)) +
      static_cast<double>(trainer.num_clients() * models::hypernetwork_forward_flops(spec, hopts));
  const int64_t evaluations = evaluations_in_run(cfg.client.num_rounds, cfg.eval_every);
  const double s_per_round = t.wall / n;
  const CpuInfo cpu = read_cpu_info();

  nlohmann::json j;
  j["tool"] = "pfedhn";
  j["dataset"] = cfg.dataset.data;
  j["variant"] = config::to_string(cfg.algorithm);
  j["device"] = device.str();
  j["threads"] = threads;
  j["warmup_rounds"] = options.warmup_rounds;
  j["rounds"] = options.rounds;
  j["num_nodes"] = cfg.client.num_nodes;
  j["clients_per_round"] = k;
  j["inner_steps"] = cfg.client.num_epochs;
  j["batch_size"] = cfg.client.batch_size;
  j["eval_batch_size"] = cfg.eval_batch_size;
  j["num_rounds_config"] = cfg.client.num_rounds;
  j["eval_every"] = cfg.eval_every;
  j["evaluations_config"] = evaluations;
  j["target_parameters"] = spec.num_parameters();
  j["ms_per_inner_step"] = 1e3 * t.local / (n * steps);
  j["s_per_round"] = s_per_round;
  j["s_generate"] = t.generate / n;
  j["s_local"] = t.local / n;
  j["s_server"] = t.server / n;
  j["s_per_eval"] = eval_seconds;
  j["projected_s"] = static_cast<double>(cfg.client.num_rounds) * s_per_round +
                     static_cast<double>(evaluations) * eval_seconds;
  j["gflop_per_round"] = (local_flops + hnet_flops) * 1e-9;
  j["gflops_per_s"] = (local_flops + hnet_flops) * 1e-9 / s_per_round;
  j["local_gflops_per_s"] = t.local > 0 ? local_flops * 1e-9 * n / t.local : 0.0;
  j["gflop_per_eval"] = eval_flops * 1e-9;
  j["eval_gflops_per_s"] = eval_seconds > 0 ? eval_flops * 1e-9 / eval_seconds : 0.0;
  j["peak_gflops"] = cpu.peak_gflops(threads);
  j["cpu"] = cpu.model;
  j["peak_rss_mb"] = static_cast<double>(peak_rss_bytes()) / (1024.0 * 1024.0);

  return j;
}

}  // namespace

int run_bench(const BenchOptions& options) {
  const config::Config cfg = bench_config(options);
  const torch::Device device = select_device(cfg.device);
  const int64_t threads = set_thread_count(cfg.num_threads);
  // The real shapes (an image folder's or a tensors file's read from its files), random pixels.
  const data::DatasetInfo info = data::describe_dataset(dataset_source(cfg), false);

  const data::DatasetSplits splits =
      data::to_device(data::make_synthetic_dataset(info, split_options(cfg), cfg.seed), device);
  const auto clients =
      data::partition_clients(splits.train.y.cpu(), splits.val.y.cpu(), splits.test.y.cpu(),
                              partition_options(cfg, info.num_classes), cfg.seed);
  fl::Trainer trainer(cfg, splits, clients, device);

  BenchTimings timings, builtin_timings;
  const bool compare = cfg.model.target == config::TargetKind::kScript;
  if (compare) {
    fl::Trainer builtin(builtin_counterpart(cfg), splits, clients, device);
    std::tie(timings, builtin_timings) =
        time_bench_interleaved(trainer, builtin, splits, options, cfg.eval_batch_size);
  } else {
    timings = time_bench(trainer, splits, options, cfg.eval_batch_size);
  }
  nlohmann::json j = bench_report(cfg, options, trainer, splits, timings, device, threads);
  if (compare) add_builtin_comparison(j, builtin_timings, options);
  if (options.json) {
    std::cout << j.dump() << std::endl;
  } else {
    print_table(j);
  }
  return 0;
}

}  // namespace pfedhn::app
