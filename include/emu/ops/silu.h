// SwiGLU gate: gate[i] = silu(gate[i]) * up[i], silu(z) = z * sigmoid(z), float32.
#pragma once
#include <cstdint>

namespace emu::ops {

void silu_mul(float* gate, const float* up, std::int64_t n);

}  // namespace emu::ops
