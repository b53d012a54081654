#include "emu/ops/softmax.h"

#include <cmath>

namespace emu::ops {

void softmax_inplace(float* x, std::int64_t n) {
    if (n <= 0) return;
    float m = x[0];
    for (std::int64_t i = 1; i < n; ++i) m = x[i] > m ? x[i] : m;
    float sum = 0.f;
#pragma omp simd reduction(+ : sum)
    for (std::int64_t i = 0; i < n; ++i) {
        x[i] = std::exp(x[i] - m);
        sum += x[i];
    }
    float inv = 1.0f / sum;
    for (std::int64_t i = 0; i < n; ++i) x[i] *= inv;
}

}  // namespace emu::ops
