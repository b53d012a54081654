#include "emu/ops/rmsnorm.h"

#include <cmath>

namespace emu::ops {

void rmsnorm(const float* x, std::int64_t rows, std::int64_t n, const float* w, float eps, float* y) {
    rmsnorm(x, rows, n, w, eps, y, nullptr);
}

void rmsnorm(const float* x, std::int64_t rows, std::int64_t n, const float* w, float eps, float* y, float* inv_rms) {
#pragma omp parallel for schedule(static) if (rows * n > 65536)
    for (std::int64_t r = 0; r < rows; ++r) {
        const float* xr = x + r * n;
        float* yr = y + r * n;
        double ss = 0.0;
#pragma omp simd reduction(+ : ss)
        for (std::int64_t i = 0; i < n; ++i) ss += double(xr[i]) * double(xr[i]);
        float var = float(ss / double(n));
        float inv = 1.0f / std::sqrt(var + eps);
        if (inv_rms) inv_rms[r] = inv;
        for (std::int64_t i = 0; i < n; ++i) yr[i] = w[i] * (xr[i] * inv);
    }
}

void rmsnorm_backward(const float* x, const float* inv_rms, std::int64_t rows, std::int64_t n, const float* w,
                      const float* dy, float* dx, float* dw) {
#pragma omp parallel for schedule(static) if (rows * n > 65536)
    for (std::int64_t r = 0; r < rows; ++r) {
        const float* xr = x + r * n;
        const float* gr = dy + r * n;
        float* dr = dx + r * n;
        const float inv = inv_rms[r];
        double dot = 0.0;
        for (std::int64_t i = 0; i < n; ++i) dot += double(gr[i]) * double(w[i]) * double(xr[i]);
        const float c = float(dot / double(n)) * inv * inv;
        for (std::int64_t i = 0; i < n; ++i) dr[i] = inv * (w[i] * gr[i] - xr[i] * c);
    }
    // Rows are summed in a fixed order so results do not depend on the thread count.
    if (dw) {
        for (std::int64_t r = 0; r < rows; ++r) {
            const float* xr = x + r * n;
            const float* gr = dy + r * n;
            const float inv = inv_rms[r];
            for (std::int64_t i = 0; i < n; ++i) dw[i] += gr[i] * xr[i] * inv;
        }
    }
}

}  // namespace emu::ops
