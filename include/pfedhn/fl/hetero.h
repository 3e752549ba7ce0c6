#pragma once

// Heterogeneous target networks (paper Section 5.2): clients with different computational
// budgets get target networks of different widths from one hypernetwork. The config key
// model.hetero_kernels lists the widths (n_kernels); client i gets width
// hetero_kernels[i % n], a fixed, balanced assignment that depends on nothing else. Off (empty)
// is exactly the homogeneous model.n_kernels run.

#include <cstdint>
#include <string>
#include <vector>

#include "pfedhn/config/config.h"
#include "pfedhn/data/catalog.h"
#include "pfedhn/data/partition.h"
#include "pfedhn/eval/groups.h"
#include "pfedhn/models/target.h"

namespace pfedhn::fl {

inline bool is_hetero(const config::Config& cfg) {
  return !cfg.model.hetero_kernels.empty();
}

// The target specs one hypernetwork serves: one per entry of model.hetero_kernels, in that
// order, or the single model.n_kernels spec when hetero is off; for the dataset of `info`, or
// a built-in dataset's.
std::vector<models::TargetSpec> target_specs_from_config(const config::Config& cfg,
                                                         const data::DatasetInfo& info);
std::vector<models::TargetSpec> target_specs_from_config(const config::Config& cfg);

// Client i -> index into model.hetero_kernels (i % n); empty when hetero is off.
std::vector<int64_t> hetero_assignment(const config::Config& cfg);

// Multi-process runs (--workers, torchrun) send flat parameter vectors of one spec: refused
// with hetero. Throws UserError (one line) if `world_size` > 1 and hetero is on.
void check_hetero_world_size(const config::Config& cfg, int64_t world_size);

// Per-width reporting of a heterogeneous run: pooled accuracy of each width's clients in the
// log and metrics.csv (extra columns); io::RunSummary carries them
// into results.json. Reports nothing when hetero is off, so a
// homogeneous run's files are unchanged.
class HeteroReport {
 public:
  HeteroReport(const config::Config& cfg, const std::vector<data::ClientIndices>& clients);
  bool enabled() const { return !widths_.empty(); }

  std::vector<eval::GroupAccuracy> per_width(const eval::EvalRecord& record) const;
  // ",val_acc_k8,test_acc_k8,val_acc_k16,..." and the matching values; "" when off.
  std::string csv_header_suffix() const;
  std::string csv_row_suffix(const eval::EvalRecord& record) const;
  // "per width: k=8 (17 clients) val 0.9712 test 0.9698 | k=16 ..."; "" when off.
  std::string log_line(const eval::EvalRecord& record) const;
  const std::vector<int64_t>& widths() const { return widths_; }

 private:
  std::vector<int64_t> widths_;
  std::vector<int64_t> assignment_;
  std::vector<int64_t> val_samples_, test_samples_;
};

}  // namespace pfedhn::fl
