#include "pfedhn/app/generalize.h"

#include <fmt/format.h>

#include <iostream>
#include <nlohmann/json.hpp>

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
namespace {

// Generalize may change the adaptation's own settings (and what never changes results).
const ChangeRules kGeneralizeRules{
    "generalize",
    /*more_rounds=*/false,
    {"novel.steps", "novel.adapt", "novel.lr", "baseline.finetune_steps"}};

bool adapts_by_loss(const config::Config& cfg) {
  return cfg.novel.adapt == config::NovelAdapt::kLoss;
}

// Label histogram of some clients' training data, normalised.
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

// The output files' suffix: novel{suffix}.json and novel_clients{suffix}.csv.
std::string results_suffix(const config::Config& cfg, bool at_best) {
  return std::string(adapts_by_loss(cfg) ? "-loss" : "") + (at_best ? "-best" : "");
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

// The three evaluations generalize reports.
struct NovelEvaluations {
  eval::EvalRecord on_training, before, after;
};

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

// novel_clients.csv and novel.json (with --best: novel_clients-best.csv, novel-best.json), and
// the summary line on stdout.
void write_novel_results(const fs::path& run_dir, bool at_best, const config::Config& cfg,
                         int64_t round, const data::DatasetSplits& splits,
                         const std::vector<data::ClientIndices>& all_clients,
                         const NovelEvaluations& e) {
  const auto& [on_training, before, after] = e;
  const int64_t first_novel = fl::num_training_clients(cfg);
  const size_t num_novel = all_clients.size() - static_cast<size_t>(first_novel);
  const auto train_dist =
      label_distribution(splits, all_clients, 0, static_cast<size_t>(first_novel));
  std::string csv =
      "client,alpha,shift_tv,train_samples,test_acc_before,test_acc_after,val_acc_after\n";
  nlohmann::json rows = nlohmann::json::array();
  const auto& alphas = cfg.novel.alphas;
  for (size_t i = 0; i < num_novel; ++i) {
    const size_t c = static_cast<size_t>(first_novel) + i;
    const double shift =
        0.5 *
        (label_distribution(splits, all_clients, c, c + 1) - train_dist).abs().sum().item<double>();
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
  const std::string suffix = results_suffix(cfg, at_best);
  const fs::path clients_csv = run_dir / ("novel_clients" + suffix + ".csv");
  io::write_file_atomic(clients_csv, csv);
  const nlohmann::json summary = {
      {"algorithm", config::to_string(cfg.algorithm)},
      {"checkpoint", at_best ? "best" : "newest"},
      {"checkpoint_round", round},
      {"novel_clients", cfg.novel.num_clients},
      {"steps", adaptation_steps(cfg)},
      {"sgd_steps", adaptation_sgd_steps(cfg)},
      {"adapt",
       config::uses_hypernetwork(cfg.algorithm) ? config::to_string(cfg.novel.adapt) : "baseline"},
      {"embedding_lr", config::uses_hypernetwork(cfg.algorithm)
                           ? nlohmann::json(cfg.effective_novel_lr())
                           : nlohmann::json(nullptr)},
      {"training_clients_test_accuracy", on_training.test.accuracy},
      {"novel_test_accuracy_before", before.test.accuracy},
      {"novel_test_accuracy_after", after.test.accuracy},
      {"novel_val_accuracy_after", after.val.accuracy},  // for choosing novel.lr or steps
      {"generalization_gap", on_training.test.accuracy - after.test.accuracy},
      {"clients", rows}};
  io::write_file_atomic(run_dir / ("novel" + suffix + ".json"), summary.dump(2) + "\n");
  std::cout << fmt::format(
      "{} at round {}: {} novel clients: test accuracy {:.4f} before, {:.4f} after adaptation; "
      "training clients {:.4f} (gap {:.4f})\n",
      config::to_string(cfg.algorithm), round, num_novel, before.test.accuracy, after.test.accuracy,
      on_training.test.accuracy, on_training.test.accuracy - after.test.accuracy);
  std::cout << "per client: " << clients_csv.string() << '\n';
}

}  // namespace

int run_generalize(const GeneralizeOptions& options) {
  const fs::path run_dir = options.run_dir;
  const RunConfigs configs = read_run_configs(run_dir, options.overrides);
  const io::LoadedCheckpoint checkpoint = chosen_checkpoint(run_dir, options.at_best);
  const config::Config cfg = generalize_config(options, configs, checkpoint);
  io::check_output_dir(run_dir, /*overwrite=*/true, "RUN_DIR");  // the results go there
  const int64_t first_novel = fl::num_training_clients(cfg);
  set_thread_count(cfg.num_threads);
  const torch::Device device = select_device(cfg.device);
  RunData loaded = load_run_data(cfg, device, options.run_dir);
  const auto& splits = loaded.splits;
  const auto all_clients = loaded.clients;
  auto load_algorithm = [&](const config::Config& c) {
    return load_trained_algorithm(c, splits, all_clients, device, checkpoint);
  };
  auto algorithm = load_algorithm(cfg);
  const int64_t round = checkpoint.loop.next_round - 1;

  const std::vector<data::ClientIndices> training(all_clients.begin(),
                                                  all_clients.begin() + first_novel);
  const std::vector<data::ClientIndices> novel(all_clients.begin() + first_novel,
                                               all_clients.end());
  auto novel_model = [&](int64_t i) { return algorithm->client_model(first_novel + i); };
  const auto on_training = eval::evaluate_all(
      round, [&](int64_t c) { return algorithm->client_model(c); }, splits, training,
      cfg.eval_batch_size);
  // fedavg_ft fine-tunes inside client_model: "before" is its global model, not fine-tuned.
  std::unique_ptr<fl::Algorithm> unadapted;
  if (cfg.algorithm == config::Algorithm::kFedAvgFT) {
    config::Config no_finetuning = cfg;
    no_finetuning.baseline.finetune_steps = 0;
    unadapted = load_algorithm(no_finetuning);
  }
  const auto before = eval::evaluate_all(
      round,
      [&](int64_t i) {
        return (unadapted ? *unadapted : *algorithm).client_model(first_novel + i);
      },
      splits, novel, cfg.eval_batch_size);
  for (int64_t c = first_novel; c < algorithm->num_clients(); ++c) {
    algorithm->adapt_novel_client(c, cfg.novel.steps);
  }
  const auto after = eval::evaluate_all(round, novel_model, splits, novel, cfg.eval_batch_size);

  write_novel_results(run_dir, options.at_best, cfg, round, splits, all_clients,
                      {on_training, before, after});
  return 0;
}

}  // namespace pfedhn::app
