#include "emu/gen/parallel_image.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "emu/core/error.h"
#include "emu/gen/guidance.h"

namespace emu::gen {

namespace {
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Probability of `token` under softmax(scores).
double probability_of(std::span<const float> scores, TokenId token) {
    const float top = *std::max_element(scores.begin(), scores.end());
    double total = 0;
    for (float s : scores) total += s == kNegInf ? 0.0 : std::exp(double(s) - top);
    return std::exp(double(scores[std::size_t(token)]) - top) / total;
}
}  // namespace

std::int64_t masked_after_step(std::int64_t total, int step, int steps, std::int64_t masked_before) {
    if (step + 1 >= steps || masked_before <= 1) return 0;
    const double pi = std::acos(-1.0);
    auto keep = std::int64_t(std::floor(double(total) * std::cos(pi / 2 * double(step + 1) / double(steps))));
    return std::clamp<std::int64_t>(keep, 0, masked_before - 1);
}

std::vector<TokenId> decode_image_parallel(LanguageModel& model, const ImageTokenIds& ids, GridSize size,
                                           const ParallelImageStreams& streams, float cfg_scale,
                                           const SamplingParams& sampling, const ParallelImageSettings& settings,
                                           SamplerRng& rng,
                                           const std::function<void(std::int64_t, std::int64_t)>& progress) {
    check(settings.steps >= 1, "parallel decoding needs at least one step, got ", settings.steps);
    check(settings.mask_token >= 0 && settings.mask_token < ids.vocab_size, "parallel decoding needs a mask token");
    check(size.h > 0 && size.w > 0, "image size unknown");
    check(streams.cond_pending && !streams.cond_pending->empty() && streams.cond_pending->back() == ids.img,
          "parallel decoding starts at the image token");
    const bool guided = streams.uncond >= 0 && streams.uncond_pending;
    if (guided) check(!streams.uncond_pending->empty() && streams.uncond_pending->back() == ids.img,
                      "the unconditional stream must also stand at the image token");

    // The block: IMG, then the body without its final EOI (visual positions masked).
    const std::int64_t row = size.w + 1, body = std::int64_t(size.h) * row;
    std::vector<TokenId> block(std::size_t(body), settings.mask_token);  // block[p] = body token p (p >= 1)
    block[0] = ids.img;
    std::vector<std::int64_t> masked;  // body positions (1-based) still masked
    for (std::int64_t p = 1; p < body; ++p) {
        if (p % row == 0) {
            block[std::size_t(p)] = ids.eol;
        } else {
            masked.push_back(p);
        }
    }
    const std::int64_t total = std::int64_t(masked.size());

    // First pass feeds the pending prefix causally in front of the block; later passes
    // redo only the block on top of the kept prefix.
    std::vector<TokenId> cond_first(streams.cond_pending->begin(), streams.cond_pending->end() - 1);
    std::vector<TokenId> uncond_first;
    if (guided) uncond_first.assign(streams.uncond_pending->begin(), streams.uncond_pending->end() - 1);
    const std::int64_t cond_base = model.length(streams.cond) + std::int64_t(cond_first.size());
    const std::int64_t uncond_base = guided ? model.length(streams.uncond) + std::int64_t(uncond_first.size()) : 0;

    if (progress) progress(0, total);
    std::vector<std::vector<float>> logits;
    const std::size_t vocab = std::size_t(ids.vocab_size);
    for (int step = 0; step < settings.steps && !masked.empty(); ++step) {
        std::vector<TokenId> cond_tokens = step == 0 ? cond_first : std::vector<TokenId>{};
        std::vector<TokenId> uncond_tokens = step == 0 ? uncond_first : std::vector<TokenId>{};
        const std::int64_t cond_prefix = std::int64_t(cond_tokens.size()), uncond_prefix = std::int64_t(uncond_tokens.size());
        cond_tokens.insert(cond_tokens.end(), block.begin(), block.end());
        uncond_tokens.insert(uncond_tokens.end(), block.begin(), block.end());
        if (step > 0) {
            model.truncate(streams.cond, cond_base);
            if (guided) model.truncate(streams.uncond, uncond_base);
        }
        std::vector<StreamFeed> feeds(guided ? 2 : 1);
        feeds[0].stream = streams.cond;
        feeds[0].tokens = cond_tokens;
        feeds[0].causal_prefix = cond_prefix;
        for (std::int64_t p : masked) feeds[0].logits_rows.push_back(cond_prefix + p - 1);  // p predicted at p - 1
        if (guided) {
            feeds[1].stream = streams.uncond;
            feeds[1].tokens = uncond_tokens;
            feeds[1].causal_prefix = uncond_prefix;
            for (std::int64_t p : masked) feeds[1].logits_rows.push_back(uncond_prefix + p - 1);
        }
        model.forward(feeds, logits);
        check(logits[0].size() == masked.size() * vocab, "model returned ", logits[0].size(), " logits for ",
              masked.size(), " rows");

        // Sample every masked position, then commit the most confident ones.
        std::vector<std::pair<double, std::size_t>> confidence(masked.size());
        std::vector<TokenId> proposal(masked.size());
        for (std::size_t m = 0; m < masked.size(); ++m) {
            std::span<float> scores(logits[0].data() + m * vocab, vocab);
            if (guided) apply_cfg(scores, std::span<const float>(logits[1].data() + m * vocab, vocab), cfg_scale);
            const std::size_t v0 = std::size_t(ids.first_visual), v1 = v0 + std::size_t(ids.n_visual);
            for (std::size_t i = 0; i < vocab; ++i)
                if (i < v0 || i >= v1) scores[i] = kNegInf;
            proposal[m] = sample_token(scores, sampling, rng);
            confidence[m] = {probability_of(scores, proposal[m]), m};
        }
        const std::int64_t keep_masked = masked_after_step(total, step, settings.steps, std::int64_t(masked.size()));
        const std::size_t commit = masked.size() - std::size_t(keep_masked);
        // Highest confidence first; equal confidence: earlier position first.
        std::stable_sort(confidence.begin(), confidence.end(),
                         [](const auto& a, const auto& b) { return a.first > b.first; });
        std::vector<bool> committed(masked.size(), false);
        for (std::size_t c = 0; c < commit; ++c) {
            const std::size_t m = confidence[c].second;
            committed[m] = true;
            block[std::size_t(masked[m])] = proposal[m];
        }
        std::vector<std::int64_t> still;
        for (std::size_t m = 0; m < masked.size(); ++m)
            if (!committed[m]) still.push_back(masked[m]);
        masked.swap(still);
        if (progress) progress(total - std::int64_t(masked.size()), total);
    }
    // Leave the caches holding the prefix only: the caller feeds the clean image causally.
    model.truncate(streams.cond, cond_base);
    if (guided) model.truncate(streams.uncond, uncond_base);
    streams.cond_pending->clear();
    if (guided) streams.uncond_pending->clear();

    std::vector<TokenId> out(block.begin() + 1, block.end());
    out.push_back(ids.eoi);
    return out;
}

}  // namespace emu::gen
