// Discrete diffusion adaptation (DiDA) data: AR training rows turned into rows that
// teach the model to fill in masked image tokens in parallel, matching the parallel
// decoder of gen/parallel_image.h: the image (IMG and its body up to the last token
// before EOI) becomes a bidirectional block, a random share of its visual tokens is
// replaced by [MASK], and the loss is on the masked tokens (their clean codes are the
// targets, read from the logits one position earlier). Tokens before the image keep
// their AR loss; tokens after it lose theirs (they would see a noisy image).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "emu/text/special_tokens.h"
#include "emu/train/data.h"
#include "emu/train/lm_model.h"

namespace emu::train {

struct DidaConfig {
    std::string mask_token = "<|extra_0|>";
    double ar_fraction = 0.25;  // sequences left as plain AR rows (the model keeps both modes)
    int steps = 8;              // the decoder's default step count, written into the export
};
DidaConfig dida_config_from_json(const nlohmann::json& j);  // unknown keys are errors

// A batch in the trainer's terms, with its own buffers.
struct DidaRows {
    std::vector<std::int32_t> ids, targets, blocks, segments;
    std::vector<std::int64_t> positions;
    std::vector<float> mask;
    std::int64_t masked = 0;  // [MASK] tokens placed
    LmBatchView view(const Batch& b) const;
};

// Deterministic in (batch, seed): the noise of a sequence depends on its stream position.
void make_dida_rows(const Batch& batch, const text::SpecialRoles& roles, text::TokenId mask_token,
                    const DidaConfig& config, std::uint64_t seed, DidaRows& out);

}  // namespace emu::train
