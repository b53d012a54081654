// RMSNorm as the official Emu3RMSNorm computes it in float32:
// y = w * (x / sqrt(mean(x^2) + eps)), per row of n values.
#pragma once
#include <cstdint>

namespace emu::ops {

// x and y may alias. w is F32 [n].
void rmsnorm(const float* x, std::int64_t rows, std::int64_t n, const float* w, float eps, float* y);

}  // namespace emu::ops
