#include "pfedhn/app/export.h"

#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <set>

#include "pfedhn/app/run_check.h"
#include "pfedhn/app/runtime.h"
#include "pfedhn/app/train.h"
#include "pfedhn/eval/evaluator.h"
#include "pfedhn/fl/trainer.h"
#include "pfedhn/io/export.h"
#include "pfedhn/io/run_dir.h"
#include "pfedhn/models/torchscript.h"
#include "pfedhn/util/error.h"

namespace pfedhn::app {
namespace fs = std::filesystem;
namespace {

int64_t parse_client(const std::string& entry, const std::string& text, int64_t num_clients) {
  if (entry.empty()) {
    throw UserError("--clients '" + text +
                    "': an empty entry (expected all, or a list such as 0,3,5-9)");
  }
  size_t used = 0;
  int64_t c = -1;
  try {
    c = std::stoll(entry, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != entry.size() || entry.empty() || c < 0 || c >= num_clients) {
    throw UserError(fmt::format("--clients '{}': '{}' is not a client of this run (0 to {})", text,
                                entry, num_clients - 1));
  }
  return c;
}

// The checkpoint to export: --checkpoint FILE or the run's newest usable one, checked to belong
// to the run (app/run_check.h), so that its models are never paired with another run's test
// samples in the manifest.
io::LoadedCheckpoint chosen_checkpoint(const ExportOptions& options, const RunConfigs& configs) {
  io::LoadedCheckpoint checkpoint;
  if (!options.checkpoint) {
    checkpoint = newest_usable_checkpoint(options.run_dir);
  } else {
    try {
      checkpoint = io::read_checkpoint(*options.checkpoint);
    } catch (const io::CheckpointError& e) {
      throw UserError(std::string("--checkpoint: ") + e.what());
    }
  }
  check_run_consistency(options.run_dir, checkpoint, configs,
                        {"export", /*more_rounds=*/false, {}});
  return checkpoint;
}

// The client's test samples as positions in the official file they came from.
std::vector<int64_t> official_positions(const data::DatasetSplits& splits,
                                        const torch::Tensor& split_indices) {
  const auto idx = split_indices.cpu();
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(idx.numel()));
  for (int64_t k = 0; k < idx.numel(); ++k) {
    out.push_back(splits.test_indices.at(static_cast<size_t>(idx[k].item<int64_t>())));
  }
  return out;
}

io::ExportManifest manifest_header(const config::Config& cfg, const data::DatasetSplits& splits,
                                   const io::LoadedCheckpoint& checkpoint) {
  const auto& info = *splits.info;
  io::ExportManifest m;
  m.dataset = info.name;
  m.source = info.source;
  m.class_names = info.class_names;
  m.mean = info.mean;
  m.std = info.std;
  m.input_shape = {info.channels, info.height, info.width};
  m.num_classes = info.num_classes;
  m.algorithm = config::to_string(cfg.algorithm);
  m.round = checkpoint.loop.next_round - 1;
  m.checkpoint = checkpoint.path.string();
  m.test_split = config::to_string(cfg.dataset.test_split);
  return m;
}

// Writes client_<c>.pt and returns its manifest entry, with pfedhn's accuracy of the network
// the module holds on the client's test split.
io::ExportedClient export_client(fl::Algorithm& algorithm, int64_t c, const fs::path& out,
                                 const data::DatasetSplits& splits, int64_t first_novel,
                                 int64_t batch_size) {
  const models::ClientNetwork net = algorithm.client_network(c);
  io::ExportedClient e;
  e.client = c;
  e.file = fmt::format("client_{}.pt", c);
  e.n_kernels = net.spec.n_kernels;
  e.novel = c >= first_novel;
  io::save_script_module(models::client_script_module(net), out / e.file);
  const auto& test = algorithm.clients()[static_cast<size_t>(c)].test;
  e.test_indices = official_positions(splits, test);
  const auto counts = eval::evaluate_client(
      [&](const torch::Tensor& x) {
        torch::NoGradGuard no_grad;
        return models::client_forward(net, x);
      },
      splits.test, test, batch_size);
  e.test_correct = counts.correct;
  e.test_accuracy = counts.total > 0
                        ? static_cast<double>(counts.correct) / static_cast<double>(counts.total)
                        : 0.0;
  return e;
}

}  // namespace

std::vector<int64_t> parse_client_list(const std::string& text, int64_t num_clients) {
  std::vector<int64_t> out;
  if (text == "all") {
    for (int64_t c = 0; c < num_clients; ++c) out.push_back(c);
    return out;
  }
  std::set<int64_t> seen;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    const std::string entry = text.substr(start, comma - start);
    const size_t dash = entry.find('-', 1);
    const int64_t first = parse_client(entry.substr(0, dash), text, num_clients);
    const int64_t last =
        dash == std::string::npos ? first : parse_client(entry.substr(dash + 1), text, num_clients);
    if (last < first) throw UserError("--clients '" + text + "': empty range '" + entry + "'");
    for (int64_t c = first; c <= last; ++c) {
      if (seen.insert(c).second) out.push_back(c);
    }
    start = comma + 1;
  }
  return out;
}

int run_export(const ExportOptions& options) {
  const RunConfigs configs = read_run_configs(options.run_dir, {});
  const config::Config& cfg = configs.now;
  const io::LoadedCheckpoint checkpoint = chosen_checkpoint(options, configs);
  const fs::path out = options.out ? *options.out : options.run_dir / "export";
  const auto clients = parse_client_list(options.clients, cfg.client.num_nodes);
  io::check_output_dir(out, options.overwrite, "--out");
  set_thread_count(cfg.num_threads);
  const torch::Device device = select_device(cfg.device);
  const RunData run_data = load_run_data(cfg, device, options.run_dir);
  auto algorithm =
      load_trained_algorithm(cfg, run_data.splits, run_data.clients, device, checkpoint);
  io::prepare_output_dir(out, options.overwrite, "--out");

  io::ExportManifest manifest = manifest_header(cfg, run_data.splits, checkpoint);
  const int64_t first_novel = fl::num_training_clients(cfg);
  for (const int64_t c : clients) {
    manifest.clients.push_back(
        export_client(*algorithm, c, out, run_data.splits, first_novel, cfg.eval_batch_size));
  }
  if (auto* trainer = dynamic_cast<fl::Trainer*>(algorithm.get())) {
    manifest.hypernetwork_file = "hypernetwork.pt";
    trainer->hypernetwork()->eval();
    io::save_script_module(models::hypernetwork_script_module(*trainer->hypernetwork()),
                           out / manifest.hypernetwork_file);
  }
  io::write_export_manifest(out / "manifest.json", manifest);

  int64_t correct = 0, total = 0;
  for (const auto& e : manifest.clients) {
    correct += e.test_correct;
    total += static_cast<int64_t>(e.test_indices.size());
  }
  std::cout << fmt::format(
      "exported {} client model(s){} of {} (round {}) to {}: pooled test accuracy {:.4f}\n",
      clients.size(), manifest.hypernetwork_file.empty() ? "" : " and the hypernetwork",
      manifest.algorithm, manifest.round, out.string(),
      total > 0 ? static_cast<double>(correct) / static_cast<double>(total) : 0.0);
  return 0;
}

}  // namespace pfedhn::app
