#include "pfedhn/eval/evaluator.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace pfedhn::eval {

ClientCounts evaluate_client(const ClientModel& model, const data::Split& split,
                             const torch::Tensor& indices, int64_t batch_size) {
  torch::NoGradGuard no_grad;
  ClientCounts counts;
  const int64_t n = indices.numel();
  counts.total = n;
  if (n == 0) return counts;
  const auto device = split.device();
  const auto idx_all = indices.to(device);
  torch::Tensor loss_sum =
      torch::zeros({}, torch::TensorOptions().dtype(torch::kDouble).device(device));
  torch::Tensor correct =
      torch::zeros({}, torch::TensorOptions().dtype(torch::kLong).device(device));
  for (int64_t start = 0; start < n; start += batch_size) {
    const auto idx = idx_all.slice(0, start, std::min(n, start + batch_size));
    const auto y = split.y.index_select(0, idx);
    const auto logits = model(split.gather(idx));
    loss_sum +=
        torch::nn::functional::cross_entropy(
            logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
            .to(torch::kDouble);
    correct += logits.argmax(1).eq(y).sum();
  }
  counts.correct = correct.item<int64_t>();
  counts.loss_sum = loss_sum.item<double>();
  return counts;
}

SplitMetrics summarise(const std::vector<ClientCounts>& clients) {
  SplitMetrics m;
  double loss_mean_sum = 0.0, acc_sum = 0.0, acc_sq_sum = 0.0;
  int64_t non_empty = 0;
  m.min_accuracy = std::numeric_limits<double>::infinity();
  m.max_accuracy = -std::numeric_limits<double>::infinity();
  for (const auto& c : clients) {
    m.correct += c.correct;
    m.total += c.total;
    if (c.total == 0) {
      m.client_accuracy.push_back(std::numeric_limits<double>::quiet_NaN());
      continue;
    }
    const double acc = static_cast<double>(c.correct) / static_cast<double>(c.total);
    m.client_accuracy.push_back(acc);
    m.min_accuracy = std::min(m.min_accuracy, acc);
    m.max_accuracy = std::max(m.max_accuracy, acc);
    acc_sum += acc;
    acc_sq_sum += acc * acc;
    loss_mean_sum += c.loss_sum / static_cast<double>(c.total);
    ++non_empty;
  }
  if (non_empty == 0) {
    m.min_accuracy = m.max_accuracy = m.std_accuracy = m.mean_loss = m.accuracy =
        std::numeric_limits<double>::quiet_NaN();
    return m;
  }
  const double n = static_cast<double>(non_empty);
  const double mean = acc_sum / n;
  m.std_accuracy = std::sqrt(std::max(0.0, acc_sq_sum / n - mean * mean));
  m.mean_loss = loss_mean_sum / n;
  m.accuracy = static_cast<double>(m.correct) / static_cast<double>(m.total);
  return m;
}

EvalRecord evaluate_all(int64_t round, const std::function<ClientModel(int64_t)>& model_for,
                        const data::DatasetSplits& data,
                        const std::vector<data::ClientIndices>& clients, int64_t batch_size) {
  std::vector<ClientCounts> val, test;
  val.reserve(clients.size());
  test.reserve(clients.size());
  for (size_t i = 0; i < clients.size(); ++i) {
    const ClientModel model = model_for(static_cast<int64_t>(i));
    val.push_back(evaluate_client(model, data.val, clients[i].val, batch_size));
    test.push_back(evaluate_client(model, data.test, clients[i].test, batch_size));
  }
  EvalRecord record;
  record.round = round;
  record.val = summarise(val);
  record.test = summarise(test);
  return record;
}

bool BestTracker::update(const EvalRecord& record) {
  if (has_best && !(record.val.accuracy > best.val.accuracy)) return false;
  has_best = true;
  best = record;
  return true;
}

}  // namespace pfedhn::eval
