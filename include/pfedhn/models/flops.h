#pragma once

#include <cstdint>

#include "pfedhn/models/hypernetwork.h"
#include "pfedhn/models/target.h"

namespace pfedhn::models {

// Floating-point operations (multiply and add counted separately) of the dense work only:
// convolutions and linear layers. Activations, pooling and the optimiser are ignored, so these
// are lower bounds that make achieved GFLOP/s comparable across implementations. A scripted
// target's layers are not known: its forward and train counts are 0.

// One sample through the target network (plus the pFedHN-PC local layer if `local_out_dim` > 0).
int64_t target_forward_flops(const TargetSpec& spec, int64_t local_out_dim = 0);

// One sample's training step: forward, gradient w.r.t. the input of every layer but the first,
// and w.r.t. every weight (each costs about one forward of that layer).
int64_t target_train_flops(const TargetSpec& spec, int64_t local_out_dim = 0);

// One client's weights from the hypernetwork (embedding -> MLP -> heads).
int64_t hypernetwork_forward_flops(const TargetSpec& spec, const HyperNetworkOptions& options);

// The vector-Jacobian product back to every hypernetwork parameter for one client.
int64_t hypernetwork_backward_flops(const TargetSpec& spec, const HyperNetworkOptions& options);

}  // namespace pfedhn::models
