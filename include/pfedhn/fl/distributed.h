#pragma once

// Multi-process training over torch.distributed's engine (c10d, Gloo backend, TCPStore
// rendezvous). Rank 0 is the server: it owns the hypernetwork, the optimiser, client sampling,
// evaluation and every file. Every rank (rank 0 included) runs client updates: per round, rank
// 0 sends each worker the generated weights theta of the clients it runs and gets back
// delta_theta; nothing else crosses the wire for training. A client update is a pure function
// of (theta, data, stream seed), so the result equals the single-process run with the same
// clients_per_round.
//
// Who runs what: pFedHN: the k-th client of a round runs on rank k % world (balanced).
// pFedHN-PC: client c always runs on rank c % world, which keeps its local layer and that
// layer's optimiser; rank 0 gathers them only to write a checkpoint and scatters them after
// a resume, so a checkpoint is the same file as a single-process one and a run can be resumed
// with any number of ranks. Evaluation: client c is evaluated on rank c % world.

#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pfedhn/config/config.h"
#include "pfedhn/eval/evaluator.h"
#include "pfedhn/fl/trainer.h"

namespace pfedhn::fl {

// torchrun's environment: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, LOCAL_RANK.
struct DistEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
};

// The environment's DistEnv when WORLD_SIZE (or RANK) is set, else none. Throws UserError
// naming the variable for a malformed or inconsistent value.
std::optional<DistEnv> dist_env_from_environment();

// A stable hash (FNV-1a 64, hex) of the config's keys that change results, plus the pfedhn
// version. Keys that never change results (config::changes_results) and dataset.root (a
// machine's own path) are left out.
std::string config_fingerprint(const config::Config& cfg);

// Payload bytes that crossed the wire, as seen by this rank.
struct TrafficCounters {
  int64_t train_sent = 0, train_received = 0;  // theta out, delta_theta (+ 2 stats) in
  int64_t eval_sent = 0, eval_received = 0;    // evaluation: theta out, counts in
  int64_t state_sent = 0, state_received = 0;  // pFedHN-PC local layers (checkpoint, resume)
  int64_t control = 0;                         // command headers, both ways
};

class Communicator;

// One rank's end of the group. Start-up is rendezvous through the TCPStore at
// master_addr:master_port (rank 0 serves it, unless torchrun's agent does), then the config
// check (each worker's fingerprint must equal rank 0's, else every rank throws UserError naming
// the first differing key), then the Gloo process group. Every wait on another rank is bounded
// by `timeout` on rank 0; a rank that dies, hangs or disconnects raises RankFailure naming it.
class Cluster {
 public:
  // Rank 0: creates (or, under torchrun, joins) the store; port() is then known, so that local
  // workers can be spawned before connect(). Workers: nothing happens until connect().
  Cluster(const DistEnv& env, const config::Config& cfg, std::chrono::seconds timeout);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // The config check and the process group. `adopt_config`: a worker takes rank 0's config
  // instead of checking its own (for --resume, where only rank 0 has the run directory).
  // `poll` is called while rank 0 waits for the workers to check in; it may throw (e.g. when a
  // spawned worker has exited).
  void connect(bool adopt_config = false, const std::function<void()>& poll = {});

  int rank() const;
  int world_size() const;
  int port() const;
  const config::Config& config() const { return cfg_; }  // rank 0's after adopt_config

  // --- rank 0 -------------------------------------------------------------------------------
  // One round with its client updates spread over the ranks; same result as
  // trainer.run_round(round) with the same clients_per_round.
  RoundReport run_round(Trainer& trainer, int64_t round);
  // Every client evaluated on rank c % world; same record as eval::evaluate_all.
  eval::EvalRecord evaluate(Trainer& trainer, int64_t round, int64_t batch_size);
  // pFedHN-PC: brings the workers' local states into rank 0's trainer (before a checkpoint), or
  // sends rank 0's to the workers (after loading one). No-ops for pFedHN.
  void gather_local_states(Trainer& trainer);
  void scatter_local_states(Trainer& trainer);
  // Tells the workers to return from work().
  void stop_workers();
  const TrafficCounters& traffic() const { return traffic_; }

  // --- worker ranks -------------------------------------------------------------------------
  // Answers rank 0's commands until it says stop. Throws RankFailure(0, ...) if rank 0 goes.
  void work(Trainer& trainer);

  // The rank that runs the `slot`-th client of a round.
  static int rank_for_update(int64_t slot, int64_t client, int world_size, bool pc);
  // The rank that evaluates (and, for pFedHN-PC, owns) a client.
  static int owner_of(int64_t client, int world_size) {
    return static_cast<int>(client % world_size);
  }

 private:
  void exchange_local_states(Trainer& trainer, bool gather);
  std::unique_ptr<Communicator> comm_;
  DistEnv env_;
  config::Config cfg_;
  std::chrono::seconds timeout_;
  TrafficCounters traffic_;
};

}  // namespace pfedhn::fl
