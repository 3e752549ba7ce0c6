#include "pfedhn/fl/sgd.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>

namespace pfedhn::fl {
namespace {

bool fusable(const torch::Tensor& t) {
  return t.device().is_cpu() && t.scalar_type() == torch::kFloat && t.is_contiguous();
}

void sgd_update_cpu(const torch::Tensor& param, const torch::Tensor& grad, torch::Tensor& buffer,
                    bool first, float scale, const SgdHyper& h) {
  float* __restrict p = param.data_ptr<float>();
  const float* __restrict g = grad.data_ptr<float>();
  float* __restrict b = buffer.data_ptr<float>();
  const float wd = static_cast<float>(h.weight_decay), m = static_cast<float>(h.momentum),
              lr = static_cast<float>(h.lr);
  at::parallel_for(0, param.numel(), 1 << 15, [&](int64_t begin, int64_t end) {
    if (first) {
      for (int64_t i = begin; i < end; ++i) {
        const float d = scale * g[i] + wd * p[i];
        b[i] = d;
        p[i] -= lr * d;
      }
    } else {
      for (int64_t i = begin; i < end; ++i) {
        const float v = m * b[i] + (scale * g[i] + wd * p[i]);
        b[i] = v;
        p[i] -= lr * v;
      }
    }
  });
}

}  // namespace

double global_norm(const std::vector<torch::Tensor>& tensors) {
  double sq = 0.0;
  for (const auto& t : tensors) {
    if (!t.defined()) continue;
    const double n = t.norm().item<double>();
    sq += n * n;
  }
  return std::sqrt(sq);
}

double clip_coefficient(double norm, double max_norm) {
  return std::min(1.0, max_norm / (norm + 1e-6));
}

void sgd_update(const torch::Tensor& param, const torch::Tensor& grad,
                torch::Tensor& momentum_buffer, double grad_scale, const SgdHyper& hyper) {
  torch::NoGradGuard no_grad;
  const bool use_momentum = hyper.momentum != 0.0;
  const bool first = !momentum_buffer.defined();
  if (use_momentum && fusable(param) && fusable(grad) && (first || fusable(momentum_buffer))) {
    if (first) momentum_buffer = torch::empty_like(param);
    sgd_update_cpu(param, grad, momentum_buffer, first, static_cast<float>(grad_scale), hyper);
    return;
  }
  torch::Tensor d = grad * grad_scale;
  if (hyper.weight_decay != 0.0) d.add_(param, hyper.weight_decay);
  if (use_momentum) {
    if (first) {
      momentum_buffer = d;
    } else {
      momentum_buffer.mul_(hyper.momentum).add_(d);
    }
    d = momentum_buffer;
  }
  param.add_(d, -hyper.lr);
}

}  // namespace pfedhn::fl
