#include "pfedhn/run/execution.h"

#include <fmt/format.h>

namespace pfedhn::run {

InProcess::InProcess(fl::Algorithm& algorithm, const data::DatasetSplits& splits,
                     const std::vector<data::ClientIndices>& eval_clients)
    : algorithm_(algorithm), splits_(splits), eval_clients_(eval_clients) {}

fl::RoundReport InProcess::run_round(int64_t round) {
  return algorithm_.run_round(round);
}

eval::EvalRecord InProcess::evaluate(int64_t round, int64_t batch_size) {
  return eval::evaluate_all(
      round, [&](int64_t c) { return algorithm_.client_model(c); }, splits_, eval_clients_,
      batch_size);
}

OverCluster::OverCluster(fl::Cluster& cluster, fl::Trainer& trainer)
    : cluster_(cluster), trainer_(trainer) {}

fl::RoundReport OverCluster::run_round(int64_t round) {
  return cluster_.run_round(trainer_, round);
}

eval::EvalRecord OverCluster::evaluate(int64_t round, int64_t batch_size) {
  return cluster_.evaluate(trainer_, round, batch_size);
}

void OverCluster::after_resume() {
  cluster_.scatter_local_states(trainer_);
}

void OverCluster::before_checkpoint() {
  cluster_.gather_local_states(trainer_);
}

void OverCluster::stop() {
  cluster_.stop_workers();
}

std::optional<std::string> OverCluster::report(io::RunInfo& info, int64_t rounds_run) {
  const auto& t = cluster_.traffic();
  info.world_size = cluster_.world_size();
  info.rounds_in_this_process = rounds_run;
  info.train_bytes_sent = t.train_sent;
  info.train_bytes_received = t.train_received;
  info.eval_bytes = t.eval_sent + t.eval_received;
  info.other_bytes = t.state_sent + t.state_received + t.control;
  if (rounds_run <= 0) return std::nullopt;
  const double per_round =
      static_cast<double>(t.train_sent + t.train_received) / static_cast<double>(rounds_run);
  info.train_bytes_per_round = per_round;
  const int64_t params = trainer_.target_spec().num_parameters();
  return fmt::format(
      "communication over {} ranks: {:.0f} bytes per round for training (theta out, "
      "delta_theta in; {} bytes per remote client update = 2 x 4 x {} parameters + 16), "
      "{} bytes for evaluations, {} bytes else",
      cluster_.world_size(), per_round, 8 * params + 16, params, info.eval_bytes, info.other_bytes);
}

std::unique_ptr<Execution> make_execution(fl::Algorithm& algorithm, fl::Cluster* cluster,
                                          const data::DatasetSplits& splits,
                                          const std::vector<data::ClientIndices>& eval_clients) {
  if (cluster == nullptr) return std::make_unique<InProcess>(algorithm, splits, eval_clients);
  auto* trainer = dynamic_cast<fl::Trainer*>(&algorithm);
  TORCH_CHECK(trainer != nullptr, "a cluster needs a hypernetwork");
  return std::make_unique<OverCluster>(*cluster, *trainer);
}

}  // namespace pfedhn::run
