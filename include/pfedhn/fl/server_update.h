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

// torch::optim::SGD::step on gradients first multiplied by `grad_scale` (a clip coefficient),
// keeping the momentum buffers in the optimiser's own state (so checkpoints do not change), but
// with each parameter updated in one pass (fl::sgd_update) and no temporaries: the
// hypernetwork's heads are tens of MB, and five passes plus allocations per round were a tenth
// of an MNIST round. The gradients are left unchanged.
void sgd_step_in_place(torch::optim::SGD& optimizer, double grad_scale = 1.0);

// The hypernetwork step (reference page, "One round", step 5): the gradient of phi is the
// vector-Jacobian product (d theta_k / d phi)^T delta_k, averaged over the K clients of the
// round; its global norm is clipped to `grad_clip`; one optimiser step. `thetas[k]` must carry
// the autograd graph from the hypernetwork forward. Returns the gradient norm before clipping.
double server_update(models::HyperNetwork& hnet, torch::optim::SGD& optimizer,
                     const std::vector<models::Weights>& thetas,
                     const std::vector<models::Weights>& deltas, double grad_clip);

}  // namespace pfedhn::fl
