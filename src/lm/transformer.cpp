#include "emu/lm/transformer.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "emu/core/error.h"
#include "emu/io/safetensors.h"
#include "emu/ops/attention.h"
#include "emu/ops/linear.h"
#include "emu/ops/rmsnorm.h"
#include "emu/ops/rope.h"
#include "emu/ops/silu.h"

namespace emu::lm {

AttentionPattern AttentionPattern::causal(std::int64_t past, std::int64_t count) {
    AttentionPattern p;
    p.kv_begin.assign(std::size_t(count), 0);
    p.kv_end.resize(std::size_t(count));
    for (std::int64_t i = 0; i < count; ++i) p.kv_end[std::size_t(i)] = std::int32_t(past + i + 1);
    return p;
}

AttentionPattern AttentionPattern::block(std::int64_t past, std::int64_t count) {
    AttentionPattern p;
    p.kv_begin.assign(std::size_t(count), 0);
    p.kv_end.assign(std::size_t(count), std::int32_t(past + count));
    return p;
}

SequenceStep& SequenceStep::all_rows() {
    logits_rows.resize(tokens.size());
    for (std::size_t i = 0; i < tokens.size(); ++i) logits_rows[i] = std::int64_t(i);
    return *this;
}

Transformer::Transformer(Config cfg, Weights weights) : cfg_(std::move(cfg)), weights_(std::move(weights)) {
    check(std::int64_t(weights_.layers.size()) == cfg_.num_hidden_layers, "transformer: ", weights_.layers.size(),
          " layers of weights for a config with ", cfg_.num_hidden_layers);
}

Transformer Transformer::load(const std::string& path) {
    Config cfg = Config::load(path);
    TensorStore store = TensorStore::open(path);
    Weights w = Weights::load(cfg, store);
    return Transformer(std::move(cfg), std::move(w));
}

Tensor Transformer::logits(KvCache& cache, std::span<const std::int32_t> tokens) const {
    SequenceStep step;
    step.cache = &cache;
    step.tokens = tokens;
    step.all_rows();
    std::vector<SequenceStep> batch{std::move(step)};
    return std::move(forward(batch)[0].logits);
}

namespace {

// Per-sequence bookkeeping resolved before any work starts.
struct Resolved {
    std::int64_t offset = 0, count = 0, past = 0;
    std::vector<std::int32_t> kv_begin, kv_end;
};

// The activations of one forward, kept per thread between calls. A 512-token prefill of one
// real-size layer needs ~140 MB of them; allocating them fresh each call (zeroing plus a page
// fault per 4 KB) took 10-35% of that prefill. They grow to the largest call seen on the
// thread and are freed when it ends. Every element is written before it is read.
struct Activations {
    std::vector<float> x, h, q, k, v, attn, gate, up;
};

float* sized(std::vector<float>& buffer, std::int64_t n) {
    if (std::int64_t(buffer.size()) < n) {
        buffer = {};  // release first: never hold the old and the new buffer at once
        buffer.resize(std::size_t(n));
    }
    return buffer.data();
}

}  // namespace

std::vector<SequenceResult> Transformer::forward(std::span<SequenceStep> batch, const ForwardOptions& options) const {
    const Config& c = cfg_;
    const std::int64_t D = c.hidden_size, I = c.intermediate_size, H = c.num_attention_heads,
                       Hkv = c.num_key_value_heads, hd = c.head_dim, V = c.vocab_size, L = c.num_hidden_layers;
    const std::int64_t QD = c.q_dim(), KD = c.kv_dim(), half = hd / 2;

    // Validate everything first so a bad request leaves every cache untouched.
    std::vector<Resolved> seqs(batch.size());
    std::set<const KvCache*> seen;
    std::int64_t N = 0;
    for (std::size_t b = 0; b < batch.size(); ++b) {
        const SequenceStep& s = batch[b];
        check(s.cache != nullptr, "forward: sequence ", b, " has no kv cache");
        check(seen.insert(s.cache).second, "forward: sequence ", b, " shares its kv cache with another sequence");
        check(s.cache->layers() == L && s.cache->kv_heads() == Hkv && s.cache->head_dim() == hd,
              "forward: sequence ", b, "'s kv cache was made for another model shape");
        const std::int64_t S = std::int64_t(s.tokens.size()), past = s.cache->length();
        check(S > 0, "forward: sequence ", b, " has no new tokens");
        check(past + S <= s.cache->capacity(), "forward: sequence ", b, " needs ", past + S,
              " cache slots but its kv cache holds ", s.cache->capacity());
        for (std::int64_t i = 0; i < S; ++i)
            check(s.tokens[std::size_t(i)] >= 0 && s.tokens[std::size_t(i)] < V, "forward: token id ",
                  s.tokens[std::size_t(i)], " at row ", i, " of sequence ", b, " is outside the vocabulary (", V,
                  ")");
        check(s.positions.empty() || std::int64_t(s.positions.size()) == S, "forward: sequence ", b, " has ",
              s.positions.size(), " positions for ", S, " tokens");
        for (std::int64_t p : s.positions) check(p >= 0, "forward: negative position ", p, " in sequence ", b);
        for (std::int64_t r : s.logits_rows)
            check(r >= 0 && r < S, "forward: logits row ", r, " of sequence ", b, " is not one of its ", S,
                  " new tokens");
        Resolved& r = seqs[b];
        r.offset = N;
        r.count = S;
        r.past = past;
        AttentionPattern p = s.pattern.is_default() ? AttentionPattern::causal(past, S) : s.pattern;
        check(std::int64_t(p.kv_begin.size()) == S && std::int64_t(p.kv_end.size()) == S, "forward: sequence ",
              b, "'s attention pattern has ", p.kv_begin.size(), "/", p.kv_end.size(), " ranges for ", S,
              " tokens");
        for (std::int64_t i = 0; i < S; ++i) {
            std::int64_t lo = p.kv_begin[std::size_t(i)], hi = p.kv_end[std::size_t(i)];
            check(0 <= lo && lo <= hi && hi <= past + S, "forward: sequence ", b, " token ", i,
                  " may attend to slots [", lo, ", ", hi, ") outside the ", past + S, " filled slots");
        }
        r.kv_begin = std::move(p.kv_begin);
        r.kv_end = std::move(p.kv_end);
        N += S;
    }

    // RoPE tables for every new token, shared by all layers.
    std::vector<std::int64_t> positions(static_cast<std::size_t>(N));
    for (std::size_t b = 0; b < batch.size(); ++b)
        for (std::int64_t i = 0; i < seqs[b].count; ++i)
            positions[std::size_t(seqs[b].offset + i)] =
                batch[b].positions.empty() ? seqs[b].past + i : batch[b].positions[std::size_t(i)];
    std::vector<float> rope_cos(std::size_t(N * half)), rope_sin(std::size_t(N * half));
    ops::RopeParams rp{hd, float(c.rope_theta), float(c.rope_linear_factor)};
    ops::rope_tables(rp, positions.data(), N, rope_cos.data(), rope_sin.data());

    thread_local Activations act;
    float *const x = sized(act.x, N * D), *const h = sized(act.h, N * D), *const q = sized(act.q, N * QD),
                 *const k = sized(act.k, N * KD), *const v = sized(act.v, N * KD),
                 *const attn = sized(act.attn, N * QD), *const gate = sized(act.gate, N * I),
                 *const up = sized(act.up, N * I);

    for (std::size_t b = 0; b < batch.size(); ++b)
        for (std::int64_t i = 0; i < seqs[b].count; ++i)
            ops::weight_rows_to_f32(weights_.embed_tokens.raw(), weights_.embed_tokens.dtype(), D,
                                    batch[b].tokens[std::size_t(i)], 1, x + (seqs[b].offset + i) * D);

    // hidden_states[b]: [L+1, S, D]
    std::vector<SequenceResult> results(batch.size());
    auto record = [&](std::int64_t layer, const float* src) {
        for (std::size_t b = 0; b < batch.size(); ++b) {
            float* dst = results[b].hidden_states.data_mut<float>() + layer * seqs[b].count * D;
            std::memcpy(dst, src + seqs[b].offset * D, std::size_t(seqs[b].count * D) * sizeof(float));
        }
    };
    if (options.hidden_states) {
        for (std::size_t b = 0; b < batch.size(); ++b)
            results[b].hidden_states = Tensor::zeros(DType::F32, {L + 1, seqs[b].count, D});
    }

    const ops::AttentionDims ad{H, Hkv, hd};
    const float eps = float(c.rms_norm_eps);
    for (std::int64_t l = 0; l < L; ++l) {
        const LayerWeights& w = weights_.layers[std::size_t(l)];
        if (options.hidden_states) record(l, x);

        ops::rmsnorm(x, N, D, w.input_norm.data(), eps, h);
        ops::linear(h, N, w.q_proj, q);
        ops::linear(h, N, w.k_proj, k);
        ops::linear(h, N, w.v_proj, v);
        ops::rmsnorm(q, N * H, hd, w.q_norm.data(), eps, q);
        ops::rmsnorm(k, N * Hkv, hd, w.k_norm.data(), eps, k);
#pragma omp parallel for schedule(static) if (N * QD > (1 << 15))
        for (std::int64_t t = 0; t < N; ++t) {
            ops::rope_apply(q + t * QD, H, hd, rope_cos.data() + t * half, rope_sin.data() + t * half);
            ops::rope_apply(k + t * KD, Hkv, hd, rope_cos.data() + t * half, rope_sin.data() + t * half);
        }

        for (std::size_t b = 0; b < batch.size(); ++b) {
            const Resolved& r = seqs[b];
            KvCache& cache = *batch[b].cache;
            const std::int64_t cap = cache.capacity();
            const bool f32 = cache.dtype() == DType::F32;
            for (std::int64_t i = 0; i < r.count; ++i)
                for (std::int64_t j = 0; j < Hkv; ++j) {
                    const float* ks = k + (r.offset + i) * KD + j * hd;
                    const float* vs = v + (r.offset + i) * KD + j * hd;
                    const std::int64_t slot = (j * cap + r.past + i) * hd;
                    if (f32) {
                        std::memcpy(static_cast<float*>(cache.keys(l)) + slot, ks, std::size_t(hd) * sizeof(float));
                        std::memcpy(static_cast<float*>(cache.values(l)) + slot, vs, std::size_t(hd) * sizeof(float));
                    } else {
                        std::uint16_t* kd = static_cast<std::uint16_t*>(cache.keys(l)) + slot;
                        std::uint16_t* vd = static_cast<std::uint16_t*>(cache.values(l)) + slot;
                        for (std::int64_t c2 = 0; c2 < hd; ++c2) {
                            kd[c2] = f32_to_bf16(ks[c2]);
                            vd[c2] = f32_to_bf16(vs[c2]);
                        }
                    }
                }
            ops::attention(ad, q + r.offset * QD, r.count, QD, cache.keys(l), cache.values(l), cache.dtype(),
                           cap, r.kv_begin.data(), r.kv_end.data(), attn + r.offset * QD, QD);
        }

        ops::linear(attn, N, w.o_proj, h);
        for (std::int64_t i = 0; i < N * D; ++i) x[i] += h[i];

        ops::rmsnorm(x, N, D, w.post_norm.data(), eps, h);
        ops::linear(h, N, w.gate_proj, gate);
        ops::linear(h, N, w.up_proj, up);
        ops::silu_mul(gate, up, N * I);
        ops::linear(gate, N, w.down_proj, h);
        for (std::int64_t i = 0; i < N * D; ++i) x[i] += h[i];
    }
    for (std::size_t b = 0; b < batch.size(); ++b) batch[b].cache->set_length(seqs[b].past + seqs[b].count);

    // Final norm: over every row when hidden states are wanted, else only the
    // rows whose logits are asked for.
    std::int64_t M = 0;
    for (const auto& s : batch) M += std::int64_t(s.logits_rows.size());
    std::vector<float> sel(std::size_t(M * D));
    if (options.hidden_states) {
        ops::rmsnorm(x, N, D, weights_.final_norm.data(), eps, x);
        record(L, x);
    }
    {
        std::int64_t m = 0;
        for (std::size_t b = 0; b < batch.size(); ++b)
            for (std::int64_t row : batch[b].logits_rows)
                std::memcpy(sel.data() + (m++) * D, x + (seqs[b].offset + row) * D, std::size_t(D) * 4);
    }
    if (!options.hidden_states) ops::rmsnorm(sel.data(), M, D, weights_.final_norm.data(), eps, sel.data());
    std::vector<float> out(std::size_t(M * V));
    if (M > 0) ops::linear(sel.data(), M, weights_.lm_head, out.data());
    std::int64_t m = 0;
    for (std::size_t b = 0; b < batch.size(); ++b) {
        std::int64_t n = std::int64_t(batch[b].logits_rows.size());
        results[b].logits = Tensor::zeros(DType::F32, {n, V});
        std::memcpy(results[b].logits.data_mut<float>(), out.data() + m * V, std::size_t(n * V) * sizeof(float));
        m += n;
    }
    return results;
}

}  // namespace emu::lm
