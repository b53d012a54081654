#include "emu/ops/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "emu/ops/softmax.h"

namespace emu::ops {

void attention(const AttentionDims& d, const float* q, std::int64_t queries, std::int64_t ldq, const float* k,
               const float* v, std::int64_t capacity, const std::int32_t* kv_begin, const std::int32_t* kv_end,
               float* out, std::int64_t ldo) {
    const std::int64_t hd = d.head_dim, group = d.heads / d.kv_heads;
    const float scale_div = float(std::sqrt(double(hd)));
    const std::int64_t items = queries * d.heads;
    std::int64_t work = 0;
    for (std::int64_t i = 0; i < queries; ++i) work += std::max<std::int64_t>(0, kv_end[i] - kv_begin[i]);
#pragma omp parallel if (work * d.heads * hd > (1 << 15))
    {
        std::vector<float> scores;
#pragma omp for schedule(dynamic, 4)
        for (std::int64_t it = 0; it < items; ++it) {
            const std::int64_t i = it / d.heads, h = it % d.heads, kvh = h / group;
            const float* qv = q + i * ldq + h * hd;
            float* o = out + i * ldo + h * hd;
            for (std::int64_t c = 0; c < hd; ++c) o[c] = 0.f;
            const std::int64_t b = kv_begin[i], e = kv_end[i];
            if (e <= b) continue;
            scores.resize(std::size_t(e - b));
            const float* kh = k + kvh * capacity * hd;
            const float* vh = v + kvh * capacity * hd;
            for (std::int64_t j = b; j < e; ++j) {
                const float* kj = kh + j * hd;
                float s = 0.f;
#pragma omp simd reduction(+ : s)
                for (std::int64_t c = 0; c < hd; ++c) s += qv[c] * kj[c];
                scores[std::size_t(j - b)] = s / scale_div;
            }
            softmax_inplace(scores.data(), e - b);
            for (std::int64_t j = b; j < e; ++j) {
                const float p = scores[std::size_t(j - b)];
                const float* vj = vh + j * hd;
#pragma omp simd
                for (std::int64_t c = 0; c < hd; ++c) o[c] += p * vj[c];
            }
        }
    }
}

}  // namespace emu::ops
