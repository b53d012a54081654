// Random weights for a config under the official names: linear and embedding
// weights ~ N(0, std), norm weights ~ 1 + N(0, norm_noise) (so every norm matters),
// the same for any thread count. For tests, benchmarks and training from scratch.
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "emu/lm/config.h"
#include "emu/tensor/tensor.h"

namespace emu::lm {

std::map<std::string, Tensor> random_weights(const Config& cfg, DType dtype, std::uint64_t seed, float std = 0.02f,
                                             float norm_noise = 0.1f);

}  // namespace emu::lm
