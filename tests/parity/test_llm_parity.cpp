// Every `kind: llm` case: our transformer against the official Emu3ForCausalLM
// outputs (full forward, token-by-token decode, the case's chunking, a mixed
// split, hidden states, and batched with a second, different sequence).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "emu/io/safetensors.h"
#include "emu/lm/transformer.h"
#include "emu/ops/isa.h"
#include "fixtures.h"

namespace fs = std::filesystem;
using namespace emu;
using namespace emu::lm;

namespace {

struct LoadedCase {
    test::FixtureCase info;
    std::unique_ptr<Transformer> model;
    SafetensorsFile expect;
    std::vector<std::int32_t> ids;
    double logits_tol = 0, hidden_tol = 0;
    bool argmax = false;
};

LoadedCase load_case(const test::FixtureCase& c) {
    const auto& files = c.info.at("files");
    fs::path dir(c.dir);
    Config cfg = Config::load((dir / files.at("config").get<std::string>()).string());
    TensorStore store = TensorStore::open((dir / files.at("weights").get<std::string>()).string());
    LoadedCase lc{c, std::make_unique<Transformer>(cfg, Weights::load(cfg, store)),
                  SafetensorsFile::open((dir / files.at("expect").get<std::string>()).string()), {}, 0, 0, false};
    Tensor ids = lc.expect.get("input_ids");
    for (std::uint64_t i = 0; i < ids.numel(); ++i) lc.ids.push_back(std::int32_t(ids.item(i)));
    const auto& tol = c.info.at("tolerances");
    lc.logits_tol = tol.at("logits_max_abs").get<double>();
    lc.hidden_tol = tol.value("hidden_states_max_abs", lc.logits_tol);
    lc.argmax = tol.value("argmax_must_match", false);
    return lc;
}

// rows: our values [n, cols]; expect rows [row0, row0+n) of `expect` [*, cols].
void expect_close(const std::string& what, const float* ours, std::int64_t n, const Tensor& expect,
                  std::int64_t row0, double tol, bool argmax) {
    const std::int64_t cols = expect.dim(-1);
    std::vector<float> e = expect.f32_values();
    double emax = 0, diff = 0;
    for (float v : e) emax = std::max(emax, double(std::fabs(v)));
    for (std::int64_t r = 0; r < n; ++r) {
        const float* er = e.data() + (row0 + r) * cols;
        const float* orow = ours + r * cols;
        for (std::int64_t j = 0; j < cols; ++j) diff = std::max(diff, double(std::fabs(orow[j] - er[j])));
        if (argmax) {
            auto oa = std::max_element(orow, orow + cols) - orow;
            auto ea = std::max_element(er, er + cols) - er;
            EXPECT_EQ(oa, ea) << what << ": argmax differs at row " << row0 + r;
        }
    }
    double bound = tol * std::max(1.0, emax);
    std::printf("  %-32s max abs diff %.3g (bound %.3g)\n", what.c_str(), diff, bound);
    EXPECT_LE(diff, bound) << what << ": max abs diff " << diff << " over " << n << " rows";
}

std::vector<LoadedCase> all_cases() {
    std::vector<LoadedCase> out;
    for (const auto& c : test::cases_of_kind("llm")) out.push_back(load_case(c));
    return out;
}

std::span<const std::int32_t> slice(const std::vector<std::int32_t>& v, std::size_t b, std::size_t n) {
    return std::span<const std::int32_t>(v).subspan(b, n);
}

// Feeds ids in the given chunk sizes through one cache; returns all logits rows.
std::vector<float> run_chunks(const Transformer& m, const std::vector<std::int32_t>& ids,
                              const std::vector<std::int64_t>& chunks, DType cache_dtype = DType::F32) {
    KvCache cache = m.new_cache(std::int64_t(ids.size()), cache_dtype);
    std::vector<float> out;
    std::size_t pos = 0;
    for (std::int64_t n : chunks) {
        Tensor l = m.logits(cache, slice(ids, pos, std::size_t(n)));
        out.insert(out.end(), l.data<float>(), l.data<float>() + l.numel());
        pos += std::size_t(n);
    }
    EXPECT_EQ(cache.length(), std::int64_t(ids.size()));
    return out;
}

class LlmParity : public ::testing::Test {
protected:
    static void SetUpTestSuite() { cases_ = new std::vector<LoadedCase>(all_cases()); }
    static void TearDownTestSuite() { delete cases_; }
    static std::vector<LoadedCase>* cases_;
    void SetUp() override {
        if (cases_->empty()) GTEST_FAIL() << "no llm cases under " << test::fixtures_root();
    }
};
std::vector<LoadedCase>* LlmParity::cases_ = nullptr;

}  // namespace

TEST_F(LlmParity, FullForwardLogitsAndHiddenStatesEveryIsa) {
    for (auto& c : *cases_)
    for (ops::Isa isa : {ops::Isa::Portable, ops::Isa::Avx2, ops::Isa::Avx512, ops::Isa::Avx512Bf16, ops::Isa::Amx}) {
        if (!ops::isa_supported(isa)) continue;
        SCOPED_TRACE(c.info.name + " " + ops::isa_name(isa));
        ops::force_isa(isa);
        const Transformer& m = *c.model;
        KvCache cache = m.new_cache(std::int64_t(c.ids.size()));
        SequenceStep step;
        step.cache = &cache;
        step.tokens = c.ids;
        step.all_rows();
        std::vector<SequenceStep> batch{step};
        ForwardOptions opt;
        opt.hidden_states = true;
        auto res = m.forward(batch, opt);
        ops::clear_forced_isa();
        const std::int64_t T = std::int64_t(c.ids.size());
        expect_close("logits", res[0].logits.data<float>(), T, c.expect.get("logits"), 0, c.logits_tol, c.argmax);
        const Tensor& hs = c.expect.get("hidden_states");
        ASSERT_EQ(res[0].hidden_states.shape(), hs.shape());
        expect_close("hidden_states", res[0].hidden_states.data<float>(), hs.dim(0) * hs.dim(1),
                     hs.reshaped({hs.dim(0) * hs.dim(1), hs.dim(2)}), 0, c.hidden_tol, false);
    }
}

TEST_F(LlmParity, DecodeTokenByTokenEveryIsa) {
    for (auto& c : *cases_) {
        SCOPED_TRACE(c.info.name);
        for (ops::Isa isa : {ops::Isa::Portable, ops::Isa::Avx2, ops::Isa::Avx512, ops::Isa::Avx512Bf16, ops::Isa::Amx}) {
            if (!ops::isa_supported(isa)) continue;
            SCOPED_TRACE(ops::isa_name(isa));
            ops::force_isa(isa);
            std::vector<std::int64_t> ones(c.ids.size(), 1);
            std::vector<float> got = run_chunks(*c.model, c.ids, ones);
            ops::clear_forced_isa();
            expect_close("decode_logits", got.data(), std::int64_t(c.ids.size()), c.expect.get("decode_logits"), 0,
                         c.logits_tol, c.argmax);
        }
    }
}

TEST_F(LlmParity, ChunkedAsInCase) {
    for (auto& c : *cases_) {
        SCOPED_TRACE(c.info.name);
        if (!c.info.info.contains("chunks")) {
            std::printf("  %s: no chunks in case.json, chunked_logits not checked\n", c.info.name.c_str());
            continue;
        }
        std::vector<std::int64_t> chunks = c.info.info.at("chunks").get<std::vector<std::int64_t>>();
        std::int64_t total = 0;
        for (auto n : chunks) total += n;
        ASSERT_EQ(total, std::int64_t(c.ids.size()));
        std::vector<float> got = run_chunks(*c.model, c.ids, chunks);
        expect_close("chunked_logits", got.data(), total, c.expect.get("chunked_logits"), 0, c.logits_tol, c.argmax);
    }
}

TEST_F(LlmParity, MixedPrefillThenDecode) {
    for (auto& c : *cases_) {
        SCOPED_TRACE(c.info.name);
        const std::int64_t T = std::int64_t(c.ids.size());
        for (std::int64_t k : {std::int64_t(1), std::max<std::int64_t>(1, T / 2), std::max<std::int64_t>(1, T - 1)}) {
            std::vector<std::int64_t> chunks{k};
            for (std::int64_t i = k; i < T; ++i) chunks.push_back(1);
            std::vector<float> got = run_chunks(*c.model, c.ids, chunks);
            expect_close("mixed split k=" + std::to_string(k), got.data(), T, c.expect.get("decode_logits"), 0,
                         c.logits_tol, c.argmax);
        }
    }
}

TEST_F(LlmParity, BatchedWithADifferentSequence) {
    for (auto& c : *cases_) {
        SCOPED_TRACE(c.info.name);
        const Transformer& m = *c.model;
        const std::int64_t T = std::int64_t(c.ids.size()), V = m.config().vocab_size;
        // A second sequence of another length and content.
        std::vector<std::int32_t> other;
        for (std::int64_t i = 0; i < T + 3; ++i) other.push_back(std::int32_t((c.ids[std::size_t(i % T)] * 7 + i + 1) % V));
        std::vector<float> other_alone = run_chunks(m, other, {std::int64_t(other.size())});

        // Prefill both (different lengths) in one call, then decode both in lockstep.
        const std::int64_t ka = std::max<std::int64_t>(1, T / 2), kb = std::int64_t(other.size()) - (T - ka);
        KvCache ca = m.new_cache(T), cb = m.new_cache(std::int64_t(other.size()));
        std::vector<float> got_a, got_b;
        auto step = [&](std::int64_t pa, std::int64_t na, std::int64_t pb, std::int64_t nb) {
            std::vector<SequenceStep> batch(2);
            batch[0].cache = &ca;
            batch[0].tokens = slice(c.ids, std::size_t(pa), std::size_t(na));
            batch[0].all_rows();
            batch[1].cache = &cb;
            batch[1].tokens = slice(other, std::size_t(pb), std::size_t(nb));
            batch[1].all_rows();
            auto res = m.forward(batch);
            got_a.insert(got_a.end(), res[0].logits.data<float>(), res[0].logits.data<float>() + res[0].logits.numel());
            got_b.insert(got_b.end(), res[1].logits.data<float>(), res[1].logits.data<float>() + res[1].logits.numel());
        };
        step(0, ka, 0, kb);
        for (std::int64_t i = 0; i < T - ka; ++i) step(ka + i, 1, kb + i, 1);
        expect_close("batched sequence A", got_a.data(), T, c.expect.get("decode_logits"), 0, c.logits_tol, c.argmax);
        Tensor alone = Tensor::from_f32({std::int64_t(other.size()), V}, other_alone);
        expect_close("batched sequence B vs alone", got_b.data(), std::int64_t(other.size()), alone, 0, 1e-4, false);
    }
}

// A BF16 KV cache is not exact: it is held to the fixtures' bf16 allowance
// (2e-2 relative, the tolerance README gives for computing in bf16).
TEST_F(LlmParity, Bf16KvCacheWithinBf16Allowance) {
    for (auto& c : *cases_) {
        SCOPED_TRACE(c.info.name);
        const std::int64_t T = std::int64_t(c.ids.size());
        std::vector<std::int64_t> chunks{std::max<std::int64_t>(1, T / 2)};
        for (std::int64_t i = chunks[0]; i < T; ++i) chunks.push_back(1);
        std::vector<float> got = run_chunks(*c.model, c.ids, chunks, DType::BF16);
        expect_close("bf16 kv cache", got.data(), T, c.expect.get("decode_logits"), 0, std::max(c.logits_tol, 2e-2),
                     false);
    }
}
