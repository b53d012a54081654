// Linear layers over weights kept in their stored dtype (F32, BF16, F16, Q8_0):
// y[r, o] = sum_i x[r, i] * w[o, i], always accumulated in F32. A BF16 matrix is
// never expanded to F32 as a whole: decode-sized inputs stream the weights through
// SIMD dot kernels (each weight row read once for all input rows, so a batch of
// sequences costs about one pass), prefill-sized inputs convert one tile of rows
// at a time and hand it to BLAS.
#pragma once
#include <cstdint>
#include <string>

#include "emu/ops/isa.h"
#include "emu/tensor/tensor.h"

namespace emu::ops {

// x: F32 [rows, in] contiguous; w: [out, in] contiguous, any supported dtype;
// y: F32 [rows, out] contiguous. Throws Error on unsupported dtype or bad shape.
void linear(const float* x, std::int64_t rows, const Tensor& w, float* y);

// The streaming kernel alone (no BLAS), on output rows [o_begin, o_end) and
// one thread, with an explicit SIMD level; y row r starts at y + r * ldy.
// Exposed so tests can compare every level with the portable one.
void linear_rows(Isa isa, const float* x, std::int64_t rows, std::int64_t in, const void* w, DType w_dtype,
                 std::int64_t o_begin, std::int64_t o_end, float* y, std::int64_t ldy);

// Q8_0 copy of a float matrix [out, in] (in a multiple of 32): per block of 32
// values one F16 scale d = max|x| / 127 and round(x / d) as int8.
Tensor quantize_q8_0(const Tensor& w);

// Rows [row_begin, row_begin + count) of an [out, in] weight converted to F32.
void weight_rows_to_f32(const void* w, DType w_dtype, std::int64_t in, std::int64_t row_begin, std::int64_t count,
                        float* dst);

// Input rows at or above this count go through BLAS (prefill); below it, the
// streaming kernels (decode). Tests lower it to exercise both paths.
// BF16 weights with many input rows on AMX: the F32 input is split into this
// many BF16 parts whose products with the weights are summed in F32. 3 (default)
// reproduces F32 arithmetic; 2 is within ~1e-5 relative; 1 rounds the inputs to
// BF16 as the official bf16 runtime (and PyTorch's bf16 matmul) do, 3x faster.
// F32 weights on AMX are split the same way while packed (a + b < splits part
// products); 3 is again F32-exact. The split count applies to both.
int bf16_input_splits();
void set_bf16_input_splits(int splits);
// F32 weights with many rows: AMX split products, or OpenBLAS sgemm (default;
// the 6 AMX passes measured about even with it, see docs/lm.md).
bool amx_for_f32();
void set_amx_for_f32(bool on);

// Backward of linear for F32 weights w [out, in]: dx[rows, in] = dy · w
// (overwritten; accumulate = true adds instead), dw[out, in] += dyᵀ · x. With
// amx_for_f32() on an AMX CPU (precision fast or bf16), or on an AVX512-BF16 CPU with one
// part (precision bf16), both run as BF16 part products with bf16_input_splits() parts, like
// the forward; otherwise through sgemm.
void linear_backward_input(const float* dy, std::int64_t rows, const Tensor& w, float* dx, bool accumulate = false);
void linear_backward_weight(const float* dy, const float* x, std::int64_t rows, std::int64_t out, std::int64_t in,
                            float* dw);

// The user-facing choice behind the two knobs above, for prefill-sized products:
//   exact (default): F32 results - F32 weights through OpenBLAS sgemm, BF16 weights on AMX
//                    with the input split in 3 BF16 parts;
//   fast:  2 parts on AMX for F32 and BF16 weights alike (about 1e-5 relative error; F32
//          prefill measured 1.48-1.54x PyTorch's sgemm on this machine, docs/lm.md);
//   bf16:  inputs rounded to BF16, as the official bf16 runtime and PyTorch's bf16 matmul do.
// Without AMX, bf16 runs on AVX512-BF16 dot products where the CPU has them (AMD Zen 4) and
// the other modes compute F32 products; without either, every mode computes F32 products.
// Throws Error naming the modes otherwise.
void set_prefill_precision(const std::string& mode);

std::int64_t blas_min_rows();
void set_blas_min_rows(std::int64_t rows);

}  // namespace emu::ops
