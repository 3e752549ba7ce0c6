#include "pfedhn/models/ops.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <cstdint>

namespace pfedhn::models {
namespace {

// Window position of the maximum (0..3, row-major), or kNoGradient when the ReLU cuts it.
constexpr uint8_t kNoGradient = 255;

struct Geometry {
  int64_t n, c, h, w, ho, wo;
  int64_t xs[4], os[4];  // strides of input and output, in elements, for N, C, H, W
};

Geometry geometry(const torch::Tensor& x, const torch::Tensor& out) {
  Geometry g{x.size(0), x.size(1), x.size(2), x.size(3), out.size(2), out.size(3), {}, {}};
  for (int d = 0; d < 4; ++d) {
    g.xs[d] = x.stride(d);
    g.os[d] = out.stride(d);
  }
  return g;
}

bool is_channels_last(const torch::Tensor& x) {
  return x.is_contiguous(at::MemoryFormat::ChannelsLast) && !x.is_contiguous();
}

// Calls f(x_offset, out_offset) for every output element of sample n, in the order that walks
// memory contiguously for the tensor's layout.
template <typename F>
void for_each_output(const Geometry& g, int64_t n, bool channels_last, F&& f) {
  if (channels_last) {
    for (int64_t i = 0; i < g.ho; ++i)
      for (int64_t j = 0; j < g.wo; ++j)
        for (int64_t c = 0; c < g.c; ++c)
          f(n * g.xs[0] + c * g.xs[1] + 2 * i * g.xs[2] + 2 * j * g.xs[3],
            n * g.os[0] + c * g.os[1] + i * g.os[2] + j * g.os[3]);
  } else {
    for (int64_t c = 0; c < g.c; ++c)
      for (int64_t i = 0; i < g.ho; ++i)
        for (int64_t j = 0; j < g.wo; ++j)
          f(n * g.xs[0] + c * g.xs[1] + 2 * i * g.xs[2] + 2 * j * g.xs[3],
            n * g.os[0] + c * g.os[1] + i * g.os[2] + j * g.os[3]);
  }
}

std::pair<torch::Tensor, torch::Tensor> forward_kernel(const torch::Tensor& x_in) {
  TORCH_CHECK(x_in.dim() == 4 && x_in.scalar_type() == torch::kFloat,
              "relu_max_pool2x2: expected a float [N, C, H, W] tensor");
  const bool channels_last = is_channels_last(x_in);
  const auto format = channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  const torch::Tensor x = x_in.contiguous(format);
  auto out = torch::empty({x.size(0), x.size(1), x.size(2) / 2, x.size(3) / 2},
                          x.options().memory_format(format));
  auto argmax = torch::empty(out.sizes(), x.options().dtype(torch::kUInt8).memory_format(format));
  const Geometry g = geometry(x, out);
  const float* xp = x.data_ptr<float>();
  float* op = out.data_ptr<float>();
  uint8_t* ap = argmax.data_ptr<uint8_t>();
  const int64_t offsets[4] = {0, g.xs[3], g.xs[2], g.xs[2] + g.xs[3]};
  at::parallel_for(0, g.n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      for_each_output(g, n, channels_last, [&](int64_t xo, int64_t oo) {
        float best = xp[xo];
        uint8_t where = 0;
        for (uint8_t k = 1; k < 4; ++k) {
          const float v = xp[xo + offsets[k]];
          if (v > best || std::isnan(v)) {
            best = v;
            where = k;
            if (std::isnan(v)) break;
          }
        }
        const bool passes = best > 0.0f || std::isnan(best);
        op[oo] = passes ? best : 0.0f;
        ap[oo] = passes ? where : kNoGradient;
      });
    }
  });
  return {out, argmax};
}

torch::Tensor backward_kernel(const torch::Tensor& grad_out_in, const torch::Tensor& argmax,
                              const std::vector<int64_t>& input_sizes, bool channels_last) {
  const auto format = channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  const torch::Tensor grad_out = grad_out_in.contiguous(format);
  auto grad_in = torch::empty(input_sizes, grad_out.options().memory_format(format));
  // The windows tile the input except a floored last row or column; only those need zeros, the
  // rest is written below (the gradient at the window's maximum, zero elsewhere).
  if (input_sizes[2] % 2 != 0) grad_in.narrow(2, input_sizes[2] - 1, 1).zero_();
  if (input_sizes[3] % 2 != 0) grad_in.narrow(3, input_sizes[3] - 1, 1).zero_();
  const Geometry g = geometry(grad_in, grad_out);
  const float* gp = grad_out.data_ptr<float>();
  const uint8_t* ap = argmax.data_ptr<uint8_t>();
  float* ip = grad_in.data_ptr<float>();
  const int64_t offsets[4] = {0, g.xs[3], g.xs[2], g.xs[2] + g.xs[3]};
  at::parallel_for(0, g.n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      for_each_output(g, n, channels_last, [&](int64_t xo, int64_t oo) {
        const uint8_t where = ap[oo];
        for (uint8_t k = 0; k < 4; ++k) ip[xo + offsets[k]] = k == where ? gp[oo] : 0.0f;
      });
    }
  });
  return grad_in;
}

class ReluMaxPool2x2 : public torch::autograd::Function<ReluMaxPool2x2> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x) {
    auto [out, argmax] = forward_kernel(x);
    ctx->save_for_backward({argmax});
    ctx->saved_data["sizes"] = x.sizes().vec();
    ctx->saved_data["channels_last"] = is_channels_last(x);
    return out;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grad_outputs) {
    const auto argmax = ctx->get_saved_variables()[0];
    return {backward_kernel(grad_outputs[0], argmax, ctx->saved_data["sizes"].toIntVector(),
                            ctx->saved_data["channels_last"].toBool())};
  }
};

}  // namespace

torch::Tensor relu_max_pool2x2(const torch::Tensor& x) {
  if (!x.requires_grad() || !torch::GradMode::is_enabled()) return forward_kernel(x).first;
  return ReluMaxPool2x2::apply(x);
}

}  // namespace pfedhn::models
