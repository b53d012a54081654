// The BLAS attention path (many queries) against the per-query path, with GQA,
// arbitrary per-query slot ranges (causal, windows, bidirectional, empty).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "emu/ops/attention.h"

using namespace emu::ops;

TEST(OpsAttention, ManyQueriesMatchOneQueryAtATime) {
    const AttentionDims d{6, 2, 16};
    const std::int64_t capacity = 40, queries = 24, ld = d.heads * d.head_dim;
    std::mt19937 rng(3);
    std::normal_distribution<float> nd(0.f, 1.f);
    std::vector<float> q(std::size_t(queries * ld)), k(std::size_t(d.kv_heads * capacity * d.head_dim)), v(k.size());
    for (auto* vec : {&q, &k, &v})
        for (auto& x : *vec) x = nd(rng);
    std::vector<std::int32_t> begin(queries), end(queries);
    for (std::int64_t i = 0; i < queries; ++i) {
        begin[std::size_t(i)] = std::int32_t(i % 5 == 0 ? 3 : 0);
        end[std::size_t(i)] = std::int32_t(i < 12 ? 10 + i : 36);  // causal-like, then a bidirectional block
    }
    begin[7] = end[7] = 5;  // empty range -> zeros
    std::vector<float> many(std::size_t(queries * ld)), one(std::size_t(queries * ld));
    attention(d, q.data(), queries, ld, k.data(), v.data(), emu::DType::F32, capacity, begin.data(), end.data(),
              many.data(), ld);
    for (std::int64_t i = 0; i < queries; ++i)
        attention(d, q.data() + i * ld, 1, ld, k.data(), v.data(), emu::DType::F32, capacity, begin.data() + i,
                  end.data() + i, one.data() + i * ld, ld);
    for (std::size_t i = 0; i < many.size(); ++i) ASSERT_NEAR(many[i], one[i], 1e-5) << "at " << i;
    for (std::int64_t c = 0; c < ld; ++c) EXPECT_EQ(many[std::size_t(7 * ld + c)], 0.f);

    // A BF16 cache gives exactly the F32 result over the bf16-rounded keys and values.
    std::vector<std::uint16_t> kb(k.size()), vb(v.size());
    for (std::size_t i = 0; i < k.size(); ++i) {
        kb[i] = emu::f32_to_bf16(k[i]);
        vb[i] = emu::f32_to_bf16(v[i]);
        k[i] = emu::bf16_to_f32(kb[i]);
        v[i] = emu::bf16_to_f32(vb[i]);
    }
    for (std::int64_t nq : {queries, std::int64_t(1)}) {
        std::vector<float> from_f32(std::size_t(nq * ld)), from_bf16(std::size_t(nq * ld));
        attention(d, q.data(), nq, ld, k.data(), v.data(), emu::DType::F32, capacity, begin.data(), end.data(),
                  from_f32.data(), ld);
        attention(d, q.data(), nq, ld, kb.data(), vb.data(), emu::DType::BF16, capacity, begin.data(), end.data(),
                  from_bf16.data(), ld);
        EXPECT_EQ(from_f32, from_bf16) << nq << " queries";
    }
}

// The per-head entry points the trainer spreads over threads: every (sequence, head) unit
// run side by side, in any order, gives exactly what the whole calls give (the same code
// per head, so this checks the split and its thread safety; the math is checked against
// the per-query path above and by the gradient tests).
TEST(OpsAttention, HeadUnitsSideBySideEqualTheWholeCall) {
    const AttentionDims d{4, 2, 16};
    const std::int64_t rows = 3, T = 150, ld = d.heads * d.head_dim, kvd = d.kv_heads * T * d.head_dim;
    std::mt19937 rng(8);
    std::normal_distribution<float> nd(0.f, 1.f);
    auto random = [&](std::size_t n) {
        std::vector<float> v(n);
        for (auto& x : v) x = nd(rng);
        return v;
    };
    const std::vector<float> q = random(std::size_t(rows * T * ld)), k = random(std::size_t(rows * kvd)),
                             v = random(std::size_t(rows * kvd)), dout = random(std::size_t(rows * T * ld));
    std::vector<std::int32_t> begin(std::size_t(rows * T)), end(begin.size());
    for (std::int64_t i = 0; i < rows * T; ++i) {  // causal, with a bidirectional block in row 1
        const std::int64_t t = i % T;
        const bool block = i / T == 1 && t >= 40 && t < 104;
        begin[std::size_t(i)] = 0;
        end[std::size_t(i)] = std::int32_t(block ? 104 : t + 1);
    }
    const std::size_t np = std::size_t(d.heads * T * T);
    std::vector<float> out(q.size()), probs(rows * np), unit_out(q.size()), unit_probs(probs.size());
    for (std::int64_t r = 0; r < rows; ++r)
        attention(d, q.data() + r * T * ld, T, ld, k.data() + r * kvd, v.data() + r * kvd, T, begin.data() + r * T,
                  end.data() + r * T, out.data() + r * T * ld, ld, probs.data() + r * np);
#pragma omp parallel for collapse(2) schedule(dynamic, 1) num_threads(2)
    for (std::int64_t r = rows - 1; r >= 0; --r)
        for (std::int64_t h = d.heads - 1; h >= 0; --h)
            attention_head(d, h, q.data() + r * T * ld, T, ld, k.data() + r * kvd, v.data() + r * kvd, T,
                           begin.data() + r * T, end.data() + r * T, unit_out.data() + r * T * ld, ld,
                           unit_probs.data() + r * np);
    EXPECT_EQ(unit_out, out);
    EXPECT_EQ(unit_probs, probs);

    std::vector<float> dq(q.size()), dk(k.size(), 0.f), dv(v.size(), 0.f);
    std::vector<float> unit_dq(q.size()), unit_dk(k.size(), 0.f), unit_dv(v.size(), 0.f);
    for (std::int64_t r = 0; r < rows; ++r)
        attention_backward(d, q.data() + r * T * ld, T, ld, k.data() + r * kvd, v.data() + r * kvd, T,
                           probs.data() + r * np, dout.data() + r * T * ld, ld, dq.data() + r * T * ld,
                           dk.data() + r * kvd, dv.data() + r * kvd);
#pragma omp parallel for collapse(2) schedule(dynamic, 1) num_threads(2)
    for (std::int64_t r = rows - 1; r >= 0; --r)
        for (std::int64_t j = d.kv_heads - 1; j >= 0; --j)
            attention_backward_kv_head(d, j, q.data() + r * T * ld, T, ld, k.data() + r * kvd, v.data() + r * kvd, T,
                                       probs.data() + r * np, dout.data() + r * T * ld, ld,
                                       unit_dq.data() + r * T * ld, unit_dk.data() + r * kvd,
                                       unit_dv.data() + r * kvd);
    EXPECT_EQ(unit_dq, dq);
    EXPECT_EQ(unit_dk, dk);
    EXPECT_EQ(unit_dv, dv);
    EXPECT_GT(*std::max_element(dk.begin(), dk.end()), 0.f);  // the backward did something

    // A short sequence (the whole call takes the one-query-at-a-time path there) with an
    // empty range: attention_head agrees to rounding and gives zeros where nothing is seen.
    const std::int64_t S = 9;
    std::vector<std::int32_t> sb(S, 0), se(S);
    for (std::int64_t t = 0; t < S; ++t) se[std::size_t(t)] = std::int32_t(t + 1);
    sb[4] = se[4] = 2;
    std::vector<float> whole(std::size_t(S * ld)), heads(whole.size());
    attention(d, q.data(), S, ld, k.data(), v.data(), T, sb.data(), se.data(), whole.data(), ld);
    for (std::int64_t h = 0; h < d.heads; ++h)
        attention_head(d, h, q.data(), S, ld, k.data(), v.data(), T, sb.data(), se.data(), heads.data(), ld);
    for (std::size_t i = 0; i < whole.size(); ++i) ASSERT_NEAR(heads[i], whole[i], 1e-5) << "at " << i;
    for (std::int64_t c = 0; c < ld; ++c) EXPECT_EQ(heads[std::size_t(4 * ld + c)], 0.f);
}
