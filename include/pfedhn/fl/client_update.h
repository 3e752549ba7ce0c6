#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>

#include "pfedhn/data/dataset.h"
#include "pfedhn/models/hypernetwork.h"
#include "pfedhn/models/target.h"

namespace pfedhn::fl {

struct ClientUpdateOptions {
  int64_t inner_steps = 50;
  int64_t batch_size = 64;
  double lr = 5e-3;
  double momentum = 0.9;
  double weight_decay = 5e-5;
  double grad_clip = 50.0;
};

// What a pFedHN-PC client keeps between rounds: its local layer and that layer's optimiser
// (momentum buffers persist across rounds, as in the authors' code).
struct LocalState {
  models::LocalLayer layer{nullptr};
  std::unique_ptr<torch::optim::SGD> optimizer;
};
LocalState make_local_state(int64_t out_dim, uint64_t init_seed, const ClientUpdateOptions& opts,
                            const torch::Device& device);
// The local state of a client of `spec` (with_head false): the built-in Linear(84, out_dim)
// drawn from `init_seed`, or a scripted target's local layer from the module's saved values.
LocalState make_local_state(const models::TargetSpec& spec, uint64_t init_seed,
                            const ClientUpdateOptions& opts, const torch::Device& device);

// A client's logits while it trains: the target network with `theta`, with the pFedHN-PC local
// layer of `local` if not null.
torch::Tensor training_forward(const models::TargetSpec& spec, const models::Weights& theta,
                               const LocalState* local, const torch::Tensor& x);

// A local state (layer and optimiser) as bytes, and back into an existing state of the same
// shape (throws c10::Error on a mismatch). Used to move it between processes.
std::string encode_local_state(const LocalState& state);
void decode_local_state(LocalState& state, const std::string& bytes);

struct ClientUpdateResult {
  models::Weights delta;   // theta - theta_tilde, detached (reference page, "One round", step 4)
  double mean_loss = 0.0;  // mean training loss over the inner steps
  double accuracy = 0.0;   // training accuracy over the inner steps' batches
};

// One client's local training (reference page, "One round", step 3): `inner_steps` SGD steps
// on batches of `batch_size` distinct samples drawn afresh from the client's training indices,
// starting from a copy of `theta`, with a fresh optimiser. `local` (pFedHN-PC only, else null)
// is trained alongside. All randomness comes from Rng(stream_seed) (a scripted target's random
// ops, e.g. dropout, from LibTorch's default generator seeded from it).
ClientUpdateResult client_update(const models::TargetSpec& spec, const models::Weights& theta,
                                 const data::Split& train, const torch::Tensor& client_indices,
                                 LocalState* local, const ClientUpdateOptions& opts,
                                 uint64_t stream_seed);

}  // namespace pfedhn::fl
