#pragma once

#include <cstdint>
#include <vector>

#include "pfedhn/eval/evaluator.h"

namespace pfedhn::eval {

// The pooled accuracy of one group of clients (e.g. the clients of one target-network width).
struct GroupAccuracy {
  int64_t clients = 0;
  int64_t val_correct = 0, val_total = 0;
  int64_t test_correct = 0, test_total = 0;
  double val_accuracy = 0.0, test_accuracy = 0.0;  // NaN for a group without samples
};

// Pooled val and test accuracy of each group of an evaluation: client c belongs to group
// group_of[c] in [0, num_groups). A client's correct count is its accuracy times its sample
// count, rounded (exact: the accuracy is correct / total in double). Throws std::invalid_argument
// if the sizes disagree or a group index is out of range.
std::vector<GroupAccuracy> group_accuracy(const EvalRecord& record,
                                          const std::vector<int64_t>& group_of, int64_t num_groups,
                                          const std::vector<int64_t>& val_samples,
                                          const std::vector<int64_t>& test_samples);

}  // namespace pfedhn::eval
