// Classifier-free guidance for visual tokens, in the official log-probability form
// ("no_text" mode): score = s * (log_softmax(cond) - log_softmax(uncond)) + log_softmax(uncond).
#pragma once
#include <span>

namespace emu::gen {

// Overwrites `cond` with the guided scores over the full vocabulary.
void apply_cfg(std::span<float> cond, std::span<const float> uncond, float scale);

// log_softmax in place (float32 values, accumulated in double for the normaliser).
void log_softmax_inplace(std::span<float> logits);

}  // namespace emu::gen
