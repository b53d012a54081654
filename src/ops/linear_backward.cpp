#include <cblas.h>

#include "emu/core/error.h"
#include "emu/ops/linear.h"

namespace emu::ops {

void linear_backward_input(const float* dy, std::int64_t rows, const Tensor& w, float* dx, bool accumulate) {
    check(w.dtype() == DType::F32 && w.ndim() == 2, "linear_backward_input: need an F32 matrix, got ",
          dtype_name(w.dtype()), " ", shape_str(w.shape()));
    if (rows <= 0) return;
    const std::int64_t out = w.dim(0), in = w.dim(1);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(rows), int(in), int(out), 1.f, dy, int(out),
                w.data<float>(), int(in), accumulate ? 1.f : 0.f, dx, int(in));
}

void linear_backward_weight(const float* dy, const float* x, std::int64_t rows, std::int64_t out, std::int64_t in,
                            float* dw) {
    if (rows <= 0) return;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(out), int(in), int(rows), 1.f, dy, int(out), x, int(in),
                1.f, dw, int(in));
}

}  // namespace emu::ops
