#pragma once

#include <torch/torch.h>

namespace pfedhn::models {

// max_pool2d(relu(x), 2) in one pass, with autograd. x is float [N, C, H, W], contiguous or
// channels-last (the output keeps x's memory format); odd sizes are floored like max_pool2d.
// ReLU and max commute, so pooling first and clamping the 4x smaller result is the same
// function; the gradient matches relu -> max_pool2d exactly (it goes to the first maximum of
// each window in row-major order, and nowhere when that maximum is <= 0). NaN propagates.
torch::Tensor relu_max_pool2x2(const torch::Tensor& x);

}  // namespace pfedhn::models
