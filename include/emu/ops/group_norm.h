// GroupNorm over one CHW image (batch 1), as torch.nn.GroupNorm with affine weights,
// optionally followed by swish (x * sigmoid(x)), which is how every IBQ norm is used
// except the attention one.
#pragma once
#include <cstddef>

namespace emu::ops {

// y may alias x (in place). Statistics are accumulated in double.
void group_norm(const float* x, float* y, int channels, std::size_t hw, int groups, float eps, const float* gamma,
                const float* beta, bool then_swish);

// The per-channel affine that GroupNorm amounts to: norm(x)[c] = x[c] * scale[c] + shift[c]
// (gamma/beta folded in). For fusing the norm into a following conv's input read.
void group_norm_coefficients(const float* x, int channels, std::size_t hw, int groups, float eps, const float* gamma,
                             const float* beta, float* scale, float* shift);

// y = x * sigmoid(x), elementwise; y may alias x.
void swish(const float* x, float* y, std::size_t n);

// Gradients of group_norm (with the same arguments), given dy = dLoss/dy. Adds into dx,
// dgamma and dbeta (dgamma/dbeta may be null). Statistics are recomputed from x exactly as
// the forward computes them; sums are in double.
void group_norm_backward(const float* x, const float* dy, float* dx, int channels, std::size_t hw, int groups,
                         float eps, const float* gamma, const float* beta, bool then_swish, float* dgamma,
                         float* dbeta);

// dx += dy * swish'(x).
void swish_backward(const float* x, const float* dy, float* dx, std::size_t n);

// The same norm computed plainly in double (two-pass variance): slow, for tests.
void group_norm_reference(const float* x, float* y, int channels, std::size_t hw, int groups, float eps,
                          const float* gamma, const float* beta, bool then_swish);

}  // namespace emu::ops
