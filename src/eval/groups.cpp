#include "pfedhn/eval/groups.h"

#include <cmath>
#include <limits>
#include <stdexcept>

namespace pfedhn::eval {
namespace {

int64_t correct_of(double accuracy, int64_t total) {
  return total == 0 ? 0 : std::llround(accuracy * static_cast<double>(total));
}

double ratio(int64_t correct, int64_t total) {
  return total == 0 ? std::numeric_limits<double>::quiet_NaN()
                    : static_cast<double>(correct) / static_cast<double>(total);
}

}  // namespace

std::vector<GroupAccuracy> group_accuracy(const EvalRecord& record,
                                          const std::vector<int64_t>& group_of, int64_t num_groups,
                                          const std::vector<int64_t>& val_samples,
                                          const std::vector<int64_t>& test_samples) {
  const size_t n = group_of.size();
  if (record.val.client_accuracy.size() != n || record.test.client_accuracy.size() != n ||
      val_samples.size() != n || test_samples.size() != n) {
    throw std::invalid_argument("group_accuracy: one group and sample count per client needed");
  }
  std::vector<GroupAccuracy> groups(static_cast<size_t>(num_groups));
  for (size_t c = 0; c < n; ++c) {
    if (group_of[c] < 0 || group_of[c] >= num_groups) {
      throw std::invalid_argument("group_accuracy: group index out of range");
    }
    auto& g = groups[static_cast<size_t>(group_of[c])];
    ++g.clients;
    g.val_correct += correct_of(record.val.client_accuracy[c], val_samples[c]);
    g.val_total += val_samples[c];
    g.test_correct += correct_of(record.test.client_accuracy[c], test_samples[c]);
    g.test_total += test_samples[c];
  }
  for (auto& g : groups) {
    g.val_accuracy = ratio(g.val_correct, g.val_total);
    g.test_accuracy = ratio(g.test_correct, g.test_total);
  }
  return groups;
}

}  // namespace pfedhn::eval
