#pragma once

// TorchScript modules of pfedhn's networks (`pfedhn export`), built in C++ with no Python: a
// client's network, which Python loads with torch.jit.load and calls on [N, C, H, W] inputs,
// and the hypernetwork, which maps a client index or any embedding to target-network tensors.

#include <torch/script.h>

#include "pfedhn/models/hypernetwork.h"
#include "pfedhn/models/target.h"

namespace pfedhn::models {

// forward(x: Tensor) -> Tensor: the logits models::client_forward(net, x) computes. Parameters
// are the target tensors under their names with '.' as '_' (conv1_weight, ...) and, for
// pFedHN-PC, local_weight and local_bias. The copies live on the CPU. A scripted target's
// module is the user's own, holding the client's tensors as its parameters.
torch::jit::Module client_script_module(const ClientNetwork& net);

// The hypernetwork in eval mode (spectral norm with its stored vectors folded into the weights):
//   forward(client: int) -> Dict[str, Tensor]       the client's target tensors, by name
//   from_embedding(embedding: Tensor, spec: int = 0) -> Dict[str, Tensor]
//   spec_of(client: int) -> int                      the target spec (width) of a client
// Attributes: embeddings [clients, embedding_dim], widths (n_kernels of each spec), client_spec.
torch::jit::Module hypernetwork_script_module(const HyperNetworkImpl& hnet);

}  // namespace pfedhn::models
