// Token-level cross-entropy for language-model training, with per-row weights
// (the loss mask): loss = sum_r weight[r] * (logsumexp(logits[r]) - logits[r, target[r]]).
#pragma once
#include <cstdint>

namespace emu::ops {

// logits: F32 [rows, vocab]. Rows with weight 0 are skipped (their target is not
// read). Returns the weighted sum of the per-row losses, accumulated in double.
// dlogits (may be null, may alias logits) receives d(loss * grad_scale)/d(logits);
// rows with weight 0 get zeros.
double cross_entropy(const float* logits, std::int64_t rows, std::int64_t vocab, const std::int32_t* targets,
                     const float* weights, float* dlogits, float grad_scale = 1.f);

}  // namespace emu::ops
