#pragma once

#include <cstdint>

#include "pfedhn/models/target.h"

namespace pfedhn::models {

// A freshly initialised target network, as PyTorch initialises Conv2d and Linear (weight and
// bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))), drawn from a generator seeded with `seed`; on
// the CPU. The baselines start from these (pFedHN's weights come from the hypernetwork). A
// scripted target starts from the values saved in its module, whatever the seed.
Weights init_target_weights(const TargetSpec& spec, uint64_t seed);

}  // namespace pfedhn::models
