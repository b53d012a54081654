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

// Plain double-precision version for tests.
void spatial_attention_reference(const float* q, const float* k, const float* v, float* out, int channels,
                                 std::size_t n, float scale);

}  // namespace emu::ops
