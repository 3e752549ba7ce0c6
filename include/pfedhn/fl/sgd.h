#pragma once

#include <torch/torch.h>

#include <vector>

namespace pfedhn::fl {

struct SgdHyper {
  double lr = 0.0;
  double momentum = 0.0;
  double weight_decay = 0.0;
};

// The L2 norm of all the tensors taken together, as clip_grad_norm_ measures it.
double global_norm(const std::vector<torch::Tensor>& tensors);

// clip_grad_norm_'s factor: max_norm / (norm + 1e-6), at most 1.
double clip_coefficient(double norm, double max_norm);

// One torch::optim::SGD update (dampening 0, no Nesterov) of `param`, whose gradient is first
// multiplied by `grad_scale` (a clip coefficient):
//   d = grad_scale * grad + weight_decay * param
//   buffer = d on the first step (undefined buffer; it is created), else momentum * buffer + d
//   param -= lr * buffer
// On the CPU this is one pass over memory instead of the five whole-tensor ops that clipping and
// SGD take one after another; the hypernetwork's heads are tens of MB, so the passes, not the
// arithmetic, are the cost. Equal to those ops up to float rounding. `grad` is left unchanged.
void sgd_update(const torch::Tensor& param, const torch::Tensor& grad,
                torch::Tensor& momentum_buffer, double grad_scale, const SgdHyper& hyper);

}  // namespace pfedhn::fl
