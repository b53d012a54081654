// Whole-model gradients of the training forward/backward (train::LmTrainer) against
// central finite differences of an independent double-precision forward, with packed
// segments, a bidirectional block, GQA and MQA, tied and untied heads; and the same
// results whatever the thread count.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <random>

#include "emu/core/error.h"
#include "emu/lm/transformer.h"
#include "emu/ops/isa.h"
#include "emu/ops/linear.h"
#include "emu/ops/threads.h"
#include "emu/train/lm_model.h"
#include "lm_reference.h"

using namespace emu;

namespace {

lm::Config tiny_config(bool tied, std::int64_t heads, std::int64_t kv_heads) {
    lm::Config c;
    c.vocab_size = 29;
    c.hidden_size = 12;
    c.intermediate_size = 20;
    c.num_hidden_layers = 2;
    c.num_attention_heads = heads;
    c.num_key_value_heads = kv_heads;
    c.head_dim = 4;
    c.rope_theta = 100.0;
    c.tie_word_embeddings = tied;
    c.pad_token_id = 0;
    c.bos_token_id = 1;
    c.eos_token_id = 2;
    c.img_token_id = 3;
    c.boi_token_id = 4;
    c.eoi_token_id = 5;
    c.eol_token_id = 6;
    c.eof_token_id = 7;
    c.validate();
    return c;
}

struct Packed {
    std::int64_t rows, T;
    std::vector<std::int32_t> ids, segments, blocks;
    std::vector<float> mask;
    std::vector<std::int64_t> positions;
};

// Row 0: three packed sequences (the second with a bidirectional block) then padding;
// the other rows: one sequence each.
Packed make_batch(std::int64_t rows, std::int64_t T, std::int64_t V, std::uint32_t seed) {
    std::mt19937 rng(seed);
    Packed p{rows, T, {}, {}, {}, {}, {}};
    for (std::int64_t r = 0; r < rows; ++r) {
        std::vector<std::int32_t> seg(std::size_t(T), 1);
        if (r == 0) {
            const std::int64_t a = T / 3, b = (2 * T) / 3, pad = T - 2;
            for (std::int64_t t = 0; t < T; ++t) seg[t] = t < a ? 1 : t < b ? 2 : t < pad ? 3 : 0;
        }
        std::int32_t pos = 0;
        for (std::int64_t t = 0; t < T; ++t) {
            const bool start = t == 0 || seg[t] != seg[t - 1];
            if (start) pos = 0;
            p.ids.push_back(seg[t] == 0 ? 0 : std::int32_t(rng() % std::uint32_t(V)));
            p.segments.push_back(seg[t]);
            p.positions.push_back(pos++);
            p.mask.push_back(start || seg[t] == 0 ? 0.f : (rng() % 5 == 0 ? 0.f : rng() % 4 == 0 ? 2.5f : 1.f));
            p.blocks.push_back(r == 0 && seg[t] == 2 && t > T / 3 + 1 ? 7 : 0);
        }
    }
    return p;
}

train::LmBatchView view(const Packed& p) {
    train::LmBatchView v;
    v.rows = p.rows;
    v.seq_len = p.T;
    v.ids = p.ids.data();
    v.mask = p.mask.data();
    v.positions = p.positions.data();
    v.segments = p.segments.data();
    v.blocks = p.blocks.data();
    return v;
}

test::RefBatch ref_batch(const Packed& p) {
    test::RefBatch b;
    b.rows = p.rows;
    b.T = p.T;
    b.ids = p.ids;
    b.mask = p.mask;
    b.positions = p.positions;
    b.kv_begin.resize(p.ids.size());
    b.kv_end.resize(p.ids.size());
    for (std::int64_t r = 0; r < p.rows; ++r)
        train::attention_ranges(p.segments.data() + r * p.T, p.blocks.data() + r * p.T, p.T,
                                b.kv_begin.data() + r * p.T, b.kv_end.data() + r * p.T);
    return b;
}

test::DMap to_double(train::LmModel& m) {
    test::DMap d;
    for (const auto& n : m.names()) {
        const Tensor& t = m.value(n);
        d[n].assign(t.data<float>(), t.data<float>() + t.numel());
    }
    return d;
}

void check_model_grads(bool tied, std::int64_t H, std::int64_t Hkv, std::int64_t T) {
    const lm::Config cfg = tiny_config(tied, H, Hkv);
    train::LmModel model = train::LmModel::random(cfg, 11, 0.3f);
    // Norm weights away from 1 so their gradients are not a special case.
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> u(0.7f, 1.3f);
    for (auto& p : model.params())
        if (p.shape.size() == 1)
            for (std::size_t i = 0; i < p.size; ++i) p.value[i] = u(rng);
    const Packed batch = make_batch(2, T, cfg.vocab_size, 3);
    train::LmTrainer tr(model);
    train::zero_grads(model.params());
    const train::LmStepResult res = tr.forward(view(batch));
    tr.backward(1.f);

    const test::RefBatch rb = ref_batch(batch);
    test::DMap W = to_double(model);
    const double ref_loss = test::ref_lm_loss(cfg, W, rb);
    EXPECT_NEAR(res.loss_sum, ref_loss, 1e-4 * std::abs(ref_loss));
    EXPECT_GT(res.tokens, 4);

    std::mt19937 pick(9);
    double worst = 0;
    for (const auto& name : model.names()) {
        std::vector<double>& w = W[name];
        const float* g = model.grad(name).data<float>();
        std::vector<std::size_t> idx;
        if (w.size() <= 24) {
            for (std::size_t i = 0; i < w.size(); ++i) idx.push_back(i);
        } else {
            // Embedding rows of tokens that occur, plus random entries.
            for (int k = 0; k < 24; ++k) idx.push_back(pick() % w.size());
            if (name == "model.embed_tokens.weight")
                for (int k = 0; k < 12; ++k) idx.push_back(std::size_t(batch.ids[std::size_t(k)]) * 12 + k % 12);
        }
        for (std::size_t i : idx) {
            const double h = 1e-5, keep = w[i];
            w[i] = keep + h;
            const double lp = test::ref_lm_loss(cfg, W, rb);
            w[i] = keep - h;
            const double lm_ = test::ref_lm_loss(cfg, W, rb);
            w[i] = keep;
            const double fd = (lp - lm_) / (2 * h);
            const double err = std::abs(double(g[i]) - fd);
            worst = std::max(worst, err / (std::abs(fd) + 1e-2));
            EXPECT_NEAR(g[i], fd, 2e-3 * std::abs(fd) + 2e-4) << name << "[" << i << "]";
        }
    }
    std::printf("tied=%d H=%lld Hkv=%lld T=%lld: loss %.6f (ref %.6f), worst relative grad error %.2e\n", int(tied),
                (long long)H, (long long)Hkv, (long long)T, res.loss_sum, ref_loss, worst);
}

}  // namespace

TEST(LmGrad, UntiedGqaShortRows) { check_model_grads(false, 4, 2, 9); }
TEST(LmGrad, TiedMhaShortRows) { check_model_grads(true, 2, 2, 9); }
TEST(LmGrad, UntiedMqaLongerRows) { check_model_grads(false, 2, 1, 20); }

// The trainer splits attention into (sequence, head) units over threads: a batch large
// enough to run every parallel loop gives bit-identical loss and gradients on 1 and 2
// threads (a race or a thread-dependent sum would show here). With BF16 projections, which
// run in the project's own kernels (attention's sgemm calls run single-threaded inside the
// trainer's parallel loops); exact F32 projections go through OpenBLAS's threaded sgemm,
// whose sums change in the last bits with its thread count.
TEST(LmGrad, ThreadCountChangesNothing) {
    if (int(ops::active_isa()) < int(ops::Isa::Avx512Bf16)) GTEST_SKIP() << "needs a CPU with AVX512-BF16 or AMX";
    ops::set_prefill_precision("bf16");
    lm::Config cfg = tiny_config(false, 4, 2);
    cfg.hidden_size = 64;
    cfg.intermediate_size = 96;
    cfg.head_dim = 16;
    cfg.validate();
    const Packed batch = make_batch(3, 200, cfg.vocab_size, 6);
    auto run = [&](int threads) {
        ops::set_num_threads(threads);
        train::LmModel model = train::LmModel::random(cfg, 7, 0.3f);
        train::LmTrainer tr(model);
        train::zero_grads(model.params());
        const double loss = tr.forward(view(batch)).loss_sum;
        tr.backward(1.f);
        std::vector<float> grads{float(loss)};
        for (const auto& n : model.names()) {
            const Tensor& g = model.grad(n);
            grads.insert(grads.end(), g.data<float>(), g.data<float>() + g.numel());
        }
        return grads;
    };
    const int before = ops::num_threads();
    const std::vector<float> one = run(1), two = run(2);
    ops::set_num_threads(before);
    ops::set_prefill_precision("exact");
    ASSERT_EQ(one.size(), two.size());
    EXPECT_EQ(one[0], two[0]) << "loss";
    std::size_t differ = 0;
    for (std::size_t i = 0; i < one.size(); ++i) differ += one[i] != two[i];
    EXPECT_EQ(differ, 0u) << "of " << one.size() << " loss and gradient values";
}

// The training forward's logits equal lm::Transformer's (the inference forward) on
// the same weights: for a packed row, each sequence equals that sequence run alone.
TEST(LmGrad, TrainingLogitsEqualInference) {
    for (std::int64_t T : {9, 40}) {
        const lm::Config cfg = tiny_config(false, 4, 2);
        train::LmModel model = train::LmModel::random(cfg, 4, 0.3f);
        Packed batch = make_batch(2, T, cfg.vocab_size, 8);
        std::fill(batch.blocks.begin(), batch.blocks.end(), 0);
        train::LmTrainer tr(model);
        tr.forward(view(batch));
        const std::vector<float>& lg = tr.logits();
        lm::Transformer inf(cfg, model.weights());
        const std::int64_t V = cfg.vocab_size;
        double worst = 0;
        for (std::int64_t r = 0; r < batch.rows; ++r) {
            std::int64_t t = 0;
            while (t < T) {
                std::int64_t e = t;
                while (e < T && batch.segments[std::size_t(r * T + e)] == batch.segments[std::size_t(r * T + t)]) ++e;
                if (batch.segments[std::size_t(r * T + t)] != 0) {
                    std::vector<std::int32_t> toks(batch.ids.begin() + r * T + t, batch.ids.begin() + r * T + e);
                    lm::KvCache cache = inf.new_cache(e - t);
                    const Tensor ref = inf.logits(cache, toks);
                    for (std::int64_t i = 0; i < (e - t) * V; ++i) {
                        const double d = std::abs(double(ref.data<float>()[i]) - lg[std::size_t((r * T + t) * V + i)]);
                        worst = std::max(worst, d);
                    }
                }
                t = e;
            }
        }
        std::printf("T=%lld: max |training - inference| logits = %.3g\n", (long long)T, worst);
        EXPECT_LT(worst, 2e-5);
    }
}

// A model grown deeper (train::grow_depth) computes exactly what its source computes, and
// its new layers still learn: their output projections get gradients. Both a multiple of
// the source's depth (2 -> 6) and any other deeper count (2 -> 5) are checked.
TEST(LmGrad, GrownModelComputesTheSameAndItsNewLayersLearn) {
    const lm::Config from = tiny_config(false, 4, 2);
    train::LmModel source = train::LmModel::random(from, 5, 0.3f);
    std::map<std::string, Tensor> tensors;
    for (const auto& n : source.names()) tensors.emplace(n, source.value(n));
    const Packed batch = make_batch(2, 24, from.vocab_size, 3);
    train::LmTrainer a(source);
    const double loss_a = a.forward(view(batch)).loss();

    struct Case {
        std::int64_t layers;
        std::vector<int> kept;  // where the source's layers land
    };
    for (const Case& c : {Case{6, {0, 3}}, Case{5, {0, 2}}}) {
        SCOPED_TRACE(c.layers);
        ASSERT_EQ(std::int64_t(c.kept.size()), from.num_hidden_layers);
        lm::Config to = from;
        to.num_hidden_layers = c.layers;
        train::LmModel grown = train::LmModel::from_tensors(to, train::grow_depth(from, tensors, to, 9, 0.3f));
        train::LmTrainer b(grown);
        EXPECT_EQ(loss_a, b.forward(view(batch)).loss());
        ASSERT_EQ(a.logits().size(), b.logits().size());
        for (std::size_t i = 0; i < a.logits().size(); ++i) ASSERT_EQ(a.logits()[i], b.logits()[i]) << i;
        for (std::size_t i = 0; i < c.kept.size(); ++i) {
            const Tensor& q_src = source.value("model.layers." + std::to_string(i) + ".self_attn.q_proj.weight");
            const Tensor& q_grown = grown.value("model.layers." + std::to_string(c.kept[i]) + ".self_attn.q_proj.weight");
            EXPECT_EQ(0, std::memcmp(q_src.data<float>(), q_grown.data<float>(), q_src.nbytes())) << i;
        }
        b.backward(1.f);
        for (int layer = 0; layer < c.layers; ++layer) {
            if (std::find(c.kept.begin(), c.kept.end(), layer) != c.kept.end()) continue;
            for (const char* proj : {"self_attn.o_proj", "mlp.down_proj"}) {
                const std::string name = "model.layers." + std::to_string(layer) + "." + proj + ".weight";
                const Tensor& w = grown.value(name);
                const Tensor& g = grown.grad(name);
                double w_norm = 0, g_norm = 0;
                for (std::uint64_t i = 0; i < g.numel(); ++i) {
                    w_norm += double(w.data<float>()[i]) * w.data<float>()[i];
                    g_norm += double(g.data<float>()[i]) * g.data<float>()[i];
                }
                EXPECT_EQ(w_norm, 0.0) << name;  // fresh: starts as the identity
                EXPECT_GT(g_norm, 0.0) << name;  // and learns
            }
        }
    }

    lm::Config shallower = from;
    shallower.num_hidden_layers = 1;
    EXPECT_THROW(train::grow_depth(from, tensors, shallower, 9, 0.3f), emu::Error);
    lm::Config wider = from;
    wider.num_hidden_layers = 4;
    wider.intermediate_size = 24;
    EXPECT_THROW(train::grow_depth(from, tensors, wider, 9, 0.3f), emu::Error);
}

TEST(LmGrad, AttentionRanges) {
    const std::vector<std::int32_t> seg = {1, 1, 1, 2, 2, 2, 2, 0};
    const std::vector<std::int32_t> blk = {0, 0, 0, 0, 5, 5, 0, 0};
    std::vector<std::int32_t> b(8), e(8);
    train::attention_ranges(seg.data(), blk.data(), 8, b.data(), e.data());
    EXPECT_EQ(b, (std::vector<std::int32_t>{0, 0, 0, 3, 3, 3, 3, 7}));
    EXPECT_EQ(e, (std::vector<std::int32_t>{1, 2, 3, 4, 6, 6, 7, 8}));
}
