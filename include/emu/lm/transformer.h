// The Emu3.5 decoder (Emu3ForCausalLM) forward pass on CPU, exact in float32
// with weights in their stored dtype.
//
// One forward call advances a batch of independent sequences, each with its own
// KV cache and length, by a span of new tokens each. All new tokens of all
// sequences share every matrix product (a weight is streamed once per call, so a
// CFG pair of decode steps costs about one step); attention runs per sequence
// over its own cache with a caller-chosen pattern; logits are produced only for
// the rows asked for.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "emu/lm/config.h"
#include "emu/lm/kv_cache.h"
#include "emu/lm/weights.h"
#include "emu/tensor/tensor.h"

namespace emu::lm {

// Which cache slots each new token may attend to: token i sees slots
// [kv_begin[i], kv_end[i]). Empty vectors mean causal over the whole cache.
struct AttentionPattern {
    std::vector<std::int32_t> kv_begin, kv_end;

    // Token i (at slot past+i) sees slots 0..past+i.
    static AttentionPattern causal(std::int64_t past, std::int64_t count);
    // Every new token sees all earlier slots and all new ones (bidirectional
    // inside the new block, causal towards the past), as a parallel image-block
    // decoder needs.
    static AttentionPattern block(std::int64_t past, std::int64_t count);
    bool is_default() const { return kv_begin.empty() && kv_end.empty(); }
};

// One sequence's part of a batched forward.
struct SequenceStep {
    KvCache* cache = nullptr;              // new tokens are written at slots length()...
    std::span<const std::int32_t> tokens;  // new token ids (at least one)
    // RoPE positions of the new tokens; empty: cache->length() + i.
    std::vector<std::int64_t> positions;
    AttentionPattern pattern;  // empty: causal
    // Rows of the new tokens (0-based within `tokens`) whose logits are wanted,
    // in the order wanted. Default: none; see last_only()/all_rows().
    std::vector<std::int64_t> logits_rows;

    SequenceStep& last_only() { logits_rows = {std::int64_t(tokens.size()) - 1}; return *this; }
    SequenceStep& all_rows();
};

struct SequenceResult {
    Tensor logits;         // F32 [logits_rows.size(), vocab]
    Tensor hidden_states;  // F32 [layers+1, tokens, hidden] when requested (official output_hidden_states)
};

struct ForwardOptions {
    bool hidden_states = false;
};

class Transformer {
public:
    Transformer(Config cfg, Weights weights);
    // `path`: a model folder with config.json and model.safetensors (or a sharded index).
    static Transformer load(const std::string& path);

    const Config& config() const { return cfg_; }
    const Weights& weights() const { return weights_; }
    KvCache new_cache(std::int64_t capacity, DType dtype = DType::F32) const { return KvCache(cfg_, capacity, dtype); }
    // Replaces the projection matrices and the head by Q8_0 copies (see Weights).
    void quantize_q8_0() { weights_.quantize_q8_0(); }

    // Advances every sequence; caches grow by their token counts. Throws Error on
    // bad tokens, overflowing caches, a cache used twice, or an invalid pattern,
    // before touching any cache.
    std::vector<SequenceResult> forward(std::span<SequenceStep> batch, const ForwardOptions& options = {}) const;

    // Convenience: one sequence, logits of all new rows.
    Tensor logits(KvCache& cache, std::span<const std::int32_t> tokens) const;

private:
    Config cfg_;
    Weights weights_;
};

}  // namespace emu::lm
