#include "pfedhn/util/rng.h"

#include <cmath>
#include <cstring>
#include <numeric>
#include <stdexcept>

namespace pfedhn {
namespace {

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

}  // namespace

uint64_t derive_seed(uint64_t seed, std::initializer_list<uint64_t> ids) {
  uint64_t state = seed;
  uint64_t out = splitmix64(state);
  for (uint64_t id : ids) {
    state = out ^ (id * 0xd1342543de82ef95ULL + 0x632be59bd9b4e019ULL);
    out = splitmix64(state);
  }
  return out;
}

Rng::Rng(uint64_t seed) {
  uint64_t x = seed;
  for (auto& s : s_) s = splitmix64(x);
}

uint64_t Rng::next_u64() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

uint64_t Rng::uniform_int(uint64_t n) {
  if (n == 0) throw std::invalid_argument("Rng::uniform_int: n must be positive");
  // Lemire, "Fast Random Integer Generation in an Interval" (2019).
  unsigned __int128 m = static_cast<unsigned __int128>(next_u64()) * n;
  uint64_t low = static_cast<uint64_t>(m);
  if (low < n) {
    const uint64_t threshold = (0 - n) % n;
    while (low < threshold) {
      m = static_cast<unsigned __int128>(next_u64()) * n;
      low = static_cast<uint64_t>(m);
    }
  }
  return static_cast<uint64_t>(m >> 64);
}

double Rng::uniform01() {
  return static_cast<double>(next_u64() >> 11) * 0x1.0p-53;
}

double Rng::normal() {
  if (has_spare_normal_) {
    has_spare_normal_ = false;
    return spare_normal_;
  }
  double u, v, s;
  do {
    u = 2.0 * uniform01() - 1.0;
    v = 2.0 * uniform01() - 1.0;
    s = u * u + v * v;
  } while (s >= 1.0 || s == 0.0);
  const double f = std::sqrt(-2.0 * std::log(s) / s);
  spare_normal_ = v * f;
  has_spare_normal_ = true;
  return u * f;
}

double Rng::gamma(double shape) {
  if (!(shape > 0.0)) throw std::invalid_argument("Rng::gamma: shape must be positive");
  if (shape < 1.0) {
    // Boost: Gamma(a) = Gamma(a + 1) * U^(1/a).
    double u;
    do u = uniform01();
    while (u == 0.0);
    return gamma(shape + 1.0) * std::pow(u, 1.0 / shape);
  }
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  while (true) {
    double x, v;
    do {
      x = normal();
      v = 1.0 + c * x;
    } while (v <= 0.0);
    v = v * v * v;
    const double u = uniform01();
    if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
    if (u > 0.0 && std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
  }
}

void Rng::sample_without_replacement(int64_t n, int64_t k, std::vector<int64_t>& scratch,
                                     int64_t* out) {
  if (k > n || k < 0) throw std::invalid_argument("Rng::sample_without_replacement: k > n");
  if (static_cast<int64_t>(scratch.size()) != n) {
    scratch.resize(static_cast<size_t>(n));
    std::iota(scratch.begin(), scratch.end(), int64_t{0});
  }
  // Partial Fisher-Yates: the first k slots become a uniform k-subset in random order.
  // The scratch stays a permutation of 0..n-1, so it can be reused without resetting.
  for (int64_t i = 0; i < k; ++i) {
    const int64_t j = i + static_cast<int64_t>(uniform_int(static_cast<uint64_t>(n - i)));
    std::swap(scratch[i], scratch[j]);
    out[i] = scratch[i];
  }
}

std::vector<uint64_t> Rng::state() const {
  uint64_t spare_bits;
  static_assert(sizeof(spare_bits) == sizeof(spare_normal_));
  std::memcpy(&spare_bits, &spare_normal_, sizeof(spare_bits));
  return {s_[0], s_[1], s_[2], s_[3], has_spare_normal_ ? 1ULL : 0ULL, spare_bits};
}

void Rng::set_state(const std::vector<uint64_t>& s) {
  if (s.size() != 6) throw std::invalid_argument("Rng::set_state: expected 6 words");
  for (int i = 0; i < 4; ++i) s_[i] = s[i];
  has_spare_normal_ = s[4] != 0;
  std::memcpy(&spare_normal_, &s[5], sizeof(spare_normal_));
}

}  // namespace pfedhn
