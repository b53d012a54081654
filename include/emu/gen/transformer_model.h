// The LanguageModel of the decoding loops on top of lm::Transformer: each stream is a
// KV cache; one forward() is one batched transformer call over all fed streams.
#pragma once
#include <vector>

#include "emu/gen/model.h"
#include "emu/lm/transformer.h"

namespace emu::gen {

class TransformerModel : public LanguageModel {
public:
    explicit TransformerModel(const lm::Transformer& transformer) : transformer_(transformer) {}
    std::int32_t vocab_size() const override;
    int new_stream(std::int64_t capacity) override;
    void forward(std::span<const StreamFeed> feeds, std::vector<std::vector<float>>& logits) override;
    std::int64_t length(int stream) const override;
    void truncate(int stream, std::int64_t length) override;
    std::int64_t passes() const override { return passes_; }
    // Bytes held by all caches so far.
    std::uint64_t cache_bytes() const;

private:
    const lm::Transformer& transformer_;
    std::vector<lm::KvCache> caches_;
    std::int64_t passes_ = 0;
};

}  // namespace emu::gen
