// What the decoding loops need from a language model: independent token streams
// (each with its own cache) advanced together in one batched call, returning the
// logits of each stream's last new token when asked. The transformer implements it;
// tests implement it with scripted scores.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace emu::gen {

struct StreamFeed {
    int stream = 0;                          // handle from new_stream()
    std::span<const std::int32_t> tokens;    // appended to the stream
    bool want_logits = false;                // logits of the last appended token
};

class LanguageModel {
public:
    virtual ~LanguageModel() = default;
    virtual std::int32_t vocab_size() const = 0;
    // A new empty stream able to hold `capacity` tokens in all; returns its handle.
    virtual int new_stream(std::int64_t capacity) = 0;
    // Advances every fed stream in one batched pass. `logits[i]` receives the scores for
    // feeds[i] when it wants them (vocab_size floats), and is left empty otherwise.
    virtual void forward(std::span<const StreamFeed> feeds, std::vector<std::vector<float>>& logits) = 0;
    // Number of forward() calls so far: the "passes" figure of benchmarks.
    virtual std::int64_t passes() const = 0;
};

}  // namespace emu::gen
