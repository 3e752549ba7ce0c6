#pragma once

#include <torch/torch.h>

namespace pfedhn::models {

// relu(max_pool2d(x, 2)) with autograd, for a float [N, C, H, W] CPU tensor in channels-last
// memory (odd sizes are floored like max_pool2d). Function and gradient equal
// torch::relu(torch::max_pool2d(x, 2)) exactly: the gradient goes to the first maximum of each
// window in row-major order (ties are common: blank image regions give equal activations), and
// nowhere where that maximum is <= 0 or NaN; NaN propagates to the output.
// Branch-free, so random data costs no mispredicted branches; see target_forward for where it
// beats LibTorch's pool.
torch::Tensor relu_max_pool2x2(const torch::Tensor& x);

// Whether relu_max_pool2x2 takes x (CPU, float, 4-d, channels-last, at least 2x2).
bool relu_max_pool2x2_supports(const torch::Tensor& x);

}  // namespace pfedhn::models
