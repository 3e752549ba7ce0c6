#include "pfedhn/models/ops.h"

#include <ATen/Parallel.h>

#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace pfedhn::models {
namespace {

// Window position of the kept maximum (0..3, row-major in the 2x2 window), or kNoGradient
// where the ReLU zeroes the output.
constexpr uint8_t kNoGradient = 255;

struct Shape {
  int64_t n, c, h, w, ho, wo;
};

Shape shape_of(c10::IntArrayRef sizes) {
  return {sizes[0], sizes[1], sizes[2], sizes[3], sizes[2] / 2, sizes[3] / 2};
}

// Calls f(in_offset, out_offset) for every output row (n, i): input rows 2i and 2i+1 of sample
// n start at in_offset and in_offset + w * c (channels-last: H, W, then C innermost).
template <typename F>
void for_each_output_row(const Shape& s, F&& f) {
  at::parallel_for(0, s.n * s.ho, 16, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t n = r / s.ho, i = r % s.ho;
      f((n * s.h + 2 * i) * s.w * s.c, r * s.wo * s.c);
    }
  });
}

// One output element: window row 0 at a[0], a[c]; row 1 at b[0], b[c]. max_pool2d's rule in
// row-major order: a later element wins if it is greater, or NaN.
inline void forward1(const float* a, const float* b, int64_t c, float* out, uint8_t* code) {
  const float v[4] = {a[0], a[c], b[0], b[c]};
  float best = v[0];
  uint8_t where = 0;
  for (uint8_t k = 1; k < 4; ++k) {
    if (v[k] > best || v[k] != v[k]) {
      best = v[k];
      where = k;
    }
  }
  const bool positive = best > 0.0f;  // relu's gradient is 0 at NaN too
  *out = (positive || best != best) ? best : 0.0f;
  *code = positive ? where : kNoGradient;
}

inline void backward1(const float* g, const uint8_t* code, int64_t c, float* a, float* b) {
  a[0] = *code == 0 ? *g : 0.0f;
  a[c] = *code == 1 ? *g : 0.0f;
  b[0] = *code == 2 ? *g : 0.0f;
  b[c] = *code == 3 ? *g : 0.0f;
}

#if defined(__SSE2__)
constexpr int64_t kBlock = 4;

// Four channels at once, with masks instead of branches: the comparisons on real activations
// are coin flips, and mispredicted branches made scalar code (LibTorch's included, below 8
// channels) cost about 13 ns per output.
inline void forward4(const float* a, const float* b, int64_t c, float* out, uint8_t* code) {
  const __m128 v[4] = {_mm_loadu_ps(a), _mm_loadu_ps(a + c), _mm_loadu_ps(b), _mm_loadu_ps(b + c)};
  __m128 best = v[0];
  __m128i where = _mm_setzero_si128();
  for (int k = 1; k < 4; ++k) {
    const __m128 take = _mm_or_ps(_mm_cmpgt_ps(v[k], best), _mm_cmpunord_ps(v[k], v[k]));
    best = _mm_or_ps(_mm_and_ps(take, v[k]), _mm_andnot_ps(take, best));
    const __m128i take_i = _mm_castps_si128(take);
    where = _mm_or_si128(_mm_and_si128(take_i, _mm_set1_epi32(k)), _mm_andnot_si128(take_i, where));
  }
  const __m128 positive = _mm_cmpgt_ps(best, _mm_setzero_ps());
  const __m128 keep = _mm_or_ps(positive, _mm_cmpunord_ps(best, best));
  _mm_storeu_ps(out, _mm_and_ps(keep, best));
  const __m128i positive_i = _mm_castps_si128(positive);
  const __m128i codes = _mm_or_si128(_mm_and_si128(positive_i, where),
                                     _mm_andnot_si128(positive_i, _mm_set1_epi32(kNoGradient)));
  const __m128i packed = _mm_packus_epi16(_mm_packs_epi32(codes, codes), codes);
  const int32_t four = _mm_cvtsi128_si32(packed);
  std::memcpy(code, &four, 4);
}

inline void backward4(const float* g, const uint8_t* code, int64_t c, float* a, float* b) {
  int32_t four;
  std::memcpy(&four, code, 4);
  const __m128i zero = _mm_setzero_si128();
  const __m128i codes = _mm_unpacklo_epi16(_mm_unpacklo_epi8(_mm_cvtsi32_si128(four), zero), zero);
  const __m128 grad = _mm_loadu_ps(g);
  float* dst[4] = {a, a + c, b, b + c};
  for (int k = 0; k < 4; ++k) {
    const __m128 hit = _mm_castsi128_ps(_mm_cmpeq_epi32(codes, _mm_set1_epi32(k)));
    _mm_storeu_ps(dst[k], _mm_and_ps(hit, grad));
  }
}
#else
constexpr int64_t kBlock = 1;
inline void forward4(const float*, const float*, int64_t, float*, uint8_t*) {}
inline void backward4(const float*, const uint8_t*, int64_t, float*, float*) {}
#endif

// Visits channels [0, c) in blocks of kBlock; the last block starts at c - kBlock and may overlap
// the one before (it writes the same values again). Fewer than kBlock channels go one by one.
template <typename Block, typename One>
inline void for_each_channel_block(int64_t c, Block&& block, One&& one) {
  if (kBlock == 1 || c < kBlock) {
    for (int64_t ch = 0; ch < c; ++ch) one(ch);
    return;
  }
  for (int64_t ch = 0; ch + kBlock <= c; ch += kBlock) block(ch);
  if (c % kBlock != 0) block(c - kBlock);
}

std::pair<torch::Tensor, torch::Tensor> forward_kernel(const torch::Tensor& x) {
  const Shape s = shape_of(x.sizes());
  const auto cl = at::MemoryFormat::ChannelsLast;
  auto out = torch::empty({s.n, s.c, s.ho, s.wo}, x.options().memory_format(cl));
  auto code = torch::empty(out.sizes(), x.options().dtype(torch::kUInt8).memory_format(cl));
  const float* __restrict xp = x.data_ptr<float>();
  float* __restrict op = out.data_ptr<float>();
  uint8_t* __restrict cp = code.data_ptr<uint8_t>();
  const int64_t c = s.c, wc = s.w * s.c;
  for_each_output_row(s, [&](int64_t in_row, int64_t out_row) {
    for (int64_t j = 0; j < s.wo; ++j) {
      const float* a = xp + in_row + 2 * j * c;  // window row 0; its column 1 is at a + c
      const float* b = a + wc;                   // window row 1
      float* o = op + out_row + j * c;
      uint8_t* m = cp + out_row + j * c;
      for_each_channel_block(
          c, [&](int64_t ch) { forward4(a + ch, b + ch, c, o + ch, m + ch); },
          [&](int64_t ch) { forward1(a + ch, b + ch, c, o + ch, m + ch); });
    }
  });
  return {out, code};
}

torch::Tensor backward_kernel(const torch::Tensor& grad_out_in, const torch::Tensor& code,
                              c10::IntArrayRef input_sizes) {
  const Shape s = shape_of(input_sizes);
  const auto cl = at::MemoryFormat::ChannelsLast;
  const torch::Tensor grad_out = grad_out_in.contiguous(cl);
  auto grad_in = torch::empty(input_sizes, grad_out.options().memory_format(cl));
  // The windows tile the input except a floored last row or column; only those need zeros up
  // front, every other element is written below.
  if (s.h % 2 != 0) grad_in.narrow(2, s.h - 1, 1).zero_();
  if (s.w % 2 != 0) grad_in.narrow(3, s.w - 1, 1).zero_();
  const float* __restrict gp = grad_out.data_ptr<float>();
  const uint8_t* __restrict cp = code.data_ptr<uint8_t>();
  float* __restrict ip = grad_in.data_ptr<float>();
  const int64_t c = s.c, wc = s.w * s.c;
  for_each_output_row(s, [&](int64_t in_row, int64_t out_row) {
    for (int64_t j = 0; j < s.wo; ++j) {
      float* a = ip + in_row + 2 * j * c;
      float* b = a + wc;
      const float* g = gp + out_row + j * c;
      const uint8_t* m = cp + out_row + j * c;
      for_each_channel_block(
          c, [&](int64_t ch) { backward4(g + ch, m + ch, c, a + ch, b + ch); },
          [&](int64_t ch) { backward1(g + ch, m + ch, c, a + ch, b + ch); });
    }
  });
  return grad_in;
}

class ReluMaxPool2x2 : public torch::autograd::Function<ReluMaxPool2x2> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x) {
    auto [out, code] = forward_kernel(x);
    ctx->saved_data["code"] = code;
    ctx->saved_data["sizes"] = x.sizes().vec();
    return out;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grad_outputs) {
    return {backward_kernel(grad_outputs[0], ctx->saved_data["code"].toTensor(),
                            ctx->saved_data["sizes"].toIntVector())};
  }
};

}  // namespace

bool relu_max_pool2x2_supports(const torch::Tensor& x) {
  return x.device().is_cpu() && x.scalar_type() == torch::kFloat && x.dim() == 4 &&
         x.is_contiguous(at::MemoryFormat::ChannelsLast) && x.size(2) >= 2 && x.size(3) >= 2;
}

torch::Tensor relu_max_pool2x2(const torch::Tensor& x) {
  TORCH_CHECK(relu_max_pool2x2_supports(x),
              "relu_max_pool2x2: expected a channels-last float [N, C, H, W] CPU tensor");
  if (!x.requires_grad() || !torch::GradMode::is_enabled()) return forward_kernel(x).first;
  return ReluMaxPool2x2::apply(x);
}

}  // namespace pfedhn::models
