// Validation after every source is applied: the dataset and the values derived from it, ranges,
// and the checks that need several keys at once.
#include <algorithm>

#include "internal.h"
#include "pfedhn/data/catalog.h"

namespace pfedhn::config {
namespace {

using detail::edit_distance;
using detail::join;

std::string plural(int64_t n, const std::string& singular, const std::string& plural_form) {
  return std::to_string(n) + " " + (n == 1 ? singular : plural_form);
}

const data::DatasetInfo& require_dataset(const std::string& name) {
  if (const data::DatasetInfo* info = data::find_dataset(name)) return *info;
  std::vector<std::string> names;
  std::string best;
  size_t best_distance = std::string::npos;
  for (const auto& ds : data::all_datasets()) {
    names.push_back(ds.name);
    const size_t distance = edit_distance(name, ds.name);
    if (distance < best_distance) {
      best_distance = distance;
      best = ds.name;
    }
  }
  const std::string hint = best_distance <= 3 ? "did you mean '" + best + "'? " : "";
  throw ConfigError("unknown dataset '" + name + "' for dataset.data; " + hint +
                    "allowed: " + join(names, "|"));
}

// Takes a dataset-derived value unless the key is explicit, in which case it must agree.
void derive_from_dataset(Config& cfg, const std::string& key, int64_t& value, int64_t from_dataset,
                         const std::string& what) {
  if (cfg.explicit_keys.count(key) == 0) {
    value = from_dataset;
  } else if (value != from_dataset) {
    throw ConfigError(key + "=" + std::to_string(value) + " contradicts dataset '" +
                      cfg.dataset.data + "' (" + what + ")");
  }
}

void check_ranges(const Config& cfg) {
  for (const auto& d : detail::key_table()) {
    if (!d.number || d.range.contains(d.number(cfg))) continue;
    throw ConfigError(d.info.key + "=" + d.get(cfg) + " is out of range: " + d.range.describe());
  }
}

void check_hetero_kernels(const Config& cfg) {
  const auto& sizes = cfg.model.hetero_kernels;
  const std::string key = "model.hetero_kernels=" + detail::int_list_text(sizes);
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (sizes[i] < 1) throw ConfigError(key + " is out of range: every width must be >= 1");
    if (std::find(sizes.begin(), sizes.begin() + static_cast<std::ptrdiff_t>(i), sizes[i]) !=
        sizes.begin() + static_cast<std::ptrdiff_t>(i)) {
      throw ConfigError(key + " lists the width " + std::to_string(sizes[i]) +
                        " twice: every width must be distinct");
    }
  }
  if (static_cast<int64_t>(sizes.size()) > cfg.client.num_nodes) {
    throw ConfigError(key + " has more widths than client.num_nodes (" +
                      std::to_string(cfg.client.num_nodes) + "): every width needs a client");
  }
  if (sizes.empty()) return;
  // The baselines train one network shape, and generalize one embedding per width is not built.
  if (!uses_hypernetwork(cfg.algorithm)) {
    throw ConfigError(key + " needs algorithm=pfedhn or pfedhn_pc (the baselines train one " +
                      "target width), got algorithm=" + to_string(cfg.algorithm));
  }
  if (cfg.novel.num_clients > 0) {
    throw ConfigError(key + " cannot be combined with novel.num_clients=" +
                      std::to_string(cfg.novel.num_clients) + " (novel clients have one width)");
  }
}

// novel.scheme=auto follows novel.alphas (what runs before the key meant).
void resolve_novel_scheme(Config& cfg) {
  if (cfg.novel.scheme == NovelScheme::kAuto) {
    cfg.novel.scheme = cfg.novel.alphas.empty() ? NovelScheme::kLast : NovelScheme::kShifted;
  }
}

void check_novel_alphas(const Config& cfg) {
  const auto& alphas = cfg.novel.alphas;
  const std::string scheme = "novel.scheme=" + to_string(cfg.novel.scheme);
  if (cfg.novel.scheme == NovelScheme::kLast) {
    if (!alphas.empty()) {
      throw ConfigError(scheme + " takes no novel.alphas (the novel clients are the last ones of " +
                        "the partition); drop novel.alphas or use novel.scheme=shifted or sets");
    }
    return;
  }
  if (alphas.empty()) {
    throw ConfigError(scheme + " needs novel.alphas, e.g. novel.alphas=[0.1,0.25,0.5,0.75,1.0]");
  }
  const std::string key = "novel.alphas=" + detail::float_list_text(alphas);
  for (const double a : alphas) {
    if (!(a > 0.0)) throw ConfigError(key + " is out of range: every alpha must be > 0");
  }
  if (cfg.novel.num_clients == 0) {
    throw ConfigError(key + " needs novel.num_clients > 0 (the alphas shape the novel clients)");
  }
}

void check_partition_file(const Config& cfg) {
  const bool from_file = cfg.client.partition == PartitionKind::kFile;
  if (from_file && cfg.client.partition_file.empty()) {
    throw ConfigError(
        "client.partition=file needs client.partition_file=PATH (a JSON file with "
        "every client's classes and proportions, e.g. a run's partition.json)");
  }
  if (!from_file && !cfg.client.partition_file.empty()) {
    throw ConfigError("client.partition_file is given but client.partition=" +
                      to_string(cfg.client.partition) + "; add client.partition=file to use it");
  }
}

void check_against_dataset(const Config& cfg, const data::DatasetInfo& ds) {
  const std::string of_dataset = " for dataset '" + ds.name + "'";
  if (cfg.dataset.val_size >= ds.train_size) {
    throw ConfigError("dataset.val_size=" + std::to_string(cfg.dataset.val_size) +
                      " is out of range" + of_dataset + ": must be < " +
                      std::to_string(ds.train_size) + " (its official training-set size)");
  }
  const bool holdout = cfg.dataset.test_split == TestSplit::kHoldout;
  const int64_t held_out = cfg.dataset.val_size + (holdout ? cfg.dataset.test_size : 0);
  if (holdout && held_out >= ds.train_size) {
    throw ConfigError("dataset.test_size=" + std::to_string(cfg.dataset.test_size) +
                      " with dataset.val_size=" + std::to_string(cfg.dataset.val_size) +
                      " leaves no training samples" + of_dataset + ": their sum must be < " +
                      std::to_string(ds.train_size) + " (its official training-set size)");
  }
  const int64_t train_samples = ds.train_size - held_out;
  if (cfg.client.num_nodes > train_samples) {
    throw ConfigError("client.num_nodes=" + std::to_string(cfg.client.num_nodes) +
                      " is out of range" + of_dataset + ": must be <= " +
                      std::to_string(train_samples) + " (training samples left after " +
                      (holdout ? "dataset.val_size and dataset.test_size)" : "dataset.val_size)"));
  }
  const int64_t per_node = cfg.client.num_classes_per_node;
  if (cfg.client.partition == PartitionKind::kClasses &&
      (per_node < 1 || per_node > ds.num_classes)) {
    throw ConfigError("client.num_classes_per_node=" + std::to_string(per_node) +
                      " is out of range" + of_dataset + ": must be in [1, " +
                      std::to_string(ds.num_classes) + "] with client.partition=classes");
  }
}

}  // namespace

void apply_older_run_defaults(Config& cfg) {
  if (cfg.explicit_keys.count("client.class_shares") == 0) {
    cfg.client.class_shares = ClassShares::kSpare;  // the count before the key (issue 30)
  }
}

void resolve_and_validate(Config& cfg) {
  const data::DatasetInfo& ds = require_dataset(cfg.dataset.data);
  derive_from_dataset(cfg, "model.in_channels", cfg.model.in_channels, ds.channels,
                      plural(ds.channels, "channel", "channels"));
  derive_from_dataset(cfg, "model.out_dim", cfg.model.out_dim, ds.num_classes,
                      plural(ds.num_classes, "class", "classes"));
  if (cfg.dataset.root.empty()) {
    throw ConfigError("dataset.root is empty: it must name the folder holding the datasets");
  }
  check_ranges(cfg);
  check_hetero_kernels(cfg);
  resolve_novel_scheme(cfg);
  check_novel_alphas(cfg);
  check_partition_file(cfg);
  if (cfg.client.clients_per_round > cfg.client.num_nodes) {
    throw ConfigError("client.clients_per_round=" + std::to_string(cfg.client.clients_per_round) +
                      " is out of range: must be <= client.num_nodes (" +
                      std::to_string(cfg.client.num_nodes) + ")");
  }
  if (cfg.novel.num_clients >= cfg.client.num_nodes ||
      cfg.client.clients_per_round > cfg.client.num_nodes - cfg.novel.num_clients) {
    throw ConfigError("novel.num_clients=" + std::to_string(cfg.novel.num_clients) +
                      " is out of range: it must leave at least client.clients_per_round (" +
                      std::to_string(cfg.client.clients_per_round) + ") of client.num_nodes (" +
                      std::to_string(cfg.client.num_nodes) + ") clients for training");
  }
  check_against_dataset(cfg, ds);
}

}  // namespace pfedhn::config
