#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <utility>
#include <vector>

namespace pfedhn {

// Mixes a base seed with stream identifiers (e.g. a purpose tag, a round, a client) into an
// independent 64-bit seed, so every random stream is a pure function of (seed, ids...) and no
// result depends on the order in which streams are consumed. SplitMix64 finaliser per step.
uint64_t derive_seed(uint64_t seed, std::initializer_list<uint64_t> ids);

// Tags for derive_seed, one per purpose, fixed forever so results stay reproducible.
namespace stream {
inline constexpr uint64_t kValSplit = 1;
inline constexpr uint64_t kPartition = 2;
inline constexpr uint64_t kSplitShuffle = 3;
inline constexpr uint64_t kHypernetInit = 4;
inline constexpr uint64_t kLocalLayerInit = 5;
inline constexpr uint64_t kClientSampling = 6;
inline constexpr uint64_t kClientUpdate = 7;
inline constexpr uint64_t kTargetInit = 8;    // baselines: initial target networks
inline constexpr uint64_t kEvalFineTune = 9;  // baselines: personalisation before evaluation
inline constexpr uint64_t kNovelAdapt = 10;   // novel clients: embedding-only rounds
inline constexpr uint64_t kNovelPool = 11;    // novel clients: the share of data set aside
inline constexpr uint64_t kNovelShift = 12;   // novel clients: their class proportions
inline constexpr uint64_t kNovelLoss = 13;    // novel clients: batches of novel.adapt=loss
inline constexpr uint64_t kNovelSet = 14;     // novel clients: one set per alpha (kSets)
}  // namespace stream

// A small, fully specified generator (xoshiro256**, seeded by SplitMix64). Unlike the
// <random> distributions, every method here gives the same numbers on every platform and
// standard library, which the reproducibility promise needs.
class Rng {
 public:
  explicit Rng(uint64_t seed);

  uint64_t next_u64();
  // Uniform integer in [0, n), unbiased (Lemire's method). n must be > 0.
  uint64_t uniform_int(uint64_t n);
  // Uniform double in [0, 1) with 53 random bits.
  double uniform01();
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform01(); }
  double normal();             // standard normal (Marsaglia polar method)
  double gamma(double shape);  // Gamma(shape, 1), Marsaglia & Tsang (2000)

  template <typename T>
  void shuffle(std::vector<T>& v) {  // Fisher-Yates
    for (std::size_t i = v.size(); i > 1; --i) {
      std::size_t j = static_cast<std::size_t>(uniform_int(i));
      std::swap(v[i - 1], v[j]);
    }
  }

  // k distinct values drawn uniformly from [0, n) (k <= n), in random order.
  // `scratch` is reused across calls to avoid allocating; it must hold 0..n-1 in some order
  // (it is initialised when its size differs from n).
  void sample_without_replacement(int64_t n, int64_t k, std::vector<int64_t>& scratch,
                                  int64_t* out);

  // The whole generator state, for checkpoints.
  std::vector<uint64_t> state() const;
  void set_state(const std::vector<uint64_t>& s);

 private:
  uint64_t s_[4];
  bool has_spare_normal_ = false;
  double spare_normal_ = 0.0;
};

}  // namespace pfedhn
