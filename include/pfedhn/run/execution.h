#pragma once

// Where a run's client updates and evaluations happen: in this process, or spread over the ranks
// of a c10d/Gloo cluster (fl/distributed.h). The run loop calls an Execution and never asks which.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pfedhn/data/dataset.h"
#include "pfedhn/data/partition.h"
#include "pfedhn/eval/evaluator.h"
#include "pfedhn/fl/algorithm.h"
#include "pfedhn/fl/distributed.h"
#include "pfedhn/fl/trainer.h"
#include "pfedhn/io/results.h"

namespace pfedhn::run {

class Execution {
 public:
  virtual ~Execution() = default;

  virtual fl::RoundReport run_round(int64_t round) = 0;
  // Every training client's val and test split (the authors' protocol, eval/evaluator.h).
  virtual eval::EvalRecord evaluate(int64_t round, int64_t batch_size) = 0;

  // State that lives on other ranks (pFedHN-PC's local layers): sent out after the model is
  // loaded from a checkpoint, collected before a checkpoint is written.
  virtual void after_resume() {}
  virtual void before_checkpoint() {}
  // The run is over (finished or stopped by a signal): releases the other ranks.
  virtual void stop() {}
  // Adds what this execution knows to run_info.json; returns a line for the log, if any.
  virtual std::optional<std::string> report(io::RunInfo& /*info*/, int64_t /*rounds_run*/) {
    return std::nullopt;
  }
};

// Everything in this process: the algorithm's own round and the evaluation of its clients.
class InProcess : public Execution {
 public:
  InProcess(fl::Algorithm& algorithm, const data::DatasetSplits& splits,
            const std::vector<data::ClientIndices>& eval_clients);
  fl::RoundReport run_round(int64_t round) override;
  eval::EvalRecord evaluate(int64_t round, int64_t batch_size) override;

 private:
  fl::Algorithm& algorithm_;
  const data::DatasetSplits& splits_;
  const std::vector<data::ClientIndices>& eval_clients_;
};

// Rank 0 of a cluster: each round's client updates and the evaluation are spread over all ranks.
// pFedHN and pFedHN-PC only (the baselines refuse several processes before a run starts).
class OverCluster : public Execution {
 public:
  OverCluster(fl::Cluster& cluster, fl::Trainer& trainer);
  fl::RoundReport run_round(int64_t round) override;
  eval::EvalRecord evaluate(int64_t round, int64_t batch_size) override;
  void after_resume() override;
  void before_checkpoint() override;
  void stop() override;
  std::optional<std::string> report(io::RunInfo& info, int64_t rounds_run) override;

 private:
  fl::Cluster& cluster_;
  fl::Trainer& trainer_;
};

// OverCluster when `cluster` is given (the algorithm must then be an fl::Trainer), else InProcess.
std::unique_ptr<Execution> make_execution(fl::Algorithm& algorithm, fl::Cluster* cluster,
                                          const data::DatasetSplits& splits,
                                          const std::vector<data::ClientIndices>& eval_clients);

}  // namespace pfedhn::run
