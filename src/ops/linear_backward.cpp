// Backward of a linear layer over F32 weights. With the F32-in-BF16-parts knob on
// (`set_prefill_precision("fast" | "bf16")`, how a trainer asks for faster products) and
// a CPU that runs such products (detail::use_bf16_gemm), both go through bf16_gemm with
// the same input splits as the forward; otherwise through OpenBLAS sgemm.
#include <cblas.h>

#include "emu/core/error.h"
#include "emu/ops/linear.h"
#include "linear_kernels.h"

namespace emu::ops {
namespace {

bool use_bf16(std::int64_t rows) {
    return amx_for_f32() && rows >= blas_min_rows() && detail::use_bf16_gemm(bf16_input_splits());
}

}  // namespace

void linear_backward_input(const float* dy, std::int64_t rows, const Tensor& w, float* dx, bool accumulate) {
    check(w.dtype() == DType::F32 && w.ndim() == 2, "linear_backward_input: need an F32 matrix, got ",
          dtype_name(w.dtype()), " ", shape_str(w.shape()));
    if (rows <= 0) return;
    const std::int64_t out = w.dim(0), in = w.dim(1);
    if (use_bf16(rows)) {
        detail::bf16_gemm(detail::Bf16A{dy, out, false}, detail::Bf16B{w.raw(), DType::F32, in, false}, rows, in, out, dx,
                         in, accumulate, bf16_input_splits());
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(rows), int(in), int(out), 1.f, dy, int(out),
                w.data<float>(), int(in), accumulate ? 1.f : 0.f, dx, int(in));
}

void linear_backward_weight(const float* dy, const float* x, std::int64_t rows, std::int64_t out, std::int64_t in,
                            float* dw) {
    if (rows <= 0) return;
    if (use_bf16(rows)) {
        detail::bf16_gemm(detail::Bf16A{dy, out, true}, detail::Bf16B{x, DType::F32, in, false}, out, in, rows, dw, in,
                         true, bf16_input_splits());
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(out), int(in), int(rows), 1.f, dy, int(out), x, int(in),
                1.f, dw, int(in));
}

}  // namespace emu::ops
