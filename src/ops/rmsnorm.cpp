#include "emu/ops/rmsnorm.h"

#include <cmath>

namespace emu::ops {

void rmsnorm(const float* x, std::int64_t rows, std::int64_t n, const float* w, float eps, float* y) {
#pragma omp parallel for schedule(static) if (rows * n > 65536)
    for (std::int64_t r = 0; r < rows; ++r) {
        const float* xr = x + r * n;
        float* yr = y + r * n;
        double ss = 0.0;
#pragma omp simd reduction(+ : ss)
        for (std::int64_t i = 0; i < n; ++i) ss += double(xr[i]) * double(xr[i]);
        float var = float(ss / double(n));
        float inv = 1.0f / std::sqrt(var + eps);
        for (std::int64_t i = 0; i < n; ++i) yr[i] = w[i] * (xr[i] * inv);
    }
}

}  // namespace emu::ops
