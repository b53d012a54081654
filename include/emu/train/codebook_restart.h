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

// Near-duplicate codes split one cluster of outputs between them, and which of them an
// output takes is noise the transformer then has to predict (a 2048-code book on ShapesWorld
// had 753 codes within 0.3 of another, norm 5.66). Every live code whose nearest other live
// code lies within `distance` and was chosen at least as often is marked unused
// (usage[i] = 0), least used first, so restart_dead_codes moves it where it is needed; its
// outputs fall to the neighbour. Returns how many codes were retired.
int retire_duplicate_codes(std::span<const float> codebook, int D, std::vector<std::int64_t>& usage, double distance);

}  // namespace emu::train
