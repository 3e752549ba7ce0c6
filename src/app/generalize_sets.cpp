// `pfedhn generalize` on a novel.scheme=sets run (the pFedHN authors' lab's protocol, pFedGP's
// experiments/ood_generalization): one training run, then every novel-client set in turn,
// each adapted on a model loaded afresh from the checkpoint.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "generalize_internal.h"
#include "pfedhn/app/runtime.h"
#include "pfedhn/data/partition_file.h"
#include "pfedhn/io/run_dir.h"
#include "pfedhn/util/error.h"

namespace pfedhn::app::detail {
namespace fs = std::filesystem;
namespace {

// Correct and total predictions, summed over sets, for accuracies pooled over them.
struct Pooled {
  int64_t correct = 0, total = 0;
  void add(const eval::SplitMetrics& m) {
    correct += m.correct;
    total += m.total;
  }
  double accuracy() const {
    return total == 0 ? std::nan("") : static_cast<double>(correct) / static_cast<double>(total);
  }
};

// A set's novel clients must each hold training data to adapt on.
void check_every_novel_client_trains(const data::NovelSet& set, size_t set_index,
                                     int64_t first_novel) {
  for (size_t i = 0; i < set.clients.size(); ++i) {
    if (set.clients[i].train.numel() > 0) continue;
    throw DataError(fmt::format(
        "novel-client set {} (alpha {}): novel client {} gets no training sample from the "
        "set-aside share; train with fewer novel clients (novel.num_clients) or other alphas",
        set_index, set.alpha, first_novel + static_cast<int64_t>(i)));
  }
}

// The training clients followed by the set's novel clients.
std::vector<data::ClientIndices> with_novel_set(const std::vector<data::ClientIndices>& training,
                                                const data::NovelSet& set) {
  std::vector<data::ClientIndices> clients = training;
  clients.insert(clients.end(), set.clients.begin(), set.clients.end());
  return clients;
}

std::string counts_text(const nlohmann::json& counts) {
  return fmt::format("{}", fmt::join(counts.get<std::vector<int64_t>>(), " "));
}

// One set's results: the set's summary (JSON) and its clients' CSV rows.
struct SetResults {
  nlohmann::json summary;
  std::string csv_rows;
};

// What one novel client of a set holds and scored: its labels per split, its shift from the
// training clients, its accuracies before and after adapting and its gap.
struct ClientRecord {
  nlohmann::json json;
  double shift = 0.0;
};

ClientRecord client_record(const GeneralizeRun& run, const data::NovelSet& set, size_t i,
                           const torch::Tensor& training_distribution,
                           const torch::Tensor (&labels)[3], const eval::EvalRecord& on_training,
                           const NovelEvaluations& e) {
  const int64_t client = fl::num_training_clients(run.cfg) + static_cast<int64_t>(i);
  const double shift = total_variation(label_distribution(run.data.splits, set.clients, i, i + 1),
                                       training_distribution);
  nlohmann::json j = {{"client", client},
                      {"shift_tv", shift},
                      {"test_acc_before", e.before.test.client_accuracy[i]},
                      {"test_acc_after", e.after.test.client_accuracy[i]},
                      {"val_acc_before", e.before.val.client_accuracy[i]},
                      {"val_acc_after", e.after.val.client_accuracy[i]},
                      {"gap", on_training.test.accuracy - e.after.test.client_accuracy[i]}};
  j.update(data::client_samples_json(set.clients[i], labels, run.data.splits.info->num_classes));
  return {j, shift};
}

std::string csv_row(size_t set_index, double alpha, const nlohmann::json& c) {
  const auto& n = c["samples"];
  const auto& counts = c["label_counts"];
  const auto acc = [&](const char* key) {
    return c[key].is_null() ? std::nan("") : c[key].get<double>();
  };
  return fmt::format("{},{},{},{:.6f},{},{},{},{},{},{},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f}\n",
                     set_index, alpha, c["client"].get<int64_t>(), c["shift_tv"].get<double>(),
                     n["train"].get<int64_t>(), n["val"].get<int64_t>(), n["test"].get<int64_t>(),
                     counts_text(counts["train"]), counts_text(counts["val"]),
                     counts_text(counts["test"]), acc("test_acc_before"), acc("test_acc_after"),
                     acc("val_acc_before"), acc("val_acc_after"), acc("gap"));
}

SetResults set_results(const GeneralizeRun& run, size_t set_index, const data::NovelSet& set,
                       const torch::Tensor& training_distribution, const torch::Tensor (&labels)[3],
                       const eval::EvalRecord& on_training, const NovelEvaluations& e) {
  SetResults out;
  nlohmann::json clients = nlohmann::json::array();
  double shift_sum = 0.0;
  for (size_t i = 0; i < set.clients.size(); ++i) {
    ClientRecord r = client_record(run, set, i, training_distribution, labels, on_training, e);
    shift_sum += r.shift;
    out.csv_rows += csv_row(set_index, set.alpha, r.json);
    clients.push_back(std::move(r.json));
  }
  out.summary = {{"set", set_index},
                 {"alpha", set.alpha},
                 {"num_clients", set.clients.size()},
                 {"mean_shift_tv", shift_sum / static_cast<double>(set.clients.size())},
                 {"novel_test_accuracy_before", e.before.test.accuracy},
                 {"novel_test_accuracy_after", e.after.test.accuracy},
                 {"novel_val_accuracy_before", e.before.val.accuracy},
                 {"novel_val_accuracy_after", e.after.val.accuracy},
                 {"generalization_gap", on_training.test.accuracy - e.after.test.accuracy},
                 {"clients", clients}};
  return out;
}

}  // namespace

void generalize_sets(const GeneralizeRun& run, const std::vector<size_t>& sets) {
  const auto& cfg = run.cfg;
  const auto& splits = run.data.splits;
  const int64_t first_novel = fl::num_training_clients(cfg);
  const std::vector<data::ClientIndices> training(run.data.clients.begin(),
                                                  run.data.clients.begin() + first_novel);
  const torch::Tensor labels[3] = {splits.train.y.cpu(), splits.val.y.cpu(), splits.test.y.cpu()};
  // The run's partition, as trained (client.partition=file: its own partition.json).
  const data::PartitionOptions partition =
      partition_options(cfg, splits.info->num_classes, run.run_dir / "partition.json");
  const eval::EvalRecord on_training =
      evaluate_training_clients(run, *load_model(run, run.data.clients));
  const torch::Tensor training_distribution =
      label_distribution(splits, training, 0, training.size());

  std::string csv =
      "set,alpha,client,shift_tv,train_samples,val_samples,test_samples,train_labels,val_labels,"
      "test_labels,test_acc_before,test_acc_after,val_acc_before,val_acc_after,gap\n";
  nlohmann::json set_summaries = nlohmann::json::array();
  Pooled val_after, test_after;
  const std::string algorithm = config::to_string(cfg.algorithm);
  for (size_t k : sets) {
    const data::NovelSet set =
        data::novel_client_set(labels[0], labels[1], labels[2], partition, cfg.seed, k);
    check_every_novel_client_trains(set, k, first_novel);
    const auto clients = with_novel_set(training, set);
    const NovelEvaluations e = adapt_novel_clients(run, *load_model(run, clients), clients);
    SetResults r = set_results(run, k, set, training_distribution, labels, on_training, e);
    csv += r.csv_rows;
    val_after.add(e.after.val);
    test_after.add(e.after.test);
    std::cout << fmt::format(
        "{} at round {}: set {} (alpha {}), {} novel clients, mean shift (TV) {:.3f}: test "
        "accuracy {:.4f} before, {:.4f} after adaptation; training clients {:.4f} (gap {:.4f})\n",
        algorithm, run.round, k, set.alpha, set.clients.size(),
        r.summary["mean_shift_tv"].get<double>(), e.before.test.accuracy, e.after.test.accuracy,
        on_training.test.accuracy, on_training.test.accuracy - e.after.test.accuracy);
    set_summaries.push_back(std::move(r.summary));
  }

  const std::string suffix = results_suffix(cfg, run.at_best);
  const fs::path clients_csv = run.out_dir / ("novel_clients-sets" + suffix + ".csv");
  io::write_file_atomic(clients_csv, csv);
  nlohmann::json summary = adaptation_json(run);
  summary.update({{"scheme", "sets"},
                  {"training_clients_test_accuracy", on_training.test.accuracy},
                  {"training_clients_val_accuracy", on_training.val.accuracy},
                  {"training_label_distribution",
                   std::vector<double>(
                       training_distribution.data_ptr<double>(),
                       training_distribution.data_ptr<double>() + training_distribution.numel())},
                  // Pooled over every set's novel clients: the number to choose steps and lr by.
                  {"novel_val_accuracy_after", val_after.accuracy()},
                  {"novel_test_accuracy_after", test_after.accuracy()},
                  {"generalization_gap", on_training.test.accuracy - test_after.accuracy()},
                  {"sets", set_summaries}});
  io::write_file_atomic(run.out_dir / ("novel-sets" + suffix + ".json"), summary.dump(1) + "\n");
  std::cout << fmt::format(
      "{}: {} set(s): novel clients' pooled val accuracy after adaptation {:.4f} (choose steps "
      "and lr by this), test {:.4f}\n",
      algorithm, sets.size(), val_after.accuracy(), test_after.accuracy());
  std::cout << "per client: " << clients_csv.string() << '\n';
}

}  // namespace pfedhn::app::detail
