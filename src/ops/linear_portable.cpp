// Portable streaming kernels: plain C++ (the compiler may vectorise the inner
// loops); the reference every SIMD path is tested against.
#include <cstring>

#include "linear_kernels.h"

namespace emu::ops::detail {
namespace {

constexpr std::int64_t kChunk = 256;  // a multiple of the Q8_0 block

void to_f32(DType t, const void* w, std::int64_t offset, std::int64_t n, float* dst) {
    switch (t) {
        case DType::F32: std::memcpy(dst, static_cast<const float*>(w) + offset, std::size_t(n) * 4); return;
        case DType::BF16: {
            const std::uint16_t* s = static_cast<const std::uint16_t*>(w) + offset;
            for (std::int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
            return;
        }
        case DType::F16: {
            const std::uint16_t* s = static_cast<const std::uint16_t*>(w) + offset;
            for (std::int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(s[i]);
            return;
        }
        case DType::Q8_0: {
            // offset and n are whole blocks here (rows are whole blocks, chunks too).
            const std::uint8_t* base = static_cast<const std::uint8_t*>(w) + (offset / 32) * 34;
            for (std::int64_t b = 0; b < n / 32; ++b) {
                const std::uint8_t* blk = base + b * 34;
                std::uint16_t scale_bits;
                std::memcpy(&scale_bits, blk, 2);
                float scale = f16_to_f32(scale_bits);
                const std::int8_t* q = reinterpret_cast<const std::int8_t*>(blk + 2);
                for (int i = 0; i < 32; ++i) dst[b * 32 + i] = scale * float(q[i]);
            }
            return;
        }
        default: return;
    }
}

template <DType T>
void rows_kernel(const float* x, std::int64_t rows, std::int64_t in, const void* w, std::int64_t o0, std::int64_t o1,
                 float* y, std::int64_t ldy) {
    float buf[kChunk];
    for (std::int64_t o = o0; o < o1; ++o) {
        float acc[kMaxRows] = {0, 0, 0, 0};
        for (std::int64_t c = 0; c < in; c += kChunk) {
            std::int64_t n = in - c < kChunk ? in - c : kChunk;
            to_f32(T, w, o * in + c, n, buf);
            for (std::int64_t r = 0; r < rows; ++r) {
                const float* xr = x + r * in + c;
                float s = 0.f;
#pragma omp simd reduction(+ : s)
                for (std::int64_t i = 0; i < n; ++i) s += buf[i] * xr[i];
                acc[r] += s;
            }
        }
        for (std::int64_t r = 0; r < rows; ++r) y[r * ldy + o] = acc[r];
    }
}

}  // namespace

void convert_to_f32(DType t, const void* w, std::int64_t offset, std::int64_t n, float* dst) {
    to_f32(t, w, offset, n, dst);
}

RowsKernel portable_kernel(DType t) {
    switch (t) {
        case DType::F32: return rows_kernel<DType::F32>;
        case DType::BF16: return rows_kernel<DType::BF16>;
        case DType::F16: return rows_kernel<DType::F16>;
        case DType::Q8_0: return rows_kernel<DType::Q8_0>;
        default: return nullptr;
    }
}

}  // namespace emu::ops::detail
