// The BLAS attention path (many queries) against the per-query path, with GQA,
// arbitrary per-query slot ranges (causal, windows, bidirectional, empty).
#include <gtest/gtest.h>

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
