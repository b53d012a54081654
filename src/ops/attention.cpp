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

// Slot ranges of the many-query path: per chunk of kBlasChunk queries, the union of its
// queries' ranges, so a chunk's products cover only the slots it can see.
constexpr std::int64_t kBlasChunk = 128;

struct ChunkRanges {
    std::vector<std::int64_t> lo, hi;
    std::int64_t max_span = 1, work = 0;
};

ChunkRanges chunk_ranges(std::int64_t queries, const std::int32_t* kv_begin, const std::int32_t* kv_end) {
    ChunkRanges r;
    const std::int64_t chunks = (queries + kBlasChunk - 1) / kBlasChunk;
    r.lo.resize(std::size_t(chunks));
    r.hi.resize(std::size_t(chunks));
    for (std::int64_t c = 0; c < chunks; ++c) {
        std::int64_t a = kv_begin[c * kBlasChunk], b = kv_end[c * kBlasChunk];
        for (std::int64_t i = c * kBlasChunk + 1; i < std::min(queries, (c + 1) * kBlasChunk); ++i) {
            a = std::min<std::int64_t>(a, kv_begin[i]);
            b = std::max<std::int64_t>(b, kv_end[i]);
        }
        r.lo[std::size_t(c)] = a;
        r.hi[std::size_t(c)] = std::max(a, b);
        r.max_span = std::max(r.max_span, b - a);
        r.work += std::min(kBlasChunk, queries - c * kBlasChunk) * std::max<std::int64_t>(b - a, 1);
    }
    return r;
}

// Many queries (prefill, training), one query head: per chunk of queries, scores = Q K^T
// and out = P V as two BLAS products over the slots the chunk covers, masking rows to
// their own ranges (chunks keep a causal prefill at about half of the full square).
void blas_head(const AttentionDims& d, std::int64_t h, const ChunkRanges& cr, const float* q, std::int64_t queries,
               std::int64_t ldq, const void* k, const void* v, DType kv_dtype, std::int64_t capacity,
               const std::int32_t* kv_begin, const std::int32_t* kv_end, float* out, std::int64_t ldo, float* probs,
               std::vector<float>& scores, std::vector<float>& kbuf, std::vector<float>& vbuf) {
    const std::int64_t hd = d.head_dim, group = d.heads / d.kv_heads;
    const std::int64_t esize = kv_dtype == DType::F32 ? 4 : 2;
    const float scale_div = float(std::sqrt(double(hd)));
    scores.resize(std::size_t(std::min(kBlasChunk, queries) * cr.max_span));
    for (std::size_t c = 0; c < cr.lo.size(); ++c) {
        const std::int64_t i0 = std::int64_t(c) * kBlasChunk, m = std::min(kBlasChunk, queries - i0);
        const std::int64_t l0 = cr.lo[c], span = cr.hi[c] - l0;
        float* oc = out + i0 * ldo + h * hd;
        if (probs)
            for (std::int64_t i = 0; i < m; ++i) {
                float* prow = probs + (h * queries + i0 + i) * capacity;
                std::fill(prow, prow + capacity, 0.f);
            }
        if (span <= 0) {
            for (std::int64_t i = 0; i < m; ++i) std::fill(oc + i * ldo, oc + i * ldo + hd, 0.f);
            continue;
        }
        const std::int64_t head_off = (h / group) * capacity * hd * esize;
        const float* kh = kv_rows_f32(static_cast<const std::uint8_t*>(k) + head_off, kv_dtype, l0, l0 + span, hd, kbuf);
        const float* vh = kv_rows_f32(static_cast<const std::uint8_t*>(v) + head_off, kv_dtype, l0, l0 + span, hd, vbuf);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(m), int(span), int(hd), 1.f, q + i0 * ldq + h * hd,
                    int(ldq), kh, int(hd), 0.f, scores.data(), int(span));
        for (std::int64_t i = 0; i < m; ++i) {
            float* row = scores.data() + i * span;
            const std::int64_t b = kv_begin[i0 + i] - l0, e = kv_end[i0 + i] - l0;
            for (std::int64_t j = 0; j < b; ++j) row[j] = 0.f;
            for (std::int64_t j = std::max<std::int64_t>(e, 0); j < span; ++j) row[j] = 0.f;
            if (e <= b) continue;
            for (std::int64_t j = b; j < e; ++j) row[j] /= scale_div;
            softmax_inplace(row + b, e - b);
            if (probs) std::copy(row + b, row + e, probs + (h * queries + i0 + i) * capacity + l0 + b);
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(m), int(hd), int(span), 1.f, scores.data(),
                    int(span), vh, int(hd), 0.f, oc, int(ldo));
    }
}

void attention_blas(const AttentionDims& d, const float* q, std::int64_t queries, std::int64_t ldq, const void* k,
                    const void* v, DType kv_dtype, std::int64_t capacity, const std::int32_t* kv_begin,
                    const std::int32_t* kv_end, float* out, std::int64_t ldo, float* probs) {
    const ChunkRanges cr = chunk_ranges(queries, kv_begin, kv_end);
#pragma omp parallel if (cr.work * d.head_dim * d.heads > (std::int64_t(1) << 20))
    {
        std::vector<float> scores, kbuf, vbuf;
#pragma omp for schedule(dynamic, 1)
        for (std::int64_t h = 0; h < d.heads; ++h)
            blas_head(d, h, cr, q, queries, ldq, k, v, kv_dtype, capacity, kv_begin, kv_end, out, ldo, probs, scores,
                      kbuf, vbuf);
    }
}

}  // namespace

void attention(const AttentionDims& d, const float* q, std::int64_t queries, std::int64_t ldq, const void* k,
               const void* v, DType kv_dtype, std::int64_t capacity, const std::int32_t* kv_begin,
               const std::int32_t* kv_end, float* out, std::int64_t ldo, float* probs) {
    if (queries <= 0) return;
    const std::int64_t hd = d.head_dim, group = d.heads / d.kv_heads;
    if (queries >= 16) {
        attention_blas(d, q, queries, ldq, k, v, kv_dtype, capacity, kv_begin, kv_end, out, ldo, probs);
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
            float* prow = probs ? probs + (h * queries + i) * capacity : nullptr;
            if (prow) std::fill(prow, prow + capacity, 0.f);
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
            if (prow) std::copy(scores.begin(), scores.end(), prow + b);
            for (std::int64_t j = b; j < e; ++j) {
                const float p = scores[std::size_t(j - b)];
                const float* vj = vh + (j - b) * hd;
#pragma omp simd
                for (std::int64_t c = 0; c < hd; ++c) o[c] += p * vj[c];
            }
        }
    }
}

void attention_head(const AttentionDims& d, std::int64_t head, const float* q, std::int64_t queries, std::int64_t ldq,
                    const float* k, const float* v, std::int64_t capacity, const std::int32_t* kv_begin,
                    const std::int32_t* kv_end, float* out, std::int64_t ldo, float* probs) {
    if (queries <= 0) return;
    std::vector<float> scores, kbuf, vbuf;
    blas_head(d, head, chunk_ranges(queries, kv_begin, kv_end), q, queries, ldq, k, v, DType::F32, capacity, kv_begin,
              kv_end, out, ldo, probs, scores, kbuf, vbuf);
}

void attention_backward_kv_head(const AttentionDims& d, std::int64_t kv_head, const float* q, std::int64_t queries,
                                std::int64_t ldq, const float* k, const float* v, std::int64_t capacity,
                                const float* probs, const float* dout, std::int64_t ldo, float* dq, float* dk,
                                float* dv) {
    if (queries <= 0) return;
    const std::int64_t hd = d.head_dim, group = d.heads / d.kv_heads, S = capacity;
    const float scale = 1.0f / float(std::sqrt(double(hd)));
    // Queries go in chunks, each over the slot range its probabilities cover (probs are
    // zero elsewhere), so a causal pattern costs about half of the full square.
    constexpr std::int64_t kChunk = 64;
    const std::int64_t chunks = (queries + kChunk - 1) / kChunk;
    std::vector<float> ds(std::size_t(kChunk * S));
    const float* kh = k + kv_head * S * hd;
    const float* vh = v + kv_head * S * hd;
    float* dkh = dk + kv_head * S * hd;
    float* dvh = dv + kv_head * S * hd;
    for (std::int64_t h = kv_head * group; h < (kv_head + 1) * group; ++h) {
        for (std::int64_t c = 0; c < chunks; ++c) {
            const std::int64_t i0 = c * kChunk, m = std::min(kChunk, queries - i0);
            std::int64_t j0 = S, j1 = 0;
            for (std::int64_t i = i0; i < i0 + m; ++i) {
                const float* pr = probs + (h * queries + i) * S;
                std::int64_t a = 0, b = S;
                while (a < S && pr[a] == 0.f) ++a;
                while (b > a && pr[b - 1] == 0.f) --b;
                if (b > a) j0 = std::min(j0, a), j1 = std::max(j1, b);
            }
            const std::int64_t n = j1 - j0;
            float* dqc = dq + i0 * ldq + h * hd;
            if (n <= 0) {
                for (std::int64_t i = 0; i < m; ++i) std::fill(dqc + i * ldq, dqc + i * ldq + hd, 0.f);
                continue;
            }
            const float* p = probs + (h * queries + i0) * S + j0;
            const float* doc = dout + i0 * ldo + h * hd;
            // dV += P^T dO
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(n), int(hd), int(m), 1.f, p, int(S), doc,
                        int(ldo), 1.f, dvh + j0 * hd, int(hd));
            // dP = dO V^T, then dS = P * (dP - sum_j P dP) * scale
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(m), int(n), int(hd), 1.f, doc, int(ldo),
                        vh + j0 * hd, int(hd), 0.f, ds.data(), int(n));
            for (std::int64_t i = 0; i < m; ++i) {
                const float* pr = p + i * S;
                float* r = ds.data() + i * n;
                double dot = 0.0;
                for (std::int64_t j = 0; j < n; ++j) dot += double(pr[j]) * double(r[j]);
                const float fd = float(dot);
                for (std::int64_t j = 0; j < n; ++j) r[j] = pr[j] * (r[j] - fd) * scale;
            }
            // dQ = dS K ; dK += dS^T Q
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(m), int(hd), int(n), 1.f, ds.data(), int(n),
                        kh + j0 * hd, int(hd), 0.f, dqc, int(ldq));
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(n), int(hd), int(m), 1.f, ds.data(), int(n),
                        q + i0 * ldq + h * hd, int(ldq), 1.f, dkh + j0 * hd, int(hd));
        }
    }
}

void attention_backward(const AttentionDims& d, const float* q, std::int64_t queries, std::int64_t ldq,
                        const float* k, const float* v, std::int64_t capacity, const float* probs, const float* dout,
                        std::int64_t ldo, float* dq, float* dk, float* dv) {
    // Query heads of one kv head write the same dk/dv rows, so work is split by kv head
    // (deterministic, no races).
#pragma omp parallel for schedule(dynamic, 1) if (queries * capacity * d.head_dim * d.heads > (std::int64_t(1) << 18))
    for (std::int64_t kvh = 0; kvh < d.kv_heads; ++kvh)
        attention_backward_kv_head(d, kvh, q, queries, ldq, k, v, capacity, probs, dout, ldo, dq, dk, dv);
}

}  // namespace emu::ops
