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

    // Tokens appended to a stream but not yet run through the model. A token only needs
    // a forward pass when logits are wanted after it, so forced tokens (image headers, row
    // ends) ride along with the next pass instead of costing one each.
    std::vector<TokenId> cond_pending(prompt.begin(), prompt.end());
    std::vector<TokenId> uncond_pending;

    DecodeResult result;
    std::int64_t image_begin = -1;  // index in result.tokens of the current BOI
    std::int64_t visual_done = 0;   // visual tokens of the current image so far
    std::vector<std::vector<float>> logits;

    auto emit = [&](TokenId next, bool image_mode) {
        result.tokens.push_back(next);
        if (image_mode) ++result.image_tokens;
        if (callbacks.on_token) callbacks.on_token(next, image_mode);
        if (next == ids.boi) {
            image_begin = std::int64_t(result.tokens.size()) - 1;
            visual_done = 0;
        }
        if (image_mode && ids.is_visual(next)) {
            ++visual_done;
            if (callbacks.on_image_progress && !settings.parallel && grammar.size()) {
                const GridSize size = *grammar.size();
                callbacks.on_image_progress(visual_done, std::int64_t(size.h) * size.w);
            }
        }
        if (next == ids.eoi && image_begin >= 0 && callbacks.on_image) {
            callbacks.on_image(std::span<const TokenId>(result.tokens).subspan(std::size_t(image_begin)));
            image_begin = -1;
        }
    };

    TokenId last = prompt.back();
    while (int(result.tokens.size()) < settings.max_new_tokens) {
        const StepPlan plan = grammar.step(last);
        if (plan.feed_uncond) {
            if (uncond < 0) {
                check(!uncond_prompt.empty(), "an image needs an unconditional prompt for guidance");
                uncond = model.new_stream(std::int64_t(uncond_prompt.size()) + settings.max_new_tokens);
                uncond_pending.assign(uncond_prompt.begin(), uncond_prompt.end());
            }
            uncond_pending.push_back(last);
        }

        if (last == ids.img && plan.guided && grammar.size() && callbacks.on_image_progress)
            callbacks.on_image_progress(0, std::int64_t(grammar.size()->h) * grammar.size()->w);
        // The first visual token: with parallel decoding the whole body is made here.
        if (settings.parallel && last == ids.img && plan.guided && grammar.size()) {
            const GridSize size = *grammar.size();
            const std::int64_t body = std::int64_t(size.h) * (size.w + 1);
            if (std::int64_t(result.tokens.size()) + body <= settings.max_new_tokens) {
                ParallelImageStreams streams{cond, uncond, &cond_pending, uncond >= 0 ? &uncond_pending : nullptr};
                std::vector<TokenId> tokens =
                    decode_image_parallel(model, ids, size, streams, settings.cfg_scale, settings.image,
                                          *settings.parallel, rng, callbacks.on_image_progress);
                // The clean image enters both caches causally with the next pass.
                cond_pending.push_back(ids.img);
                if (uncond >= 0) uncond_pending.push_back(ids.img);
                for (std::size_t i = 0; i < tokens.size(); ++i) {
                    emit(tokens[i], true);
                    cond_pending.push_back(tokens[i]);
                    if (i + 1 < tokens.size()) {
                        grammar.step(tokens[i]);  // keeps the grammar's counters in step
                        if (uncond >= 0) uncond_pending.push_back(tokens[i]);
                    }
                }
                last = tokens.back();
                continue;
            }
        }

        TokenId next;
        if (plan.forced()) {
            next = plan.only[0];
        } else {
            std::vector<StreamFeed> feeds(1);
            feeds[0].stream = cond;
            feeds[0].tokens = cond_pending;
            feeds[0].want_logits = true;
            if (plan.guided) {
                StreamFeed u;
                u.stream = uncond;
                u.tokens = uncond_pending;
                u.want_logits = true;
                feeds.push_back(u);
            }
            model.forward(feeds, logits);
            cond_pending.clear();
            if (plan.guided) uncond_pending.clear();
            std::vector<float>& scores = logits[0];
            check(scores.size() == std::size_t(ids.vocab_size), "model returned ", scores.size(), " logits");
            if (plan.guided) apply_cfg(scores, logits[1], settings.cfg_scale);
            grammar.constrain(plan, scores);
            next = sample_token(scores, plan.image_mode ? settings.image : settings.text, rng);
        }
        emit(next, plan.image_mode);
        if (next == settings.eos) {
            result.stopped_at_eos = true;
            break;
        }
        last = next;
        cond_pending.push_back(next);
    }
    result.passes = model.passes() - passes_before;
    return result;
}

}  // namespace emu::gen
