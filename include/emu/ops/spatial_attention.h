// Single-head softmax attention over the H*W positions of a CHW feature map, as in
// the IBQ/VQGAN AttnBlock: out[c][i] = sum_j v[c][j] softmax_j(scale * q[:,i].k[:,j]).
// (The LLM's causal attention lives elsewhere; this one is unmasked and channel-major.)
#pragma once
#include <cstddef>

namespace emu::ops {

// q, k, v, out are [C, N] row-major. The score scratch is tiled over queries to at most
// scratch_floats (0 = 32 MiB; always at least one row of N).
void spatial_attention(const float* q, const float* k, const float* v, float* out, int channels, std::size_t n,
                       float scale, std::size_t scratch_floats = 0);

// Gradients of spatial_attention given dout [C, N]: the probabilities are recomputed tile
// by tile exactly as the forward computes them (nothing N x N is kept between the passes).
// Adds into dq, dk, dv ([C, N] each).
void spatial_attention_backward(const float* q, const float* k, const float* v, const float* dout, float* dq,
                                float* dk, float* dv, int channels, std::size_t n, float scale,
                                std::size_t scratch_floats = 0);

// Plain double-precision version for tests.
void spatial_attention_reference(const float* q, const float* k, const float* v, float* out, int channels,
                                 std::size_t n, float scale);

}  // namespace emu::ops
