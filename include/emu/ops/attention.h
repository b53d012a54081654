// Scaled dot-product attention of one sequence's new queries over its key/value
// cache, grouped-query style, with a per-query allowed range of cache slots
// (causal, bidirectional inside a block, or any contiguous window).
#pragma once
#include <cstdint>

#include "emu/tensor/dtype.h"

namespace emu::ops {

struct AttentionDims {
    std::int64_t heads = 0;
    std::int64_t kv_heads = 0;  // divides heads; kv head j serves query heads j*g .. j*g+g-1
    std::int64_t head_dim = 0;
};

// q:   [queries, heads*head_dim], row stride ldq (already normalised and rotated).
// k,v: [kv_heads][capacity][head_dim] cache slots of kv_dtype (F32 or BF16).
// Query i attends to slots [kv_begin[i], kv_end[i]); an empty range yields zeros.
// out: [queries, heads*head_dim], row stride ldo. Scores are q.k / sqrt(head_dim),
// softmax in float32. When probs is given it also receives the softmax probabilities
// for backward: [heads][queries][capacity], zero outside each query's range.
void attention(const AttentionDims& d, const float* q, std::int64_t queries, std::int64_t ldq, const void* k,
               const void* v, DType kv_dtype, std::int64_t capacity, const std::int32_t* kv_begin,
               const std::int32_t* kv_end, float* out, std::int64_t ldo, float* probs = nullptr);

// F32 keys and values (training).
inline void attention(const AttentionDims& d, const float* q, std::int64_t queries, std::int64_t ldq, const float* k,
                      const float* v, std::int64_t capacity, const std::int32_t* kv_begin, const std::int32_t* kv_end,
                      float* out, std::int64_t ldo, float* probs = nullptr) {
    attention(d, q, queries, ldq, k, v, DType::F32, capacity, kv_begin, kv_end, out, ldo, probs);
}

// One query head's share of attention() with F32 keys and values, by the many-query
// (BLAS) path whatever the number of queries, on the calling thread: for callers that
// spread (sequence, head) pairs over threads themselves, as the trainer does.
void attention_head(const AttentionDims& d, std::int64_t head, const float* q, std::int64_t queries, std::int64_t ldq,
                    const float* k, const float* v, std::int64_t capacity, const std::int32_t* kv_begin,
                    const std::int32_t* kv_end, float* out, std::int64_t ldo, float* probs = nullptr);

// Backward of attention over all `capacity` slots, given the forward's probs and
// dL/d(out) (row stride ldo). Writes dq ([queries, heads*hd], stride ldq) and
// accumulates into dk, dv ([kv_heads][capacity][head_dim]).
void attention_backward(const AttentionDims& d, const float* q, std::int64_t queries, std::int64_t ldq,
                        const float* k, const float* v, std::int64_t capacity, const float* probs, const float* dout,
                        std::int64_t ldo, float* dq, float* dk, float* dv);

// One kv head's share of attention_backward() (the query heads it serves, in order) on
// the calling thread: it writes those heads' columns of dq and accumulates into that kv
// head's block of dk and dv, so different kv heads or sequences can run side by side.
void attention_backward_kv_head(const AttentionDims& d, std::int64_t kv_head, const float* q, std::int64_t queries,
                                std::int64_t ldq, const float* k, const float* v, std::int64_t capacity,
                                const float* probs, const float* dout, std::int64_t ldo, float* dq, float* dk,
                                float* dv);

}  // namespace emu::ops
