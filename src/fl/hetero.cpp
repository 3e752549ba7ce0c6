#include "pfedhn/fl/hetero.h"

#include <fmt/format.h>

#include "pfedhn/data/catalog.h"
#include "pfedhn/fl/trainer.h"
#include "pfedhn/util/error.h"

namespace pfedhn::fl {

std::vector<models::TargetSpec> target_specs_from_config(const config::Config& cfg,
                                                         const data::DatasetInfo& info) {
  if (!is_hetero(cfg)) return {target_spec_from_config(cfg, info)};
  std::vector<models::TargetSpec> specs;
  config::Config one = cfg;
  for (const int64_t k : cfg.model.hetero_kernels) {
    one.model.n_kernels = k;
    specs.push_back(target_spec_from_config(one, info));
  }
  return specs;
}

std::vector<models::TargetSpec> target_specs_from_config(const config::Config& cfg) {
  const auto* info = data::find_dataset(cfg.dataset.data);
  TORCH_CHECK(info != nullptr, "unknown dataset ", cfg.dataset.data);
  return target_specs_from_config(cfg, *info);
}

std::vector<int64_t> hetero_assignment(const config::Config& cfg) {
  std::vector<int64_t> out;
  if (!is_hetero(cfg)) return out;
  const auto n = static_cast<int64_t>(cfg.model.hetero_kernels.size());
  for (int64_t i = 0; i < cfg.client.num_nodes; ++i) out.push_back(i % n);
  return out;
}

void check_hetero_world_size(const config::Config& cfg, int64_t world_size) {
  if (world_size > 1 && is_hetero(cfg)) {
    throw UserError(
        "model.hetero_kernels needs a single process: several processes (--workers, torchrun) "
        "are not supported with heterogeneous target networks");
  }
}

HeteroReport::HeteroReport(const config::Config& cfg,
                           const std::vector<data::ClientIndices>& clients)
    : widths_(cfg.model.hetero_kernels), assignment_(hetero_assignment(cfg)) {
  for (const auto& c : clients) {
    val_samples_.push_back(c.val.numel());
    test_samples_.push_back(c.test.numel());
  }
}

std::vector<eval::GroupAccuracy> HeteroReport::per_width(const eval::EvalRecord& record) const {
  if (!enabled()) return {};
  return eval::group_accuracy(record, assignment_, static_cast<int64_t>(widths_.size()),
                              val_samples_, test_samples_);
}

std::string HeteroReport::csv_header_suffix() const {
  std::string out;
  for (const int64_t k : widths_) out += fmt::format(",val_acc_k{},test_acc_k{}", k, k);
  return out;
}

std::string HeteroReport::csv_row_suffix(const eval::EvalRecord& record) const {
  std::string out;
  for (const auto& g : per_width(record)) {
    out += fmt::format(",{:.6f},{:.6f}", g.val_accuracy, g.test_accuracy);
  }
  return out;
}

std::string HeteroReport::log_line(const eval::EvalRecord& record) const {
  std::string out;
  const auto groups = per_width(record);
  for (size_t s = 0; s < groups.size(); ++s) {
    out +=
        fmt::format("{}k={} ({} clients) val {:.4f} test {:.4f}", s == 0 ? "per width: " : " | ",
                    widths_[s], groups[s].clients, groups[s].val_accuracy, groups[s].test_accuracy);
  }
  return out;
}

}  // namespace pfedhn::fl
