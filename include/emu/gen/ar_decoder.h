// Token-by-token decoding as the official HF path does it (spec 5.4-5.8): the image
// grammar decides each step's masks; visual tokens get classifier-free guidance from
// an unconditional stream that advanced in the same batched forward; text and image
// tokens are sampled with their own settings; EOS or the token budget stops it.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "emu/gen/image_grammar.h"
#include "emu/gen/model.h"
#include "emu/gen/parallel_image.h"
#include "emu/gen/sampling.h"

namespace emu::gen {

struct DecodeSettings {
    float cfg_scale = 3.0f;
    SamplingParams text, image;
    int max_new_tokens = 1024;
    std::uint64_t seed = 6666;
    TokenId eos = -1;
    std::optional<GridSize> target_size;  // preset, or none for auto
    bool force_same_size = true;
    // When set, image bodies are decoded in parallel (DiDA) instead of token by token;
    // text, image headers and the tokens around images stay autoregressive.
    std::optional<ParallelImageSettings> parallel;
};

// Observers of the stream; all optional.
struct DecodeCallbacks {
    std::function<void(TokenId token, bool image_mode)> on_token;
    // Called when an image's EOI is generated, with the ids from its BOI to its EOI.
    std::function<void(std::span<const TokenId> image_ids)> on_image;
    // Visual progress inside an image: tokens done and expected for the body.
    std::function<void(std::int64_t done, std::int64_t total)> on_image_progress;
};

struct DecodeResult {
    std::vector<TokenId> tokens;  // generated ids (prompt excluded), EOS included when reached
    bool stopped_at_eos = false;
    std::int64_t passes = 0;      // batched forward calls (forced tokens are fed with the next call)
    std::int64_t image_tokens = 0;
};

// Throws Error on empty prompts or settings that cannot work (no tokens to generate).
DecodeResult decode_autoregressive(LanguageModel& model, const ImageTokenIds& ids, std::span<const TokenId> prompt,
                                   std::span<const TokenId> uncond_prompt, const DecodeSettings& settings,
                                   const DecodeCallbacks& callbacks = {});

}  // namespace emu::gen
