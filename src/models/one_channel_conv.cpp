#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "pfedhn/models/ops.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define PFEDHN_ONE_CHANNEL_CONV 1
#endif

namespace pfedhn::models {
namespace {

#if defined(PFEDHN_ONE_CHANNEL_CONV)

// Output channels go 8 at a time through one AVX register; a last block may be partial.
constexpr int64_t kLanes = 8;

struct ConvShape {
  int64_t n, h, w, c, ho, wo, blocks;
};

ConvShape conv_shape(const torch::Tensor& x, int64_t c, int64_t k) {
  const int64_t h = x.size(2), w = x.size(3);
  return {x.size(0), h, w, c, h - k + 1, w - k + 1, (c + kLanes - 1) / kLanes};
}

bool cpu_has_avx2_fma() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}

// w [C, 1, K, K] repacked as [block][tap][lane] with zeros past C, so that every tap of a block
// is one aligned-size vector of 8 output channels.
std::vector<float> pack_weights(const torch::Tensor& w, int64_t blocks, int64_t taps) {
  const auto wc = w.contiguous();
  const float* src = wc.data_ptr<float>();
  const int64_t c = w.size(0);
  std::vector<float> packed(blocks * taps * kLanes, 0.0f);
  for (int64_t ch = 0; ch < c; ++ch) {
    for (int64_t t = 0; t < taps; ++t) {
      packed[((ch / kLanes) * taps + t) * kLanes + ch % kLanes] = src[ch * taps + t];
    }
  }
  return packed;
}

// The kernels below, and only they (no LibTorch code, whose inline functions must stay
// portable), are compiled for AVX2 and FMA; they run only where cpu_has_avx2_fma().
#if defined(__clang__)  // clang ignores GCC's target pragma
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif

// Lane mask of block b: all ones for the lanes below c, zero past it.
__m256i lane_mask(int64_t c, int64_t block) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(c - block * kLanes)), lane);
}

// Whether block b's 8 lanes at pixel x stay inside the row (always so for a full block).
inline bool lanes_stay_in_row(const ConvShape& s, int64_t x, int64_t b) {
  return x * s.c + (b + 1) * kLanes <= s.wo * s.c;
}

// One output pixel's 8 channels: the bias plus K*K broadcast inputs times tap weights.
template <int K>
inline __m256 conv_pixel(const float* src, int64_t w, const __m256* wv, __m256 acc) {
  for (int ky = 0; ky < K; ++ky) {
    for (int kx = 0; kx < K; ++kx) {
      acc = _mm256_fmadd_ps(_mm256_broadcast_ss(src + ky * w + kx), wv[ky * K + kx], acc);
    }
  }
  return acc;
}

// out[n, y, x, c] (channels-last) = b[c] + sum over taps of w[c, ky, kx] * in[n, y + ky, x + kx]:
// per output pixel, one broadcast input value times one vector of 8 channels' weights per tap.
// A partial last block is stored 8 lanes wide (a masked store is microcoded on AMD and cost
// more than the convolution): its extra lanes land on the next pixel's first channels, which a
// later store overwrites, because blocks go last to first and pixels left to right. Only stores
// that would pass the row's end (whose next row may be another thread's) are masked.
template <int K>
void forward_rows(const float* __restrict in, const float* __restrict packed,
                  const float* __restrict bias, float* __restrict out, const ConvShape& s,
                  int64_t row_begin, int64_t row_end) {
  for (int64_t b = s.blocks - 1; b >= 0; --b) {
    __m256 wv[K * K];
    for (int t = 0; t < K * K; ++t) wv[t] = _mm256_loadu_ps(packed + (b * K * K + t) * kLanes);
    const __m256 bv = _mm256_loadu_ps(bias + b * kLanes);
    const __m256i mask = lane_mask(s.c, b);
    for (int64_t r = row_begin; r < row_end; ++r) {
      const int64_t n = r / s.ho, y = r % s.ho;
      const float* src = in + (n * s.h + y) * s.w;
      float* dst = out + r * s.wo * s.c + b * kLanes;
      const auto store = [&](int64_t x, __m256 acc) {
        if (lanes_stay_in_row(s, x, b)) {
          _mm256_storeu_ps(dst + x * s.c, acc);
        } else {
          _mm256_maskstore_ps(dst + x * s.c, mask, acc);
        }
      };
      const auto pixel = [&](int64_t x) { return conv_pixel<K>(src + x, s.w, wv, bv); };
      // Each pixel's taps are one chain of dependent FMAs; four pixels keep four in flight.
      int64_t x = 0;
      for (; x + 4 <= s.wo; x += 4) {
        const __m256 a0 = pixel(x), a1 = pixel(x + 1), a2 = pixel(x + 2), a3 = pixel(x + 3);
        store(x, a0);
        store(x + 1, a1);
        store(x + 2, a2);
        store(x + 3, a3);
      }
      for (; x < s.wo; ++x) store(x, pixel(x));
    }
  }
}

// The weight and bias gradients over rows [row_begin, row_end): grad_w[c, tap] = sum over output
// pixels p of grad_out[p, c] * in[p + tap], grad_b[c] = sum of grad_out[p, c]. Written to acc as
// [block][tap, then bias][lane]. A partial block loads 8 lanes (the extra ones, the next pixel's
// channels, only reach the discarded lanes of the sums) except where that would read past the
// row's end, which may be the tensor's.
template <int K>
void backward_rows(const float* __restrict in, const float* __restrict grad_out,
                   float* __restrict acc, const ConvShape& s, int64_t row_begin, int64_t row_end) {
  for (int64_t b = 0; b < s.blocks; ++b) {
    __m256 gw[K * K];
    for (auto& v : gw) v = _mm256_setzero_ps();
    __m256 gb = _mm256_setzero_ps();
    const __m256i mask = lane_mask(s.c, b);
    for (int64_t r = row_begin; r < row_end; ++r) {
      const int64_t n = r / s.ho, y = r % s.ho;
      const float* src = in + (n * s.h + y) * s.w;
      const float* g = grad_out + r * s.wo * s.c + b * kLanes;
      for (int64_t x = 0; x < s.wo; ++x) {
        const __m256 gv = lanes_stay_in_row(s, x, b) ? _mm256_loadu_ps(g + x * s.c)
                                                     : _mm256_maskload_ps(g + x * s.c, mask);
        gb = _mm256_add_ps(gb, gv);
        for (int ky = 0; ky < K; ++ky) {
          for (int kx = 0; kx < K; ++kx) {
            gw[ky * K + kx] =
                _mm256_fmadd_ps(_mm256_broadcast_ss(src + ky * s.w + x + kx), gv, gw[ky * K + kx]);
          }
        }
      }
    }
    float* dst = acc + b * (K * K + 1) * kLanes;
    for (int t = 0; t < K * K; ++t) _mm256_storeu_ps(dst + t * kLanes, gw[t]);
    _mm256_storeu_ps(dst + K * K * kLanes, gb);
  }
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

template <int K>
torch::Tensor forward_kernel(const torch::Tensor& x, const torch::Tensor& w,
                             const torch::Tensor& bias) {
  const ConvShape s = conv_shape(x, w.size(0), K);
  const auto packed = pack_weights(w, s.blocks, K * K);
  std::vector<float> bias_packed(s.blocks * kLanes, 0.0f);
  const auto bc = bias.contiguous();
  std::copy(bc.data_ptr<float>(), bc.data_ptr<float>() + s.c, bias_packed.begin());
  auto out = torch::empty({s.n, s.c, s.ho, s.wo},
                          x.options().memory_format(at::MemoryFormat::ChannelsLast));
  const float* in = x.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  at::parallel_for(0, s.n * s.ho, 16, [&](int64_t begin, int64_t end) {
    forward_rows<K>(in, packed.data(), bias_packed.data(), dst, s, begin, end);
  });
  return out;
}

// The rows are split into a fixed number of parts whatever the scheduling, and the parts' sums
// are added in part order, so the gradient is the same from run to run at a given thread count.
template <int K>
std::pair<torch::Tensor, torch::Tensor> backward_kernel(const torch::Tensor& x,
                                                        const torch::Tensor& grad_out_in,
                                                        int64_t c) {
  const ConvShape s = conv_shape(x, c, K);
  const auto grad_out = grad_out_in.contiguous(at::MemoryFormat::ChannelsLast);
  const int64_t rows = s.n * s.ho;
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), rows / 16));
  const int64_t part_size = (K * K + 1) * kLanes * s.blocks;
  std::vector<float> sums(parts * part_size);
  const float* in = x.data_ptr<float>();
  const float* g = grad_out.data_ptr<float>();
  at::parallel_for(0, parts, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      backward_rows<K>(in, g, sums.data() + p * part_size, s, rows * p / parts,
                       rows * (p + 1) / parts);
    }
  });
  auto grad_w = torch::zeros({c, 1, K, K}, x.options());
  auto grad_b = torch::zeros({c}, x.options());
  float* gw = grad_w.data_ptr<float>();
  float* gb = grad_b.data_ptr<float>();
  for (int64_t p = 0; p < parts; ++p) {
    for (int64_t ch = 0; ch < c; ++ch) {
      const float* block = sums.data() + p * part_size + (ch / kLanes) * (K * K + 1) * kLanes;
      for (int t = 0; t < K * K; ++t) gw[ch * K * K + t] += block[t * kLanes + ch % kLanes];
      gb[ch] += block[K * K * kLanes + ch % kLanes];
    }
  }
  return {grad_w, grad_b};
}

torch::Tensor forward_any(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  return w.size(2) == 3 ? forward_kernel<3>(x, w, b) : forward_kernel<5>(x, w, b);
}

class OneChannelConv : public torch::autograd::Function<OneChannelConv> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& w, const torch::Tensor& b) {
    ctx->save_for_backward({x});
    ctx->saved_data["k"] = w.size(2);
    ctx->saved_data["c"] = w.size(0);
    return forward_any(x, w, b);
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grad_outputs) {
    // The gradients below are computed outside autograd; a graph of them (create_graph) would
    // silently miss their dependence on grad_out.
    TORCH_CHECK(!torch::GradMode::is_enabled(),
                "conv2d_one_channel: double backward (create_graph) is not supported");
    const auto x = ctx->get_saved_variables()[0];
    const int64_t c = ctx->saved_data["c"].toInt();
    auto [gw, gb] = ctx->saved_data["k"].toInt() == 3 ? backward_kernel<3>(x, grad_outputs[0], c)
                                                      : backward_kernel<5>(x, grad_outputs[0], c);
    return {torch::Tensor(), gw, gb};
  }
};

bool is_cpu_float(const torch::Tensor& t) {
  return t.defined() && t.device().is_cpu() && t.scalar_type() == torch::kFloat;
}

#endif  // PFEDHN_ONE_CHANNEL_CONV

}  // namespace

bool conv2d_one_channel_supports(const torch::Tensor& x, const torch::Tensor& w,
                                 const torch::Tensor& b) {
#if defined(PFEDHN_ONE_CHANNEL_CONV)
  if (!cpu_has_avx2_fma() || !is_cpu_float(x) || !is_cpu_float(w) || !is_cpu_float(b)) {
    return false;
  }
  if (x.dim() != 4 || x.size(1) != 1 || !x.is_contiguous() || x.requires_grad()) return false;
  if (w.dim() != 4 || w.size(1) != 1 || w.size(2) != w.size(3)) return false;
  const int64_t k = w.size(2);
  return (k == 3 || k == 5) && w.size(0) >= 1 && b.dim() == 1 && b.size(0) == w.size(0) &&
         x.size(0) >= 1 && x.size(2) >= k && x.size(3) >= k;
#else
  (void)x, (void)w, (void)b;
  return false;
#endif
}

torch::Tensor conv2d_one_channel(const torch::Tensor& x, const torch::Tensor& w,
                                 const torch::Tensor& b) {
  TORCH_CHECK(conv2d_one_channel_supports(x, w, b),
              "conv2d_one_channel: expected a contiguous float [N, 1, H, W] CPU input without "
              "gradient, [C, 1, K, K] weights with K = 3 or 5, [C] bias, and an AVX2+FMA CPU");
#if defined(PFEDHN_ONE_CHANNEL_CONV)
  const bool needs_grad = torch::GradMode::is_enabled() && (w.requires_grad() || b.requires_grad());
  return needs_grad ? OneChannelConv::apply(x, w, b) : forward_any(x, w, b);
#else
  return torch::Tensor();
#endif
}

}  // namespace pfedhn::models
