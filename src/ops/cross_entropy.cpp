#include "emu/ops/cross_entropy.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "emu/core/error.h"
#include "vec_math.h"

namespace emu::ops {

double cross_entropy(const float* logits, std::int64_t rows, std::int64_t vocab, const std::int32_t* targets,
                     const float* weights, float* dlogits, float grad_scale) {
    std::vector<double> row_loss(static_cast<std::size_t>(rows), 0.0);
    for (std::int64_t r = 0; r < rows; ++r)
        if (weights[r] != 0.f)
            check(targets[r] >= 0 && targets[r] < vocab, "cross_entropy: target ", targets[r], " at row ", r,
                  " is outside the vocabulary (", vocab, ")");
#pragma omp parallel for schedule(static) if (rows * vocab > 65536)
    for (std::int64_t r = 0; r < rows; ++r) {
        const float* x = logits + r * vocab;
        float* g = dlogits ? dlogits + r * vocab : nullptr;
        const float wr = weights[r];
        if (wr == 0.f) {
            if (g) std::fill(g, g + vocab, 0.f);
            continue;
        }
        float mx = x[0];
        for (std::int64_t i = 1; i < vocab; ++i) mx = std::max(mx, x[i]);
        float sum = 0.f;
#pragma omp simd reduction(+ : sum)
        for (std::int64_t i = 0; i < vocab; ++i) sum += detail::exp_approx(x[i] - mx);
        const double lse = double(mx) + std::log(double(sum));
        const float target_logit = x[targets[r]];
        row_loss[std::size_t(r)] = double(wr) * (lse - double(target_logit));
        if (g) {
            const float s = wr * grad_scale;
            const float inv = s / sum;
#pragma omp simd
            for (std::int64_t i = 0; i < vocab; ++i) g[i] = inv * detail::exp_approx(x[i] - mx);
            g[targets[r]] -= s;
        }
    }
    double total = 0.0;
    for (double l : row_loss) total += l;
    return total;
}

}  // namespace emu::ops
