// The transformer against an independent double-precision forward written from
// the math (any attention pattern, positions, MQA, tied embeddings, linear RoPE
// scaling), plus config/weights/forward error handling and sharded loading.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>

#include "emu/core/error.h"
#include "emu/io/safetensors.h"
#include "emu/lm/random_init.h"
#include "emu/lm/transformer.h"
#include "fixtures.h"

namespace fs = std::filesystem;
using namespace emu;
using namespace emu::lm;

namespace {

Config small_config() {
    nlohmann::json j = {{"model_type", "Emu3"},       {"hidden_act", "silu"},       {"vocab_size", 101},
                        {"hidden_size", 40},          {"intermediate_size", 72},    {"num_hidden_layers", 2},
                        {"num_attention_heads", 4},   {"num_key_value_heads", 1},   {"head_dim", 16},
                        {"rms_norm_eps", 1e-6},       {"rope_theta", 10000.0},      {"tie_word_embeddings", true},
                        {"max_position_embeddings", 64}};
    j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
    return Config::from_json(j, "test");
}

using Allowed = std::function<bool(std::int64_t i, std::int64_t j)>;

// Plain double-precision forward over all tokens, no cache.
std::vector<double> reference_logits(const Config& c, const std::map<std::string, Tensor>& w,
                                     const std::vector<std::int32_t>& ids, const std::vector<std::int64_t>& pos,
                                     const Allowed& allowed) {
    auto W = [&](const std::string& n) { return w.at(n).f32_values(); };
    const std::int64_t T = std::int64_t(ids.size()), D = c.hidden_size, I = c.intermediate_size,
                       H = c.num_attention_heads, Hk = c.num_key_value_heads, hd = c.head_dim, V = c.vocab_size;
    using Mat = std::vector<double>;
    auto matmul = [&](const Mat& x, std::int64_t in, const std::vector<float>& wt, std::int64_t out) {
        Mat y(std::size_t(T * out));
        for (std::int64_t t = 0; t < T; ++t)
            for (std::int64_t o = 0; o < out; ++o) {
                double s = 0;
                for (std::int64_t i = 0; i < in; ++i) s += x[std::size_t(t * in + i)] * wt[std::size_t(o * in + i)];
                y[std::size_t(t * out + o)] = s;
            }
        return y;
    };
    auto rms = [&](Mat& x, std::int64_t n, const std::vector<float>& g) {
        for (std::size_t r = 0; r < x.size() / std::size_t(n); ++r) {
            double ss = 0;
            for (std::int64_t i = 0; i < n; ++i) ss += x[r * n + i] * x[r * n + i];
            double inv = 1.0 / std::sqrt(ss / double(n) + c.rms_norm_eps);
            for (std::int64_t i = 0; i < n; ++i) x[r * n + i] = g[std::size_t(i)] * x[r * n + i] * inv;
        }
    };
    auto rope = [&](Mat& x, std::int64_t heads) {
        for (std::int64_t t = 0; t < T; ++t)
            for (std::int64_t h = 0; h < heads; ++h)
                for (std::int64_t i = 0; i < hd / 2; ++i) {
                    double a = double(pos[std::size_t(t)]) / c.rope_linear_factor /
                               std::pow(c.rope_theta, double(2 * i) / double(hd));
                    double& u = x[std::size_t((t * heads + h) * hd + i)];
                    double& v = x[std::size_t((t * heads + h) * hd + i + hd / 2)];
                    double nu = u * std::cos(a) - v * std::sin(a), nv = v * std::cos(a) + u * std::sin(a);
                    u = nu;
                    v = nv;
                }
    };
    std::vector<float> emb = W("model.embed_tokens.weight");
    Mat x(std::size_t(T * D));
    for (std::int64_t t = 0; t < T; ++t)
        for (std::int64_t i = 0; i < D; ++i) x[std::size_t(t * D + i)] = emb[std::size_t(ids[std::size_t(t)] * D + i)];
    for (std::int64_t l = 0; l < c.num_hidden_layers; ++l) {
        std::string p = "model.layers." + std::to_string(l) + ".";
        Mat h = x;
        rms(h, D, W(p + "input_layernorm.weight"));
        Mat q = matmul(h, D, W(p + "self_attn.q_proj.weight"), H * hd);
        Mat k = matmul(h, D, W(p + "self_attn.k_proj.weight"), Hk * hd);
        Mat v = matmul(h, D, W(p + "self_attn.v_proj.weight"), Hk * hd);
        rms(q, hd, W(p + "self_attn.q_norm.weight"));
        rms(k, hd, W(p + "self_attn.k_norm.weight"));
        rope(q, H);
        rope(k, Hk);
        Mat a(std::size_t(T * H * hd), 0.0);
        for (std::int64_t t = 0; t < T; ++t)
            for (std::int64_t hh = 0; hh < H; ++hh) {
                std::int64_t kh = hh / (H / Hk);
                std::vector<double> s(std::size_t(T), -1e300);
                double m = -1e300;
                for (std::int64_t j = 0; j < T; ++j) {
                    if (!allowed(t, j)) continue;
                    double d = 0;
                    for (std::int64_t e = 0; e < hd; ++e)
                        d += q[std::size_t((t * H + hh) * hd + e)] * k[std::size_t((j * Hk + kh) * hd + e)];
                    s[std::size_t(j)] = d / std::sqrt(double(hd));
                    m = std::max(m, s[std::size_t(j)]);
                }
                double z = 0;
                for (std::int64_t j = 0; j < T; ++j)
                    if (allowed(t, j)) z += std::exp(s[std::size_t(j)] - m);
                for (std::int64_t j = 0; j < T; ++j) {
                    if (!allowed(t, j)) continue;
                    double pj = std::exp(s[std::size_t(j)] - m) / z;
                    for (std::int64_t e = 0; e < hd; ++e)
                        a[std::size_t((t * H + hh) * hd + e)] += pj * v[std::size_t((j * Hk + kh) * hd + e)];
                }
            }
        Mat o = matmul(a, H * hd, W(p + "self_attn.o_proj.weight"), D);
        for (std::size_t i = 0; i < x.size(); ++i) x[i] += o[i];
        h = x;
        rms(h, D, W(p + "post_attention_layernorm.weight"));
        Mat g = matmul(h, D, W(p + "mlp.gate_proj.weight"), I);
        Mat u = matmul(h, D, W(p + "mlp.up_proj.weight"), I);
        for (std::size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1 + std::exp(-g[i])) * u[i];
        Mat d = matmul(g, I, W(p + "mlp.down_proj.weight"), D);
        for (std::size_t i = 0; i < x.size(); ++i) x[i] += d[i];
    }
    rms(x, D, W("model.norm.weight"));
    return matmul(x, D, W(c.tie_word_embeddings ? "model.embed_tokens.weight" : "lm_head.weight"), V);
}

void expect_rows_close(const Tensor& got, const std::vector<double>& ref, std::int64_t ref_row0, std::int64_t V) {
    double scale = 1, diff = 0;
    for (double v : ref) scale = std::max(scale, std::fabs(v));
    std::vector<float> g = got.f32_values();
    for (std::int64_t r = 0; r < got.dim(0); ++r)
        for (std::int64_t j = 0; j < V; ++j)
            diff = std::max(diff, std::fabs(double(g[std::size_t(r * V + j)]) - ref[std::size_t((ref_row0 + r) * V + j)]));
    EXPECT_LE(diff, 1e-4 * scale) << "rows from " << ref_row0;
}

std::string expect_error(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e.what();
    }
    ADD_FAILURE() << "no error thrown";
    return "";
}

}  // namespace

TEST(LmModel, BlockPatternPositionsMqaTiedLinearRopeMatchReference) {
    for (DType dt : {DType::F32, DType::BF16}) {
        SCOPED_TRACE(dtype_name(dt));
        Config c = small_config();
        auto w = random_weights(c, dt, 7);
        EXPECT_EQ(w.count("lm_head.weight"), 0u);
        Transformer m(c, Weights::load(c, w));
        EXPECT_EQ(m.weights().lm_head.raw(), m.weights().embed_tokens.raw());

        // 5 prompt tokens (causal), a block of 4 (bidirectional, RoPE positions
        // 10..13), then 2 decoded tokens that see everything before them.
        std::vector<std::int32_t> ids = {3, 17, 99, 0, 42, 7, 7, 55, 100, 12, 64};
        std::vector<std::int64_t> pos = {0, 1, 2, 3, 4, 10, 11, 12, 13, 14, 15};
        Allowed allowed = [](std::int64_t i, std::int64_t j) { return (i >= 5 && i < 9) ? j < 9 : j <= i; };
        std::vector<double> ref = reference_logits(c, w, ids, pos, allowed);

        KvCache cache = m.new_cache(16);
        EXPECT_EQ(cache.bytes(), std::uint64_t(2 * 2 * 1 * 16 * 16 * 4));
        std::vector<SequenceStep> b(1);
        b[0].cache = &cache;
        b[0].tokens = std::span(ids).subspan(0, 5);
        b[0].all_rows();
        expect_rows_close(m.forward(b)[0].logits, ref, 0, c.vocab_size);

        b[0].tokens = std::span(ids).subspan(5, 4);
        b[0].positions = {10, 11, 12, 13};
        b[0].pattern = AttentionPattern::block(5, 4);
        b[0].all_rows();
        expect_rows_close(m.forward(b)[0].logits, ref, 5, c.vocab_size);

        for (std::int64_t t = 9; t < 11; ++t) {
            b[0].tokens = std::span(ids).subspan(std::size_t(t), 1);
            b[0].positions = {pos[std::size_t(t)]};
            b[0].pattern = {};
            b[0].last_only();
            expect_rows_close(m.forward(b)[0].logits, ref, t, c.vocab_size);
        }
        EXPECT_EQ(cache.length(), 11);
    }
}

TEST(LmModel, Q8QuantisedModelStaysCloseAndReadsFewerBytes) {
    Config c = small_config();
    c.hidden_size = 64;  // rows of whole Q8_0 blocks everywhere (H*hd = 64, I = 96)
    c.intermediate_size = 96;
    c.tie_word_embeddings = false;
    auto w = random_weights(c, DType::BF16, 9);
    Transformer exact(c, Weights::load(c, w)), quant(c, Weights::load(c, w));
    quant.quantize_q8_0();
    EXPECT_LT(quant.weights().matrix_bytes(), exact.weights().matrix_bytes() * 0.6);
    std::vector<std::int32_t> ids = {1, 50, 3, 99, 7, 12};
    for (bool decode : {false, true}) {
        KvCache ce = exact.new_cache(6), cq = quant.new_cache(6);
        std::vector<float> le, lq;
        for (std::size_t i = 0; i < ids.size(); i += decode ? 1 : ids.size()) {
            std::size_t n = decode ? 1 : ids.size();
            auto a = exact.logits(ce, std::span(ids).subspan(i, n)).f32_values();
            auto b = quant.logits(cq, std::span(ids).subspan(i, n)).f32_values();
            le.insert(le.end(), a.begin(), a.end());
            lq.insert(lq.end(), b.begin(), b.end());
        }
        double scale = 0, diff = 0;
        for (std::size_t i = 0; i < le.size(); ++i) {
            scale = std::max(scale, double(std::fabs(le[i])));
            diff = std::max(diff, double(std::fabs(le[i] - lq[i])));
        }
        EXPECT_GT(diff, 0.0);  // really quantised
        EXPECT_LT(diff, 0.05 * std::max(1.0, scale)) << (decode ? "decode" : "prefill");
    }
    Config odd = small_config();  // hidden 40: not whole blocks
    Transformer bad(odd, Weights::load(odd, random_weights(odd, DType::F32, 1)));
    EXPECT_NE(expect_error([&] { bad.quantize_q8_0(); }).find("multiple of"), std::string::npos);
}

// The forward keeps its activation buffers per thread between calls: a call after a
// larger one (other tokens, another model's shapes) must give bit-identical logits to
// the same call made first, so nothing left over is ever read.
TEST(LmModel, CallsShareNoStateThroughReusedBuffers) {
    Config c = small_config();
    Config wide = small_config();
    wide.hidden_size = 64;
    wide.intermediate_size = 160;
    Transformer m(c, Weights::load(c, random_weights(c, DType::F32, 4)));
    Transformer other(wide, Weights::load(wide, random_weights(wide, DType::BF16, 5)));
    const std::vector<std::int32_t> ids = {5, 17, 3, 88};
    std::vector<std::int32_t> long_ids(40);
    for (std::size_t i = 0; i < long_ids.size(); ++i) long_ids[i] = std::int32_t((i * 37 + 11) % 101);
    auto run = [&](const Transformer& t, std::span<const std::int32_t> tokens) {
        KvCache cache = t.new_cache(std::int64_t(tokens.size()));
        return t.logits(cache, tokens).f32_values();
    };
    const std::vector<float> first = run(m, ids);
    run(m, long_ids);
    run(other, long_ids);
    EXPECT_EQ(run(m, ids), first);
}

TEST(LmModel, ConfigErrorsNameTheProblem) {
    nlohmann::json base = small_config().to_json();
    auto with = [&](const char* key, nlohmann::json v) {
        nlohmann::json j = base;
        j[key] = v;
        return expect_error([&] { Config::from_json(j, "cfg.json"); });
    };
    EXPECT_NE(with("num_key_value_heads", 3).find("not divisible by num_key_value_heads"), std::string::npos);
    EXPECT_NE(with("head_dim", 15).find("head_dim"), std::string::npos);
    EXPECT_NE(with("hidden_size", 0).find("hidden_size"), std::string::npos);
    EXPECT_NE(with("model_type", "llama").find("model_type"), std::string::npos);
    EXPECT_NE(with("hidden_act", "gelu").find("hidden_act"), std::string::npos);
    EXPECT_NE(with("vocab_size", "many").find("vocab_size"), std::string::npos);
    EXPECT_NE(with("rope_scaling", nlohmann::json({{"type", "dynamic"}, {"factor", 2.0}})).find("dynamic"),
              std::string::npos);
    nlohmann::json j = base;
    j.erase("head_dim");
    j["hidden_size"] = 42;
    EXPECT_NE(expect_error([&] { Config::from_json(j, "cfg.json"); }).find("not divisible by num_attention_heads"),
              std::string::npos);
}

TEST(LmModel, WeightErrorsNameTheTensor) {
    Config c = small_config();
    auto w = random_weights(c, DType::F32, 1);
    auto missing = w;
    missing.erase("model.layers.1.mlp.up_proj.weight");
    std::string e = expect_error([&] { Weights::load(c, missing); });
    EXPECT_NE(e.find("missing tensor 'model.layers.1.mlp.up_proj.weight'"), std::string::npos) << e;

    auto wrong = w;
    wrong["model.layers.0.self_attn.k_proj.weight"] = Tensor::zeros(DType::F32, {16, 41});
    e = expect_error([&] { Weights::load(c, wrong); });
    EXPECT_NE(e.find("model.layers.0.self_attn.k_proj.weight"), std::string::npos) << e;
    EXPECT_NE(e.find("[16,40]"), std::string::npos) << e;

    Config untied = c;
    untied.tie_word_embeddings = false;
    e = expect_error([&] { Weights::load(untied, w); });
    EXPECT_NE(e.find("lm_head.weight"), std::string::npos) << e;

    auto ints = w;
    ints["model.norm.weight"] = Tensor::zeros(DType::I32, {40});
    e = expect_error([&] { Weights::load(c, ints); });
    EXPECT_NE(e.find("model.norm.weight"), std::string::npos) << e;
}

TEST(LmModel, ForwardRejectsBadRequestsWithoutTouchingCaches) {
    Config c = small_config();
    Transformer m(c, Weights::load(c, random_weights(c, DType::F32, 2)));
    KvCache cache = m.new_cache(4);
    std::vector<std::int32_t> ok = {1, 2}, bad = {1, 101}, longer = {1, 2, 3, 4, 5};
    std::vector<SequenceStep> b(1);
    b[0].cache = &cache;
    b[0].tokens = bad;
    EXPECT_NE(expect_error([&] { m.forward(b); }).find("outside the vocabulary"), std::string::npos);
    b[0].tokens = longer;
    EXPECT_NE(expect_error([&] { m.forward(b); }).find("cache"), std::string::npos);
    b[0].tokens = ok;
    b[0].pattern = AttentionPattern::block(0, 3);
    EXPECT_NE(expect_error([&] { m.forward(b); }).find("attention pattern"), std::string::npos);
    b[0].pattern = {{0, 0}, {0, 3}};
    EXPECT_NE(expect_error([&] { m.forward(b); }).find("outside"), std::string::npos);
    b[0].pattern = {};
    b.push_back(b[0]);
    EXPECT_NE(expect_error([&] { m.forward(b); }).find("shares its kv cache"), std::string::npos);
    EXPECT_EQ(cache.length(), 0);
    EXPECT_THROW(m.new_cache(0), Error);
}

TEST(LmModel, ShardedCheckpointLoadsLikeInMemoryWeights) {
    Config c = small_config();
    c.tie_word_embeddings = false;
    auto w = random_weights(c, DType::BF16, 3);
    std::string dir = test::temp_dir("lm_sharded");
    std::vector<std::pair<std::string, Tensor>> a, b;
    nlohmann::json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::json::object()}};
    int k = 0;
    for (auto& [name, t] : w) {
        bool first = (k++ % 2) == 0;
        (first ? a : b).push_back({name, t});
        index["weight_map"][name] = first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
    }
    write_safetensors(dir + "/model-00001-of-00002.safetensors", a);
    write_safetensors(dir + "/model-00002-of-00002.safetensors", b);
    std::ofstream(dir + "/model.safetensors.index.json") << index.dump();
    std::ofstream(dir + "/config.json") << c.to_json().dump();

    Transformer from_disk = Transformer::load(dir);
    Transformer in_memory(c, Weights::load(c, w));
    std::vector<std::int32_t> ids = {5, 6, 7};
    KvCache c1 = from_disk.new_cache(3), c2 = in_memory.new_cache(3);
    std::vector<float> l1 = from_disk.logits(c1, ids).f32_values(), l2 = in_memory.logits(c2, ids).f32_values();
    EXPECT_EQ(l1, l2);
}
