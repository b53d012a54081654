// RMSNorm as the official Emu3RMSNorm computes it in float32:
// y = w * (x / sqrt(mean(x^2) + eps)), per row of n values.
#pragma once
#include <cstdint>

namespace emu::ops {

// x and y may alias. w is F32 [n].
void rmsnorm(const float* x, std::int64_t rows, std::int64_t n, const float* w, float eps, float* y);
// The same, also writing each row's 1/sqrt(mean(x^2) + eps) to inv_rms[rows]
// (what the backward pass needs; null = not wanted). x and y must not alias
// when the input is needed later for backward.
void rmsnorm(const float* x, std::int64_t rows, std::int64_t n, const float* w, float eps, float* y, float* inv_rms);

// Backward of rmsnorm given the forward input x and its inv_rms: dx = (overwritten)
// gradient w.r.t. x; dw (may be null) accumulates the gradient w.r.t. w.
// With xhat = x * inv: dx = inv * (w*dy - xhat * mean(w*dy*xhat)); dw += sum_rows dy*xhat.
void rmsnorm_backward(const float* x, const float* inv_rms, std::int64_t rows, std::int64_t n, const float* w,
                      const float* dy, float* dx, float* dw);

}  // namespace emu::ops
