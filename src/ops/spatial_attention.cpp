#include "emu/ops/spatial_attention.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "vec_math.h"

namespace emu::ops {

void spatial_attention(const float* q, const float* k, const float* v, float* out, int channels, std::size_t n,
                       float scale, std::size_t scratch_floats) {
    if (scratch_floats == 0) scratch_floats = std::size_t(8) << 20;  // 32 MiB of scores per tile
    const std::size_t rows = std::max<std::size_t>(1, std::min(n, scratch_floats / std::max<std::size_t>(n, 1)));
    std::unique_ptr<float[]> scores(new float[rows * n]);
    for (std::size_t i0 = 0; i0 < n; i0 += rows) {
        const std::size_t m = std::min(rows, n - i0);
        // S[m, n] = scale * q[:, i0:i0+m]^T k
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(m), int(n), channels, scale, q + i0, int(n), k,
                    int(n), 0.f, scores.get(), int(n));
#pragma omp parallel for schedule(static) if (m * n >= detail::kParallelMinElems)
        for (std::size_t i = 0; i < m; ++i) {
            float* row = scores.get() + i * n;
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
        // out[:, i0:i0+m] = v[C, n] * P[m, n]^T
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, channels, int(m), int(n), 1.f, v, int(n), scores.get(),
                    int(n), 0.f, out + i0, int(n));
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
