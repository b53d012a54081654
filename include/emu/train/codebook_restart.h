// Dead-code restarts for VQ codebook training (`codebook.restart_every` in `emu train vq`).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace emu::train {

// Codes nobody chose (usage[i] == 0) move onto encoder outputs of the last batch
// (batch_z: [positions, D]), plus a little noise: a collapsed codebook recovers instead of
// wasting most of its entries (the VQ-VAE "random restart").
// by_error = false: outputs chosen uniformly. On ShapesWorld those are mostly plain
// background (objects cover about a tenth of a picture), so restarts keep splitting the
// background into codes that differ only by where the patch sits (emu-mini's first
// tokenizer gave plain background 316 codes).
// by_error = true: an output is chosen with probability proportional to its squared
// distance from the nearest code in use, updated after every restart (k-means++ seeding),
// so new codes go where the codebook fits worst.
// Deterministic for a seed. Returns how many codes moved.
int restart_dead_codes(std::span<float> codebook, int D, const std::vector<std::int64_t>& usage,
                       const std::vector<float>& batch_z, bool by_error, std::uint64_t seed);

}  // namespace emu::train
