#include "emu/gen/ar_decoder.h"

#include "emu/core/error.h"
#include "emu/gen/guidance.h"

namespace emu::gen {

DecodeResult decode_autoregressive(LanguageModel& model, const ImageTokenIds& ids, std::span<const TokenId> prompt,
                                   std::span<const TokenId> uncond_prompt, const DecodeSettings& settings,
                                   const DecodeCallbacks& callbacks) {
    check(!prompt.empty(), "the prompt is empty");
    check(settings.max_new_tokens > 0, "max_new_tokens must be positive, got ", settings.max_new_tokens);
    check(ids.vocab_size == model.vocab_size(), "the model has ", model.vocab_size(),
          " logits but the tokenizer layout expects ", ids.vocab_size);
    for (TokenId t : prompt) check(t >= 0 && t < ids.vocab_size, "prompt token ", t, " is outside the vocabulary");

    ImageGrammar grammar(ids, settings.target_size, settings.force_same_size, uncond_prompt);
    grammar.start(prompt);
    SamplerRng rng(settings.seed);
    const std::int64_t passes_before = model.passes();

    const int cond = model.new_stream(std::int64_t(prompt.size()) + settings.max_new_tokens);
    int uncond = -1;  // created on the first image step, as the official lazy prefill
    std::vector<TokenId> uncond_first;

    DecodeResult result;
    std::vector<TokenId> cond_feed(prompt.begin(), prompt.end());
    std::int64_t image_begin = -1;  // index in result.tokens of the current BOI
    std::int64_t visual_done = 0;   // visual tokens of the current image so far
    std::vector<std::vector<float>> logits;
    std::vector<StreamFeed> feeds;

    TokenId last = prompt.back();
    while (int(result.tokens.size()) < settings.max_new_tokens) {
        const StepPlan plan = grammar.step(last);

        feeds.clear();
        feeds.push_back({cond, cond_feed, !plan.forced()});
        if (plan.feed_uncond) {
            if (uncond < 0) {
                check(!uncond_prompt.empty(), "an image needs an unconditional prompt for guidance");
                uncond = model.new_stream(std::int64_t(uncond_prompt.size()) + settings.max_new_tokens);
                uncond_first.assign(uncond_prompt.begin(), uncond_prompt.end());
                uncond_first.push_back(last);
                feeds.push_back({uncond, uncond_first, plan.guided});
            } else {
                feeds.push_back({uncond, std::span<const TokenId>(&last, 1), plan.guided});
            }
        }
        model.forward(feeds, logits);

        TokenId next;
        if (plan.forced()) {
            next = plan.only[0];
        } else {
            std::vector<float>& scores = logits[0];
            check(scores.size() == std::size_t(ids.vocab_size), "model returned ", scores.size(), " logits");
            if (plan.guided) apply_cfg(scores, logits[1], settings.cfg_scale);
            grammar.constrain(plan, scores);
            next = sample_token(scores, plan.image_mode ? settings.image : settings.text, rng);
        }

        result.tokens.push_back(next);
        if (plan.image_mode) ++result.image_tokens;
        if (callbacks.on_token) callbacks.on_token(next, plan.image_mode);
        if (next == ids.boi) {
            image_begin = std::int64_t(result.tokens.size()) - 1;
            visual_done = 0;
        }
        if (plan.image_mode && ids.is_visual(next)) {
            ++visual_done;
            if (callbacks.on_image_progress && grammar.size()) {
                const GridSize size = *grammar.size();
                callbacks.on_image_progress(visual_done, std::int64_t(size.h) * size.w);
            }
        }
        if (next == ids.eoi && image_begin >= 0 && callbacks.on_image) {
            callbacks.on_image(std::span<const TokenId>(result.tokens).subspan(std::size_t(image_begin)));
            image_begin = -1;
        }
        if (next == settings.eos) {
            result.stopped_at_eos = true;
            break;
        }
        last = next;
        cond_feed.assign(1, next);
    }
    result.passes = model.passes() - passes_before;
    return result;
}

}  // namespace emu::gen
