// What the decoding loops need from a language model: independent token streams
// (each with its own cache) advanced together in one batched call, returning the
// logits of chosen rows. The transformer implements it; tests implement it with
// scripted scores.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace emu::gen {

struct StreamFeed {
    int stream = 0;                          // handle from new_stream()
    std::span<const std::int32_t> tokens;    // appended to the stream
    bool want_logits = false;                // logits of the last appended token ...
    std::vector<std::int64_t> logits_rows;   // ... or of these rows of `tokens`, when not empty
    // Tokens [0, causal_prefix) attend causally; the ones after it attend to everything
    // before them and to each other (a bidirectional block, for parallel image decoding).
    // -1: all causal.
    std::int64_t causal_prefix = -1;
};

class LanguageModel {
public:
    virtual ~LanguageModel() = default;
    virtual std::int32_t vocab_size() const = 0;
    // A new empty stream able to hold `capacity` tokens in all; returns its handle.
    virtual int new_stream(std::int64_t capacity) = 0;
    // Advances every fed stream in one batched pass. `logits[i]` receives the scores of
    // feeds[i]'s wanted rows, concatenated (vocab_size floats per row), empty when none.
    virtual void forward(std::span<const StreamFeed> feeds, std::vector<std::vector<float>>& logits) = 0;
    // Tokens a stream holds, and dropping the newest ones (to redo a block).
    virtual std::int64_t length(int stream) const = 0;
    virtual void truncate(int stream, std::int64_t length) = 0;
    // Number of forward() calls so far: the "passes" figure of benchmarks.
    virtual std::int64_t passes() const = 0;
};

}  // namespace emu::gen
