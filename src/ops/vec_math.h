// Branch-free float exp that the compiler vectorises (std::exp does not without
// -ffast-math). Cephes polynomial: relative error ~2e-7 over the clamped range.
#pragma once
#include <cstdint>
#include <cstddef>
#include <cstring>

namespace emu::ops::detail {

inline float exp_approx(float x) {
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    const float kRound = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
    float n = (x * 1.44269504088896341f + kRound) - kRound;
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500E-4f;
    p = p * r + 1.3981999507E-3f;
    p = p * r + 8.3334519073E-3f;
    p = p * r + 4.1665795894E-2f;
    p = p * r + 1.6666665459E-1f;
    p = p * r + 5.0000001201E-1f;
    p = p * r * r + r + 1.0f;
    std::int32_t e = (std::int32_t(n) + 127) << 23;
    float scale;
    std::memcpy(&scale, &e, 4);
    return p * scale;
}

inline float swish1(float x) { return x / (1.0f + exp_approx(-x)); }

}  // namespace emu::ops::detail

namespace emu::ops::detail {
// Below this many elements an OpenMP region costs more than it saves (thread wake-up
// and barriers dominate, badly so on a loaded machine).
constexpr std::size_t kParallelMinElems = std::size_t(1) << 16;
}  // namespace emu::ops::detail
