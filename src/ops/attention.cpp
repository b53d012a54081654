#include "emu/ops/attention.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "emu/ops/softmax.h"

namespace emu::ops {
namespace {

// Slots [b, e) of one kv head as F32: the cache itself when it is F32, else a
// converted copy in `buf`.
const float* kv_rows_f32(const void* base, DType t, std::int64_t b, std::int64_t e, std::int64_t hd,
                         std::vector<float>& buf) {
    if (t == DType::F32) return static_cast<const float*>(base) + b * hd;
    const std::uint16_t* src = static_cast<const std::uint16_t*>(base) + b * hd;
    const std::int64_t n = (e - b) * hd;
    buf.resize(std::size_t(std::max<std::int64_t>(n, 1)));
#pragma omp simd
    for (std::int64_t i = 0; i < n; ++i) buf[std::size_t(i)] = bf16_to_f32(src[i]);
    return buf.data();
}

// Many queries (prefill): per query head, scores = Q K^T and out = P V as two
// BLAS products over the covering slot range, masking rows to their own ranges.
void attention_blas(const AttentionDims& d, const float* q, std::int64_t queries, std::int64_t ldq, const void* k,
                    const void* v, DType kv_dtype, std::int64_t capacity, const std::int32_t* kv_begin, const std::int32_t* kv_end,
                    float* out, std::int64_t ldo) {
    const std::int64_t hd = d.head_dim, group = d.heads / d.kv_heads;
    std::int64_t lo = kv_begin[0], hi = kv_end[0];
    for (std::int64_t i = 1; i < queries; ++i) {
        lo = std::min<std::int64_t>(lo, kv_begin[i]);
        hi = std::max<std::int64_t>(hi, kv_end[i]);
    }
    const std::int64_t span = std::max<std::int64_t>(hi - lo, 1);
    const float scale_div = float(std::sqrt(double(hd)));
#pragma omp parallel if (queries * span * hd * d.heads > (std::int64_t(1) << 20))
    {
        std::vector<float> scores(std::size_t(queries * span)), kbuf, vbuf;
        const std::int64_t esize = kv_dtype == DType::F32 ? 4 : 2;
#pragma omp for schedule(dynamic, 1)
        for (std::int64_t h = 0; h < d.heads; ++h) {
            const std::int64_t head_off = (h / group) * capacity * hd * esize;
            const float* kh = kv_rows_f32(static_cast<const std::uint8_t*>(k) + head_off, kv_dtype, lo, lo + span, hd, kbuf);
            const float* vh = kv_rows_f32(static_cast<const std::uint8_t*>(v) + head_off, kv_dtype, lo, lo + span, hd, vbuf);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(queries), int(span), int(hd), 1.f, q + h * hd,
                        int(ldq), kh, int(hd), 0.f, scores.data(), int(span));
            for (std::int64_t i = 0; i < queries; ++i) {
                float* row = scores.data() + i * span;
                const std::int64_t b = kv_begin[i] - lo, e = kv_end[i] - lo;
                for (std::int64_t j = 0; j < b; ++j) row[j] = 0.f;
                for (std::int64_t j = std::max<std::int64_t>(e, 0); j < span; ++j) row[j] = 0.f;
                if (e <= b) continue;
                for (std::int64_t j = b; j < e; ++j) row[j] /= scale_div;
                softmax_inplace(row + b, e - b);
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(queries), int(hd), int(span), 1.f,
                        scores.data(), int(span), vh, int(hd), 0.f, out + h * hd, int(ldo));
        }
    }
}

}  // namespace

void attention(const AttentionDims& d, const float* q, std::int64_t queries, std::int64_t ldq, const void* k,
               const void* v, DType kv_dtype, std::int64_t capacity, const std::int32_t* kv_begin,
               const std::int32_t* kv_end, float* out, std::int64_t ldo) {
    if (queries <= 0) return;
    const std::int64_t hd = d.head_dim, group = d.heads / d.kv_heads;
    if (queries >= 16) {
        attention_blas(d, q, queries, ldq, k, v, kv_dtype, capacity, kv_begin, kv_end, out, ldo);
        return;
    }
    const float scale_div = float(std::sqrt(double(hd)));
    const std::int64_t items = queries * d.heads;
    std::int64_t work = 0;
    for (std::int64_t i = 0; i < queries; ++i) work += std::max<std::int64_t>(0, kv_end[i] - kv_begin[i]);
#pragma omp parallel if (work * d.heads * hd > (1 << 15))
    {
        std::vector<float> scores, kbuf, vbuf;
        const std::int64_t esize = kv_dtype == DType::F32 ? 4 : 2;
#pragma omp for schedule(dynamic, 4)
        for (std::int64_t it = 0; it < items; ++it) {
            const std::int64_t i = it / d.heads, h = it % d.heads, kvh = h / group;
            const float* qv = q + i * ldq + h * hd;
            float* o = out + i * ldo + h * hd;
            for (std::int64_t c = 0; c < hd; ++c) o[c] = 0.f;
            const std::int64_t b = kv_begin[i], e = kv_end[i];
            if (e <= b) continue;
            scores.resize(std::size_t(e - b));
            const std::int64_t head_off = kvh * capacity * hd * esize;
            // Rows b..e-1 as F32, indexed from b.
            const float* kh = kv_rows_f32(static_cast<const std::uint8_t*>(k) + head_off, kv_dtype, b, e, hd, kbuf);
            const float* vh = kv_rows_f32(static_cast<const std::uint8_t*>(v) + head_off, kv_dtype, b, e, hd, vbuf);
            for (std::int64_t j = b; j < e; ++j) {
                const float* kj = kh + (j - b) * hd;
                float s = 0.f;
#pragma omp simd reduction(+ : s)
                for (std::int64_t c = 0; c < hd; ++c) s += qv[c] * kj[c];
                scores[std::size_t(j - b)] = s / scale_div;
            }
            softmax_inplace(scores.data(), e - b);
            for (std::int64_t j = b; j < e; ++j) {
                const float p = scores[std::size_t(j - b)];
                const float* vj = vh + (j - b) * hd;
#pragma omp simd
                for (std::int64_t c = 0; c < hd; ++c) o[c] += p * vj[c];
            }
        }
    }
}

}  // namespace emu::ops
