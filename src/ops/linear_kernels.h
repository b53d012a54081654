// Internal: per-ISA streaming kernels behind ops::linear_rows.
#pragma once
#include <cstdint>

#include "emu/tensor/dtype.h"

namespace emu::ops::detail {

// Computes up to kMaxRows input rows against weight rows [o0, o1). Returns false
// when this ISA has no kernel for the dtype (the caller falls back).
constexpr std::int64_t kMaxRows = 4;

// Decode streams every weight once per token, one row after another: asking for
// the bytes 1 KB ahead keeps more loads in flight than the hardware prefetcher
// alone (AVX-512 BF16 decode of a real-size Emu3.5 layer 18.6 -> 21.9 tokens/s,
// Q8_0 20.5 -> 36.4, on the 2-core VM; 512 and 2048 bytes gain less).
constexpr std::int64_t kPrefetchBytes = 1024;
inline void prefetch_ahead(const void* p) { __builtin_prefetch(static_cast<const char*>(p) + kPrefetchBytes, 0, 3); }
// The same for element i of a float weight matrix stored as T (F32, or 16-bit BF16/F16).
template <DType T>
inline void prefetch_weights_ahead(const void* w, std::int64_t i) {
    if constexpr (T == DType::F32)
        prefetch_ahead(static_cast<const float*>(w) + i);
    else
        prefetch_ahead(static_cast<const std::uint16_t*>(w) + i);
}
using RowsKernel = void (*)(const float* x, std::int64_t rows, std::int64_t in, const void* w, std::int64_t o0,
                            std::int64_t o1, float* y, std::int64_t ldy);

RowsKernel portable_kernel(DType t);
RowsKernel avx2_kernel(DType t);
RowsKernel avx512_kernel(DType t);

// AMX (tiles + bf16): usable when the CPU has it and the OS granted the tile state.
bool amx_available();
// Whether a product with `splits` BF16 parts (linear.h) goes through bf16_gemm on the active
// ISA: always with AMX; with AVX512-BF16 alone only for one part, since its dot product is
// twice as fast as an F32 FMA and the 3 or 6 part products of the exact modes are slower
// than OpenBLAS's sgemm.
bool use_bf16_gemm(int splits);
// Operands of the BF16 product C[M, N] (+)= A[M, K] . B[K, N], with leading dimensions:
// A(m, k) = trans ? p[k * ld + m] : p[m * ld + k]; B(k, n) = trans ? p[n * ld + k] : p[k * ld + n].
// The transposed forms are what the backward of a linear layer needs (dx = dy . W reads W
// k-major, dW = dyᵀ . x reads dy transposed); they are packed from the source directly.
struct Bf16A {
    const float* p;
    std::int64_t ld;
    bool trans;
};
struct Bf16B {
    const void* p;
    DType dtype;  // F32, or BF16 with trans (the weights of a forward linear)
    std::int64_t ld;  // with trans it must be K
    bool trans;
};
// The operands split into `splits` BF16 parts (3: F32-exact; see linear_bf16.cpp), the part
// products on AMX tiles or, without them, with AVX512-BF16 dot products.
void bf16_gemm(const Bf16A& a, const Bf16B& b, std::int64_t M, std::int64_t N, std::int64_t K, float* c,
               std::int64_t ldc, bool accumulate, int splits);
// y[rows, out] = x . W^T for BF16 or F32 W [out, in].
void bf16_linear(const float* x, std::int64_t rows, std::int64_t in, const void* w, DType w_dtype, std::int64_t out,
                 float* y, int splits);

// Elements [offset, offset + n) of a flat weight as F32 (Q8_0: whole blocks).
void convert_to_f32(DType t, const void* w, std::int64_t offset, std::int64_t n, float* dst);

}  // namespace emu::ops::detail
