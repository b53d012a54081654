#include "emu/gen/transformer_model.h"

#include <cstring>

#include "emu/core/error.h"

namespace emu::gen {

std::int32_t TransformerModel::vocab_size() const { return std::int32_t(transformer_.config().vocab_size); }

int TransformerModel::new_stream(std::int64_t capacity) {
    caches_.push_back(transformer_.new_cache(capacity));
    return int(caches_.size()) - 1;
}

std::uint64_t TransformerModel::cache_bytes() const {
    std::uint64_t total = 0;
    for (const auto& c : caches_) total += c.bytes();
    return total;
}

std::int64_t TransformerModel::length(int stream) const {
    check(stream >= 0 && std::size_t(stream) < caches_.size(), "unknown stream ", stream);
    return caches_[std::size_t(stream)].length();
}

void TransformerModel::truncate(int stream, std::int64_t length) {
    check(stream >= 0 && std::size_t(stream) < caches_.size(), "unknown stream ", stream);
    caches_[std::size_t(stream)].truncate(length);
}

void TransformerModel::forward(std::span<const StreamFeed> feeds, std::vector<std::vector<float>>& logits) {
    std::vector<lm::SequenceStep> batch(feeds.size());
    for (std::size_t i = 0; i < feeds.size(); ++i) {
        check(feeds[i].stream >= 0 && std::size_t(feeds[i].stream) < caches_.size(), "unknown stream ", feeds[i].stream);
        batch[i].cache = &caches_[std::size_t(feeds[i].stream)];
        batch[i].tokens = feeds[i].tokens;
        if (!feeds[i].logits_rows.empty()) {
            batch[i].logits_rows = feeds[i].logits_rows;
        } else if (feeds[i].want_logits) {
            batch[i].last_only();
        }
        const std::int64_t n = std::int64_t(feeds[i].tokens.size()), prefix = feeds[i].causal_prefix;
        if (prefix >= 0 && prefix < n) {
            const std::int64_t past = batch[i].cache->length();
            batch[i].pattern = lm::AttentionPattern::causal(past, n);
            for (std::int64_t t = prefix; t < n; ++t) batch[i].pattern.kv_end[std::size_t(t)] = std::int32_t(past + n);
        }
    }
    std::vector<lm::SequenceResult> results = transformer_.forward(batch);
    ++passes_;
    logits.assign(feeds.size(), {});
    for (std::size_t i = 0; i < feeds.size(); ++i) {
        if (!feeds[i].want_logits && feeds[i].logits_rows.empty()) continue;
        const Tensor& t = results[i].logits;
        const float* p = t.data<float>();
        logits[i].assign(p, p + t.numel());
    }
}

}  // namespace emu::gen
