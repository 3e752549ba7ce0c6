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

// torch::conv2d(x, w, b) (stride 1, no padding) for a one-channel image batch x [N, 1, H, W] that
// needs no gradient (the data), returned in channels-last memory, with autograd for w and b. At
// MNIST's first layer (7 output channels of 26x26) oneDNN spends most of its time on layout and
// answers in NCHW; this direct AVX2 kernel, 8 output channels per FMA, writes channels-last for
// relu_max_pool2x2. See target_forward for the measured gain.
torch::Tensor conv2d_one_channel(const torch::Tensor& x, const torch::Tensor& w,
                                 const torch::Tensor& b);

// Whether conv2d_one_channel takes these: CPU floats, x contiguous without gradient, square
// kernels of 3 or 5, and a CPU with AVX2 and FMA (checked once, at run time).
bool conv2d_one_channel_supports(const torch::Tensor& x, const torch::Tensor& w,
                                 const torch::Tensor& b);

}  // namespace pfedhn::models
