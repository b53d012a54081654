// AVX-512 streaming kernels: weights widened to F32 in registers (BF16 by a
// 16-bit shift, F16 by vcvtph2ps), so results equal an F32 computation with the
// stored values exactly; only the summation order differs from the portable path.
// GCC 12 warns falsely about _mm512_undefined_* inside its own intrinsics.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstring>

#include "linear_kernels.h"

#define EMU_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

namespace emu::ops::detail {
namespace {

template <DType T>
EMU_AVX512 inline __m512 load_w(const void* w, std::int64_t i) {
    if constexpr (T == DType::F32) {
        return _mm512_loadu_ps(static_cast<const float*>(w) + i);
    } else {
        __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const std::uint16_t*>(w) + i));
        if constexpr (T == DType::BF16)
            return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
        else
            return _mm512_cvtph_ps(h);
    }
}

template <DType T>
EMU_AVX512 inline __m512 load_w_masked(const void* w, std::int64_t i, __mmask16 m) {
    if constexpr (T == DType::F32) {
        return _mm512_maskz_loadu_ps(m, static_cast<const float*>(w) + i);
    } else {
        __m256i h = _mm256_maskz_loadu_epi16(m, static_cast<const std::uint16_t*>(w) + i);
        if constexpr (T == DType::BF16)
            return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
        else
            return _mm512_cvtph_ps(h);
    }
}

template <DType T, int R>
EMU_AVX512 void rows_fixed(const float* x, std::int64_t in, const void* w, std::int64_t o0, std::int64_t o1, float* y,
                           std::int64_t ldy) {
    for (std::int64_t o = o0; o < o1; ++o) {
        std::int64_t base = o * in;
        __m512 a0[R], a1[R];
        for (int r = 0; r < R; ++r) a0[r] = a1[r] = _mm512_setzero_ps();
        std::int64_t i = 0;
        for (; i + 32 <= in; i += 32) {
            prefetch_weights_ahead<T>(w, base + i);
            __m512 w0 = load_w<T>(w, base + i), w1 = load_w<T>(w, base + i + 16);
            for (int r = 0; r < R; ++r) {
                a0[r] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x + r * in + i), a0[r]);
                a1[r] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x + r * in + i + 16), a1[r]);
            }
        }
        for (; i < in; i += 16) {
            std::int64_t rem = in - i;
            __mmask16 m = rem >= 16 ? __mmask16(0xffff) : __mmask16((1u << rem) - 1);
            __m512 w0 = load_w_masked<T>(w, base + i, m);
            for (int r = 0; r < R; ++r) a0[r] = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(m, x + r * in + i), a0[r]);
        }
        for (int r = 0; r < R; ++r) y[r * ldy + o] = _mm512_reduce_add_ps(_mm512_add_ps(a0[r], a1[r]));
    }
}

template <DType T>
EMU_AVX512 void rows_kernel(const float* x, std::int64_t rows, std::int64_t in, const void* w, std::int64_t o0,
                            std::int64_t o1, float* y, std::int64_t ldy) {
    switch (rows) {
        case 1: rows_fixed<T, 1>(x, in, w, o0, o1, y, ldy); break;
        case 2: rows_fixed<T, 2>(x, in, w, o0, o1, y, ldy); break;
        case 3: rows_fixed<T, 3>(x, in, w, o0, o1, y, ldy); break;
        default: rows_fixed<T, 4>(x, in, w, o0, o1, y, ldy); break;
    }
}

// Q8_0: per 32-value block, int8 widened to F32 and scaled by the block's F16
// scale (exact in F32), then the same FMAs as the float kernels.
template <int R>
EMU_AVX512 void q8_rows_fixed(const float* x, std::int64_t in, const void* w, std::int64_t o0, std::int64_t o1,
                              float* y, std::int64_t ldy) {
    const std::int64_t blocks = in / 32;
    const std::uint8_t* base = static_cast<const std::uint8_t*>(w);
    for (std::int64_t o = o0; o < o1; ++o) {
        const std::uint8_t* row = base + o * blocks * 34;
        __m512 a0[R], a1[R];
        for (int r = 0; r < R; ++r) a0[r] = a1[r] = _mm512_setzero_ps();
        for (std::int64_t b = 0; b < blocks; ++b) {
            const std::uint8_t* blk = row + b * 34;
            prefetch_ahead(blk);
            std::uint16_t d_bits;
            std::memcpy(&d_bits, blk, 2);
            const __m512 d = _mm512_set1_ps(f16_to_f32(d_bits));
            const __m128i q0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2));
            const __m128i q1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 18));
            const __m512 w0 = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q0)));
            const __m512 w1 = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q1)));
            for (int r = 0; r < R; ++r) {
                a0[r] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x + r * in + b * 32), a0[r]);
                a1[r] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x + r * in + b * 32 + 16), a1[r]);
            }
        }
        for (int r = 0; r < R; ++r) y[r * ldy + o] = _mm512_reduce_add_ps(_mm512_add_ps(a0[r], a1[r]));
    }
}

EMU_AVX512 void q8_rows_kernel(const float* x, std::int64_t rows, std::int64_t in, const void* w, std::int64_t o0,
                               std::int64_t o1, float* y, std::int64_t ldy) {
    switch (rows) {
        case 1: q8_rows_fixed<1>(x, in, w, o0, o1, y, ldy); break;
        case 2: q8_rows_fixed<2>(x, in, w, o0, o1, y, ldy); break;
        case 3: q8_rows_fixed<3>(x, in, w, o0, o1, y, ldy); break;
        default: q8_rows_fixed<4>(x, in, w, o0, o1, y, ldy); break;
    }
}

}  // namespace

RowsKernel avx512_kernel(DType t) {
    switch (t) {
        case DType::F32: return rows_kernel<DType::F32>;
        case DType::BF16: return rows_kernel<DType::BF16>;
        case DType::F16: return rows_kernel<DType::F16>;
        case DType::Q8_0: return q8_rows_kernel;
        default: return nullptr;
    }
}

}  // namespace emu::ops::detail
