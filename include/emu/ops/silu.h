// SwiGLU gate: gate[i] = silu(gate[i]) * up[i], silu(z) = z * sigmoid(z), float32.
#pragma once
#include <cstdint>

namespace emu::ops {

void silu_mul(float* gate, const float* up, std::int64_t n);

// Backward of silu_mul given the forward inputs (gate before activation, up) and
// dL/d(out): writes dL/d(gate) and dL/d(up).
void silu_mul_backward(const float* gate, const float* up, const float* dout, float* dgate, float* dup,
                       std::int64_t n);

}  // namespace emu::ops
