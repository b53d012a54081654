// AVX2/FMA streaming kernels (8 lanes); same exactness argument as the AVX-512 ones.
#include <immintrin.h>

#include "linear_kernels.h"

#define EMU_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace emu::ops::detail {
namespace {

template <DType T>
EMU_AVX2 inline __m256 load_w(const void* w, std::int64_t i) {
    if constexpr (T == DType::F32) {
        return _mm256_loadu_ps(static_cast<const float*>(w) + i);
    } else {
        __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const std::uint16_t*>(w) + i));
        if constexpr (T == DType::BF16)
            return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
        else
            return _mm256_cvtph_ps(h);
    }
}

EMU_AVX2 inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

template <DType T>
inline float w_at(const void* w, std::int64_t i) {
    if constexpr (T == DType::F32) return static_cast<const float*>(w)[i];
    else if constexpr (T == DType::BF16) return bf16_to_f32(static_cast<const std::uint16_t*>(w)[i]);
    else return f16_to_f32(static_cast<const std::uint16_t*>(w)[i]);
}

template <DType T, int R>
EMU_AVX2 void rows_fixed(const float* x, std::int64_t in, const void* w, std::int64_t o0, std::int64_t o1, float* y,
                         std::int64_t ldy) {
    for (std::int64_t o = o0; o < o1; ++o) {
        std::int64_t base = o * in;
        __m256 a0[R], a1[R];
        for (int r = 0; r < R; ++r) a0[r] = a1[r] = _mm256_setzero_ps();
        std::int64_t i = 0;
        for (; i + 16 <= in; i += 16) {
            prefetch_weights_ahead<T>(w, base + i);
            __m256 w0 = load_w<T>(w, base + i), w1 = load_w<T>(w, base + i + 8);
            for (int r = 0; r < R; ++r) {
                a0[r] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + r * in + i), a0[r]);
                a1[r] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + r * in + i + 8), a1[r]);
            }
        }
        for (int r = 0; r < R; ++r) {
            float s = hsum(_mm256_add_ps(a0[r], a1[r]));
            for (std::int64_t j = i; j < in; ++j) s += w_at<T>(w, base + j) * x[r * in + j];
            y[r * ldy + o] = s;
        }
    }
}

template <DType T>
EMU_AVX2 void rows_kernel(const float* x, std::int64_t rows, std::int64_t in, const void* w, std::int64_t o0,
                          std::int64_t o1, float* y, std::int64_t ldy) {
    switch (rows) {
        case 1: rows_fixed<T, 1>(x, in, w, o0, o1, y, ldy); break;
        case 2: rows_fixed<T, 2>(x, in, w, o0, o1, y, ldy); break;
        case 3: rows_fixed<T, 3>(x, in, w, o0, o1, y, ldy); break;
        default: rows_fixed<T, 4>(x, in, w, o0, o1, y, ldy); break;
    }
}

}  // namespace

RowsKernel avx2_kernel(DType t) {
    switch (t) {
        case DType::F32: return rows_kernel<DType::F32>;
        case DType::BF16: return rows_kernel<DType::BF16>;
        case DType::F16: return rows_kernel<DType::F16>;
        default: return nullptr;
    }
}

}  // namespace emu::ops::detail
