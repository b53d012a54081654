// Numerically stable softmax over n float32 values, in place.
#pragma once
#include <cstdint>

namespace emu::ops {

void softmax_inplace(float* x, std::int64_t n);

}  // namespace emu::ops
