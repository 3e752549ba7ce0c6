#pragma once

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "pfedhn/models/hypernetwork.h"

namespace pfedhn::fl {

struct ServerOptimizerOptions {
  double lr = 1e-2;
  double embed_lr = 1e-2;
  double momentum = 0.9;
  double weight_decay = 1e-3;
};

// SGD over the hypernetwork with two parameter groups: the network, and the embedding table
// (with its own lr), as in the authors' code.
std::unique_ptr<torch::optim::SGD> make_server_optimizer(models::HyperNetwork& hnet,
                                                         const ServerOptimizerOptions& opts);

// Exactly torch::optim::SGD::step (same operations, same state, so checkpoints and results do
// not change) but the weight decay is added into each gradient in place instead of into a new
// tensor: the hypernetwork's gradients are as large as its heads (tens of MB), and allocating
// that per round costs page faults. The gradients are consumed (overwritten).
void sgd_step_in_place(torch::optim::SGD& optimizer);

// The hypernetwork step (reference page, "One round", step 5): the gradient of phi is the
// vector-Jacobian product (d theta_k / d phi)^T delta_k, averaged over the K clients of the
// round; its global norm is clipped to `grad_clip`; one optimiser step. `thetas[k]` must carry
// the autograd graph from the hypernetwork forward. Returns the gradient norm before clipping.
double server_update(models::HyperNetwork& hnet, torch::optim::SGD& optimizer,
                     const std::vector<models::Weights>& thetas,
                     const std::vector<models::Weights>& deltas, double grad_clip);

}  // namespace pfedhn::fl
