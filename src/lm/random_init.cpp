#include "emu/lm/random_init.h"

#include <cmath>

#include "emu/core/error.h"
#include "emu/lm/weights.h"

namespace emu::lm {
namespace {

std::uint64_t mix(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

// Standard normal from a counter (Box-Muller), so element i does not depend on
// how the work is split between threads.
float normal_at(std::uint64_t key, std::uint64_t i) {
    std::uint64_t a = mix(key ^ mix(2 * i)), b = mix(key ^ mix(2 * i + 1));
    double u1 = (double(a >> 11) + 1.0) * 0x1.0p-53, u2 = double(b >> 11) * 0x1.0p-53;
    return float(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}

}  // namespace

std::map<std::string, Tensor> random_weights(const Config& cfg, DType dtype, std::uint64_t seed, float std,
                                             float norm_noise) {
    check(dtype == DType::F32 || dtype == DType::BF16 || dtype == DType::F16, "random_weights: dtype ",
          dtype_name(dtype), " is not a float type");
    std::map<std::string, Tensor> out;
    std::uint64_t index = 0;
    for (const auto& [name, shape] : expected_tensors(cfg)) {
        const bool is_norm = shape.size() == 1;
        const std::uint64_t key = mix(seed * 1000003ull + index++);
        Tensor t = Tensor::zeros(dtype, shape);
        const std::int64_t n = std::int64_t(t.numel());
        void* dst = t.raw_mut();
#pragma omp parallel for schedule(static) if (n > 100000)
        for (std::int64_t i = 0; i < n; ++i) {
            float v = is_norm ? 1.0f + norm_noise * normal_at(key, std::uint64_t(i)) : std * normal_at(key, std::uint64_t(i));
            if (dtype == DType::F32) static_cast<float*>(dst)[i] = v;
            else if (dtype == DType::BF16) static_cast<std::uint16_t*>(dst)[i] = f32_to_bf16(v);
            else static_cast<std::uint16_t*>(dst)[i] = f32_to_f16(v);
        }
        out.emplace(name, std::move(t));
    }
    return out;
}

}  // namespace emu::lm
