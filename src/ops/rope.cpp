#include "emu/ops/rope.h"

#include <cmath>
#include <vector>

namespace emu::ops {

void rope_tables(const RopeParams& p, const std::int64_t* positions, std::int64_t count, float* cos_out,
                 float* sin_out) {
    const std::int64_t half = p.head_dim / 2;
    std::vector<float> inv_freq(static_cast<std::size_t>(half));
    for (std::int64_t i = 0; i < half; ++i) {
        // Same float32 steps as torch: arange(0, d, 2).float() / d, base ** e, 1 / that.
        float e = float(2 * i) / float(p.head_dim);
        inv_freq[std::size_t(i)] = 1.0f / std::pow(p.theta, e);
    }
    for (std::int64_t t = 0; t < count; ++t) {
        float pos = float(positions[t]);
        if (p.linear_factor != 1.f) pos = pos / p.linear_factor;
        for (std::int64_t i = 0; i < half; ++i) {
            float angle = pos * inv_freq[std::size_t(i)];
            cos_out[t * half + i] = float(std::cos(double(angle)));
            sin_out[t * half + i] = float(std::sin(double(angle)));
        }
    }
}

void rope_apply(float* x, std::int64_t heads, std::int64_t head_dim, const float* cos_row, const float* sin_row) {
    const std::int64_t half = head_dim / 2;
    for (std::int64_t h = 0; h < heads; ++h) {
        float* v = x + h * head_dim;
        for (std::int64_t i = 0; i < half; ++i) {
            float a = v[i], b = v[i + half];
            v[i] = a * cos_row[i] - b * sin_row[i];
            v[i + half] = b * cos_row[i] + a * sin_row[i];
        }
    }
}

void rope_apply_backward(float* dx, std::int64_t heads, std::int64_t head_dim, const float* cos_row,
                         const float* sin_row) {
    const std::int64_t half = head_dim / 2;
    for (std::int64_t h = 0; h < heads; ++h) {
        float* v = dx + h * head_dim;
        for (std::int64_t i = 0; i < half; ++i) {
            float a = v[i], b = v[i + half];
            v[i] = a * cos_row[i] + b * sin_row[i];
            v[i + half] = b * cos_row[i] - a * sin_row[i];
        }
    }
}

}  // namespace emu::ops
