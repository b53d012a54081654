// Rotary position embedding, rotate-half (NeoX) convention as in the official
// Emu3 code: for i < d/2, x'[i] = x[i] cos - x[i+d/2] sin, x'[i+d/2] = x[i+d/2] cos + x[i] sin,
// with inv_freq[i] = 1 / theta^(2i/d) and angle = (position / linear_factor) * inv_freq[i],
// all in float32.
#pragma once
#include <cstdint>

namespace emu::ops {

struct RopeParams {
    std::int64_t head_dim = 0;  // even
    float theta = 1e6f;
    float linear_factor = 1.f;  // rope_scaling {"type": "linear"}
};

// cos and sin tables, [count, head_dim/2] each, for the given positions.
void rope_tables(const RopeParams& p, const std::int64_t* positions, std::int64_t count, float* cos_out,
                 float* sin_out);

// Rotates `heads` consecutive head vectors of one token in place, using that
// token's table rows (head_dim/2 values each).
void rope_apply(float* x, std::int64_t heads, std::int64_t head_dim, const float* cos_row, const float* sin_row);

// Backward of rope_apply (the transpose of a rotation is the rotation by the
// opposite angle): turns dL/d(rotated) into dL/d(input), in place.
void rope_apply_backward(float* dx, std::int64_t heads, std::int64_t head_dim, const float* cos_row,
                         const float* sin_row);

}  // namespace emu::ops
