#include "pfedhn/app/generalize.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>

#include "generalize_internal.h"
#include "pfedhn/app/run_check.h"
#include "pfedhn/app/runtime.h"
#include "pfedhn/app/train.h"
#include "pfedhn/eval/evaluator.h"
#include "pfedhn/fl/algorithm.h"
#include "pfedhn/io/checkpoint.h"
#include "pfedhn/io/run_dir.h"
#include "pfedhn/util/error.h"

namespace pfedhn::app {
namespace fs = std::filesystem;
namespace detail {

torch::Tensor label_distribution(const data::DatasetSplits& d,
                                 const std::vector<data::ClientIndices>& clients, size_t begin,
                                 size_t end) {
  auto hist = torch::zeros({d.info->num_classes}, torch::kDouble);
  for (size_t c = begin; c < end; ++c) {
    const auto y = d.train.y.index_select(0, clients[c].train.to(d.train.y.device())).cpu();
    hist += torch::bincount(y, {}, d.info->num_classes).to(torch::kDouble);
  }
  return hist / hist.sum();
}

double total_variation(const torch::Tensor& p, const torch::Tensor& q) {
  return 0.5 * (p - q).abs().sum().item<double>();
}

}  // namespace detail

namespace {

// Generalize may change the adaptation's own settings (and what never changes results).
const ChangeRules kGeneralizeRules{
    "generalize",
    /*more_rounds=*/false,
    {"novel.steps", "novel.adapt", "novel.lr", "baseline.finetune_steps"}};

bool adapts_by_loss(const config::Config& cfg) {
  return cfg.novel.adapt == config::NovelAdapt::kLoss;
}

// What a novel client's adaptation takes: rounds of embedding training (pFedHN, pFedHN-PC),
// fine-tuning steps (fedavg_ft), nothing for the other baselines.
int64_t adaptation_steps(const config::Config& cfg) {
  if (config::uses_hypernetwork(cfg.algorithm)) return cfg.novel.steps;
  return cfg.algorithm == config::Algorithm::kFedAvgFT ? cfg.baseline.finetune_steps : 0;
}

// The same in SGD steps on the client's batches (a pFedHN round is client.num_epochs of them).
int64_t adaptation_sgd_steps(const config::Config& cfg) {
  const int64_t steps = adaptation_steps(cfg);
  return config::uses_hypernetwork(cfg.algorithm) ? steps * cfg.client.num_epochs : steps;
}

// The trained run's config with `options`' overrides, checked against the checkpoint's
// (app/run_check.h): refuses any change but the allowed keys.
config::Config generalize_config(const GeneralizeOptions& options, const RunConfigs& configs,
                                 const io::LoadedCheckpoint& checkpoint) {
  const fs::path run_dir = options.run_dir;
  check_run_consistency(run_dir, checkpoint, configs, kGeneralizeRules);
  const config::Config& cfg = configs.now;
  if (adapts_by_loss(cfg) && !config::uses_hypernetwork(cfg.algorithm)) {
    throw UserError("novel.adapt=loss fits a hypernetwork's embedding; run '" + run_dir.string() +
                    "' trained " + config::to_string(cfg.algorithm) + " (drop novel.adapt)");
  }
  if (cfg.novel.num_clients == 0) {
    throw UserError("run '" + run_dir.string() +
                    "' has no novel clients: train it with novel.num_clients=M (the last M "
                    "clients are then held out of training)");
  }
  return cfg;
}

// The checkpoint to adapt: the newest usable one, or best.pt with --best.
io::LoadedCheckpoint chosen_checkpoint(const fs::path& run_dir, bool at_best) {
  if (!at_best) return newest_usable_checkpoint(run_dir);
  const fs::path best = io::best_checkpoint_path(run_dir);
  std::error_code ec;
  if (!fs::is_regular_file(best, ec)) {
    throw UserError("--best: '" + best.string() +
                    "' does not exist (runs trained before best.pt existed lack it; train again, "
                    "or drop --best to adapt the newest checkpoint)");
  }
  return io::read_checkpoint(best);
}

// The novel-client sets to adapt, as indices into novel.alphas: those whose alpha `options`
// names (every set when it names none). Refuses --alpha for a run without sets and an alpha
// that is not one of the run's.
std::vector<size_t> chosen_sets(const config::Config& cfg, const GeneralizeOptions& options) {
  const auto& alphas = cfg.novel.alphas;
  const std::string run = "run '" + options.run_dir.string() + "'";
  if (cfg.novel.scheme != config::NovelScheme::kSets) {
    if (options.alphas.empty()) return {};
    throw UserError("--alpha picks novel-client sets, but " + run + " has novel.scheme=" +
                    config::to_string(cfg.novel.scheme) + ", not sets (drop --alpha)");
  }
  std::vector<size_t> sets;
  for (size_t k = 0; k < alphas.size(); ++k) {
    const auto named = [&](double a) { return std::abs(a - alphas[k]) <= 1e-9 * alphas[k]; };
    if (options.alphas.empty() ||
        std::any_of(options.alphas.begin(), options.alphas.end(), named)) {
      sets.push_back(k);
    }
  }
  for (double a : options.alphas) {
    const auto same = [&](double b) { return std::abs(a - b) <= 1e-9 * b; };
    if (std::none_of(alphas.begin(), alphas.end(), same)) {
      throw UserError(
          fmt::format("--alpha {}: {} has no novel-client set of that alpha (its "
                      "novel.alphas: [{}])",
                      a, run, fmt::join(alphas, ", ")));
    }
  }
  return sets;
}

// Where the result files go: --out (made if missing) or the run directory.
fs::path results_dir(const GeneralizeOptions& options) {
  if (options.out_dir.empty()) {
    io::check_output_dir(options.run_dir, /*overwrite=*/true, "RUN_DIR");
    return options.run_dir;
  }
  std::error_code ec;
  fs::create_directories(options.out_dir, ec);
  if (!fs::is_directory(options.out_dir, ec)) {
    throw UserError("--out '" + options.out_dir.string() +
                    "' is not a directory and cannot be made");
  }
  return options.out_dir;
}

// novel_clients.csv and novel.json (with --best: novel_clients-best.csv, novel-best.json), and
// the summary line on stdout.
void write_novel_results(const detail::GeneralizeRun& run, const eval::EvalRecord& on_training,
                         const detail::NovelEvaluations& e) {
  const auto& [before, after] = e;
  const auto& cfg = run.cfg;
  const auto& splits = run.data.splits;
  const auto& all_clients = run.data.clients;
  const int64_t first_novel = fl::num_training_clients(cfg);
  const size_t num_novel = all_clients.size() - static_cast<size_t>(first_novel);
  const auto train_dist =
      detail::label_distribution(splits, all_clients, 0, static_cast<size_t>(first_novel));
  std::string csv =
      "client,alpha,shift_tv,train_samples,test_acc_before,test_acc_after,val_acc_after\n";
  nlohmann::json rows = nlohmann::json::array();
  const auto& alphas = cfg.novel.alphas;
  for (size_t i = 0; i < num_novel; ++i) {
    const size_t c = static_cast<size_t>(first_novel) + i;
    const double shift = detail::total_variation(
        detail::label_distribution(splits, all_clients, c, c + 1), train_dist);
    // The Dirichlet alpha this novel client was drawn with (novel.alphas), if any.
    const nlohmann::json alpha =
        alphas.empty() ? nlohmann::json(nullptr) : nlohmann::json(alphas[i % alphas.size()]);
    csv += fmt::format("{},{},{:.6f},{},{:.6f},{:.6f},{:.6f}\n", c,
                       alphas.empty() ? "" : fmt::format("{}", alphas[i % alphas.size()]), shift,
                       all_clients[c].train.numel(), before.test.client_accuracy[i],
                       after.test.client_accuracy[i], after.val.client_accuracy[i]);
    rows.push_back({{"client", c},
                    {"alpha", alpha},
                    {"shift_tv", shift},
                    {"test_acc_before", before.test.client_accuracy[i]},
                    {"test_acc_after", after.test.client_accuracy[i]}});
  }
  const std::string suffix = detail::results_suffix(cfg, run.at_best);
  const fs::path clients_csv = run.out_dir / ("novel_clients" + suffix + ".csv");
  io::write_file_atomic(clients_csv, csv);
  nlohmann::json summary = detail::adaptation_json(run);
  summary.update(
      {{"training_clients_test_accuracy", on_training.test.accuracy},
       {"novel_test_accuracy_before", before.test.accuracy},
       {"novel_test_accuracy_after", after.test.accuracy},
       {"novel_val_accuracy_after", after.val.accuracy},  // for choosing novel.lr or steps
       {"generalization_gap", on_training.test.accuracy - after.test.accuracy},
       {"clients", rows}});
  io::write_file_atomic(run.out_dir / ("novel" + suffix + ".json"), summary.dump(2) + "\n");
  std::cout << fmt::format(
      "{} at round {}: {} novel clients: test accuracy {:.4f} before, {:.4f} after adaptation; "
      "training clients {:.4f} (gap {:.4f})\n",
      config::to_string(cfg.algorithm), run.round, num_novel, before.test.accuracy,
      after.test.accuracy, on_training.test.accuracy,
      on_training.test.accuracy - after.test.accuracy);
  std::cout << "per client: " << clients_csv.string() << '\n';
}

}  // namespace

namespace detail {

std::string results_suffix(const config::Config& cfg, bool at_best) {
  return std::string(adapts_by_loss(cfg) ? "-loss" : "") + (at_best ? "-best" : "");
}

std::unique_ptr<fl::Algorithm> load_model(const GeneralizeRun& run,
                                          const std::vector<data::ClientIndices>& clients,
                                          const config::Config& cfg) {
  // Read again each time: a loaded model shares its tensors with the archive it came from, so
  // adapting one copy would change the next one loaded from the same archive.
  return load_trained_algorithm(cfg, run.data.splits, clients, run.device,
                                io::read_checkpoint(run.checkpoint));
}

std::unique_ptr<fl::Algorithm> load_model(const GeneralizeRun& run,
                                          const std::vector<data::ClientIndices>& clients) {
  return load_model(run, clients, run.cfg);
}

eval::EvalRecord evaluate_training_clients(const GeneralizeRun& run, fl::Algorithm& algorithm) {
  const auto& clients = algorithm.clients();
  const std::vector<data::ClientIndices> training(
      clients.begin(), clients.begin() + fl::num_training_clients(run.cfg));
  return eval::evaluate_all(
      run.round, [&](int64_t c) { return algorithm.client_model(c); }, run.data.splits, training,
      run.cfg.eval_batch_size);
}

NovelEvaluations adapt_novel_clients(const GeneralizeRun& run, fl::Algorithm& algorithm,
                                     const std::vector<data::ClientIndices>& clients) {
  const auto& cfg = run.cfg;
  const int64_t first_novel = fl::num_training_clients(cfg);
  const std::vector<data::ClientIndices> novel(clients.begin() + first_novel, clients.end());
  // fedavg_ft fine-tunes inside client_model: "before" is its global model, not fine-tuned.
  std::unique_ptr<fl::Algorithm> unadapted;
  if (cfg.algorithm == config::Algorithm::kFedAvgFT) {
    config::Config no_finetuning = cfg;
    no_finetuning.baseline.finetune_steps = 0;
    unadapted = load_model(run, clients, no_finetuning);
  }
  NovelEvaluations e;
  e.before = eval::evaluate_all(
      run.round,
      [&](int64_t i) { return (unadapted ? *unadapted : algorithm).client_model(first_novel + i); },
      run.data.splits, novel, cfg.eval_batch_size);
  for (int64_t c = first_novel; c < algorithm.num_clients(); ++c) {
    algorithm.adapt_novel_client(c, cfg.novel.steps);
  }
  e.after = eval::evaluate_all(
      run.round, [&](int64_t i) { return algorithm.client_model(first_novel + i); },
      run.data.splits, novel, cfg.eval_batch_size);
  return e;
}

nlohmann::json adaptation_json(const GeneralizeRun& run) {
  const auto& cfg = run.cfg;
  const bool hypernetwork = config::uses_hypernetwork(cfg.algorithm);
  return {{"algorithm", config::to_string(cfg.algorithm)},
          {"checkpoint", run.at_best ? "best" : "newest"},
          {"checkpoint_round", run.round},
          {"novel_clients", cfg.novel.num_clients},
          {"steps", adaptation_steps(cfg)},
          {"sgd_steps", adaptation_sgd_steps(cfg)},
          {"adapt", hypernetwork ? config::to_string(cfg.novel.adapt) : "baseline"},
          {"embedding_lr",
           hypernetwork ? nlohmann::json(cfg.effective_novel_lr()) : nlohmann::json(nullptr)}};
}

}  // namespace detail

int run_generalize(const GeneralizeOptions& options) {
  detail::GeneralizeRun run;
  run.run_dir = options.run_dir;
  run.at_best = options.at_best;
  const RunConfigs configs = read_run_configs(run.run_dir, options.overrides);
  const io::LoadedCheckpoint checkpoint = chosen_checkpoint(run.run_dir, options.at_best);
  run.cfg = generalize_config(options, configs, checkpoint);
  const std::vector<size_t> sets = chosen_sets(run.cfg, options);
  run.out_dir = results_dir(options);
  run.checkpoint = checkpoint.path;
  run.round = checkpoint.loop.next_round - 1;
  set_thread_count(run.cfg.num_threads);
  run.device = select_device(run.cfg.device);
  run.data = load_run_data(run.cfg, run.device, run.run_dir);
  if (run.cfg.novel.scheme == config::NovelScheme::kSets) {
    detail::generalize_sets(run, sets);
    return 0;
  }
  auto algorithm = detail::load_model(run, run.data.clients);
  const auto on_training = detail::evaluate_training_clients(run, *algorithm);
  write_novel_results(run, on_training,
                      detail::adapt_novel_clients(run, *algorithm, run.data.clients));
  return 0;
}

}  // namespace pfedhn::app
