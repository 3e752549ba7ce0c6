#include "pfedhn/models/target_init.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "pfedhn/models/script_target.h"

namespace pfedhn::models {

Weights init_target_weights(const TargetSpec& spec, uint64_t seed) {
  if (spec.script) return spec.script->initial_generated();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  torch::NoGradGuard no_grad;
  Weights w;
  double bound = 0.0;  // of the last weight, which its bias shares
  for (const auto& t : spec.tensors) {
    if (t.shape.size() > 1) bound = 1.0 / std::sqrt(static_cast<double>(t.numel() / t.shape[0]));
    TORCH_CHECK(bound > 0.0, "init_target_weights: ", t.name, " has no weight before it");
    w.push_back(torch::empty(t.shape).uniform_(-bound, bound, gen));
  }
  return w;
}

}  // namespace pfedhn::models
