#include "emu/ops/silu.h"

#include <cmath>

namespace emu::ops {

void silu_mul(float* gate, const float* up, std::int64_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (std::int64_t i = 0; i < n; ++i) {
        float z = gate[i];
        gate[i] = z / (1.0f + std::exp(-z)) * up[i];
    }
}

}  // namespace emu::ops
