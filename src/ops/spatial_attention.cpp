#include "emu/ops/spatial_attention.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "vec_math.h"

namespace emu::ops {

namespace {

// Rows [i0, i0+m) of P = softmax(scale * q^T k) into scores [m, n]: shared by the forward
// and the backward, so the backward differentiates exactly the probabilities used.
void attention_probs(const float* q, const float* k, int channels, std::size_t n, float scale, std::size_t i0,
                     std::size_t m, float* scores) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(m), int(n), channels, scale, q + i0, int(n), k, int(n),
                0.f, scores, int(n));
#pragma omp parallel for schedule(static) if (m * n >= detail::kParallelMinElems)
    for (std::size_t i = 0; i < m; ++i) {
        float* row = scores + i * n;
        float mx = row[0];
        for (std::size_t j = 1; j < n; ++j) mx = std::max(mx, row[j]);
        float sum = 0;
#pragma omp simd reduction(+ : sum)
        for (std::size_t j = 0; j < n; ++j) {
            row[j] = detail::exp_approx(row[j] - mx);
            sum += row[j];
        }
        const float inv = 1.0f / sum;
        for (std::size_t j = 0; j < n; ++j) row[j] *= inv;
    }
}

std::size_t tile_rows(std::size_t n, std::size_t scratch_floats) {
    if (scratch_floats == 0) scratch_floats = std::size_t(8) << 20;  // 32 MiB of scores per tile
    return std::max<std::size_t>(1, std::min(n, scratch_floats / std::max<std::size_t>(n, 1)));
}

}  // namespace

void spatial_attention(const float* q, const float* k, const float* v, float* out, int channels, std::size_t n,
                       float scale, std::size_t scratch_floats) {
    const std::size_t rows = tile_rows(n, scratch_floats);
    std::unique_ptr<float[]> scores(new float[rows * n]);
    for (std::size_t i0 = 0; i0 < n; i0 += rows) {
        const std::size_t m = std::min(rows, n - i0);
        attention_probs(q, k, channels, n, scale, i0, m, scores.get());
        // out[:, i0:i0+m] = v[C, n] * P[m, n]^T
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, channels, int(m), int(n), 1.f, v, int(n), scores.get(),
                    int(n), 0.f, out + i0, int(n));
    }
}

void spatial_attention_backward(const float* q, const float* k, const float* v, const float* dout, float* dq,
                                float* dk, float* dv, int channels, std::size_t n, float scale,
                                std::size_t scratch_floats) {
    const std::size_t rows = tile_rows(n, scratch_floats ? scratch_floats / 2 : (std::size_t(4) << 20));
    std::unique_ptr<float[]> P(new float[rows * n]), dP(new float[rows * n]);
    for (std::size_t i0 = 0; i0 < n; i0 += rows) {
        const std::size_t m = std::min(rows, n - i0);
        attention_probs(q, k, channels, n, scale, i0, m, P.get());
        // dv[C, n] += dout[:, i0:i0+m] P[m, n]
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, channels, int(n), int(m), 1.f, dout + i0, int(n),
                    P.get(), int(n), 1.f, dv, int(n));
        // dP[m, n] = dout[:, i0:i0+m]^T v
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(m), int(n), channels, 1.f, dout + i0, int(n), v,
                    int(n), 0.f, dP.get(), int(n));
        // dS = P * (dP - rowsum(P * dP)), with the scale folded in.
#pragma omp parallel for schedule(static) if (m * n >= detail::kParallelMinElems)
        for (std::size_t i = 0; i < m; ++i) {
            const float* p = P.get() + i * n;
            float* d = dP.get() + i * n;
            double dot = 0;
            for (std::size_t j = 0; j < n; ++j) dot += double(p[j]) * d[j];
            const float fd = float(dot);
            for (std::size_t j = 0; j < n; ++j) d[j] = scale * p[j] * (d[j] - fd);
        }
        // dq[:, i0:i0+m] += k[C, n] dS[m, n]^T ; dk[C, n] += q[:, i0:i0+m] dS[m, n]
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, channels, int(m), int(n), 1.f, k, int(n), dP.get(),
                    int(n), 1.f, dq + i0, int(n));
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, channels, int(n), int(m), 1.f, q + i0, int(n),
                    dP.get(), int(n), 1.f, dk, int(n));
    }
}

void spatial_attention_reference(const float* q, const float* k, const float* v, float* out, int channels,
                                 std::size_t n, float scale) {
    std::vector<double> p(n);
    for (std::size_t i = 0; i < n; ++i) {
        double mx = -1e300;
        for (std::size_t j = 0; j < n; ++j) {
            double s = 0;
            for (int c = 0; c < channels; ++c) s += double(q[c * n + i]) * k[c * n + j];
            p[j] = s * scale;
            mx = std::max(mx, p[j]);
        }
        double sum = 0;
        for (std::size_t j = 0; j < n; ++j) sum += (p[j] = std::exp(p[j] - mx));
        for (int c = 0; c < channels; ++c) {
            double acc = 0;
            for (std::size_t j = 0; j < n; ++j) acc += v[c * n + j] * p[j];
            out[c * n + i] = float(acc / sum);
        }
    }
}

}  // namespace emu::ops
