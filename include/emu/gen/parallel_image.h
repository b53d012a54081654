// Parallel image decoding (DiDA-style discrete diffusion): the body of an image starts
// as mask tokens with its row ends fixed; each pass predicts every masked position at
// once from a bidirectional view of the block (causal towards the prompt) and commits
// the most confident predictions by a cosine schedule, so an image costs `steps` passes
// instead of one per token. Guidance and sampling settings are those of AR decoding.
//
// What the paper leaves open (spec 7.3) is chosen here and documented in docs/dida.md:
// [MASK] noise (a reserved special token), prediction of token p from the hidden state at
// p - 1 (the AR head's alignment, so adaptation starts from the AR model), confidence =
// probability of the sampled token, no re-masking of committed tokens.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "emu/gen/image_grammar.h"
#include "emu/gen/model.h"
#include "emu/gen/sampling.h"

namespace emu::gen {

struct ParallelImageSettings {
    int steps = 8;          // denoising passes per image
    TokenId mask_token = -1;  // the [MASK] id the model was adapted with
};

// Number of positions still masked after pass `step` (0-based) of `steps`, out of `total`:
// floor(total * cos(pi/2 * (step+1)/steps)), at least one fewer than before, 0 at the end.
std::int64_t masked_after_step(std::int64_t total, int step, int steps, std::int64_t masked_before);

struct ParallelImageStreams {
    int cond = -1, uncond = -1;
    // Tokens not yet fed to each stream; both end with IMG. The decoder feeds everything
    // before IMG causally in its first pass and leaves the caches holding exactly that.
    std::vector<TokenId>* cond_pending = nullptr;
    std::vector<TokenId>* uncond_pending = nullptr;  // null when there is no guidance stream
};

// Returns the image body: h rows of w visual tokens, EOL between rows, EOI last.
std::vector<TokenId> decode_image_parallel(LanguageModel& model, const ImageTokenIds& ids, GridSize size,
                                           const ParallelImageStreams& streams, float cfg_scale,
                                           const SamplingParams& sampling, const ParallelImageSettings& settings,
                                           SamplerRng& rng,
                                           const std::function<void(std::int64_t done, std::int64_t total)>& progress);

}  // namespace emu::gen
