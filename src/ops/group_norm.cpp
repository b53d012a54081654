#include "emu/ops/group_norm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "emu/core/error.h"
#include "vec_math.h"

namespace emu::ops {

void group_norm_coefficients(const float* x, int channels, std::size_t hw, int groups, float eps, const float* gamma,
                             const float* beta, float* scale, float* shift) {
    check(groups > 0 && channels % groups == 0, "group_norm: ", channels, " channels not divisible into ", groups,
          " groups");
    const int cpg = channels / groups;
    std::vector<double> sum(channels), sumsq(channels);
    // Per-channel partial sums first (parallel over channels), then per group.
#pragma omp parallel for schedule(static) if (std::size_t(channels) * hw >= detail::kParallelMinElems)
    for (int c = 0; c < channels; ++c) {
        const float* p = x + std::size_t(c) * hw;
        // Sums of (x - k) with k the group's first value avoid the cancellation of
        // E[x^2] - E[x]^2 when the mean is large; float partial sums over short runs
        // keep the loop vectorised and are folded into double every block.
        const float k = x[std::size_t(c / cpg) * cpg * hw];
        double s = 0, q = 0;
        constexpr std::size_t kBlock = 256;
        for (std::size_t i0 = 0; i0 < hw; i0 += kBlock) {
            const std::size_t i1 = i0 + kBlock < hw ? i0 + kBlock : hw;
            float fs = 0, fq = 0;
#pragma omp simd reduction(+ : fs, fq)
            for (std::size_t i = i0; i < i1; ++i) {
                const float d = p[i] - k;
                fs += d;
                fq += d * d;
            }
            s += fs;
            q += fq;
        }
        sum[c] = s;
        sumsq[c] = q;
    }
    const double count = double(cpg) * double(hw);
    for (int g = 0; g < groups; ++g) {
        double s = 0, q = 0;
        for (int c = g * cpg; c < (g + 1) * cpg; ++c) {
            s += sum[c];
            q += sumsq[c];
        }
        const double k = x[std::size_t(g) * cpg * hw];
        const double dmean = s / count;
        const double var = std::max(0.0, q / count - dmean * dmean);
        const double mean = k + dmean;
        const double rstd = 1.0 / std::sqrt(var + double(eps));
        for (int c = g * cpg; c < (g + 1) * cpg; ++c) {
            const double a = rstd * (gamma ? gamma[c] : 1.0);
            scale[c] = float(a);
            shift[c] = float((beta ? beta[c] : 0.0) - mean * a);
        }
    }
}

void group_norm(const float* x, float* y, int channels, std::size_t hw, int groups, float eps, const float* gamma,
                const float* beta, bool then_swish) {
    std::vector<float> scale(channels), shift(channels);
    group_norm_coefficients(x, channels, hw, groups, eps, gamma, beta, scale.data(), shift.data());
#pragma omp parallel for schedule(static) if (std::size_t(channels) * hw >= detail::kParallelMinElems)
    for (int c = 0; c < channels; ++c) {
        const float* p = x + std::size_t(c) * hw;
        float* o = y + std::size_t(c) * hw;
        const float a = scale[c], b = shift[c];
        if (then_swish) {
            for (std::size_t i = 0; i < hw; ++i) o[i] = detail::swish1(p[i] * a + b);
        } else {
            for (std::size_t i = 0; i < hw; ++i) o[i] = p[i] * a + b;
        }
    }
}

void swish(const float* x, float* y, std::size_t n) {
#pragma omp parallel for schedule(static) if (n >= detail::kParallelMinElems)
    for (std::size_t i = 0; i < n; ++i) y[i] = detail::swish1(x[i]);
}

void group_norm_backward(const float* x, const float* dy, float* dx, int channels, std::size_t hw, int groups,
                         float eps, const float* gamma, const float* beta, bool then_swish, float* dgamma,
                         float* dbeta) {
    // rstd and -mean*rstd per channel, from the forward's own statistics code.
    std::vector<float> rs(channels), sh(channels);
    group_norm_coefficients(x, channels, hw, groups, eps, nullptr, nullptr, rs.data(), sh.data());
    const int cpg = channels / groups;
    const double count = double(cpg) * double(hw);
#pragma omp parallel for schedule(static) if (std::size_t(channels) * hw >= detail::kParallelMinElems)
    for (int g = 0; g < groups; ++g) {
        // dv: gradient at the affine output (before swish), kept for the second pass;
        // xh: the normalised input. Element work in float, sums in double per block.
        std::vector<float> dv(std::size_t(cpg) * hw);
        double s1 = 0, s2 = 0;
        for (int c = g * cpg; c < (g + 1) * cpg; ++c) {
            const float* p = x + std::size_t(c) * hw;
            const float* d = dy + std::size_t(c) * hw;
            float* v = dv.data() + std::size_t(c - g * cpg) * hw;
            const float ga = gamma ? gamma[c] : 1.f, be = beta ? beta[c] : 0.f, r = rs[c], h = sh[c];
            double dg = 0, db = 0;
            constexpr std::size_t kBlock = 256;
            for (std::size_t i0 = 0; i0 < hw; i0 += kBlock) {
                const std::size_t i1 = std::min(hw, i0 + kBlock);
                float fg = 0, fb = 0;
                if (then_swish) {
#pragma omp simd reduction(+ : fg, fb)
                    for (std::size_t i = i0; i < i1; ++i) {
                        const float xh = p[i] * r + h, a = xh * ga + be;
                        const float sg = 1.0f / (1.0f + detail::exp_approx(-a));
                        const float e = d[i] * sg * (1.0f + a * (1.0f - sg));
                        v[i] = e;
                        fg += e * xh;
                        fb += e;
                    }
                } else {
#pragma omp simd reduction(+ : fg, fb)
                    for (std::size_t i = i0; i < i1; ++i) {
                        const float xh = p[i] * r + h;
                        v[i] = d[i];
                        fg += d[i] * xh;
                        fb += d[i];
                    }
                }
                dg += fg;
                db += fb;
            }
            if (dgamma) dgamma[c] += float(dg);
            if (dbeta) dbeta[c] += float(db);
            s1 += db * ga;
            s2 += dg * ga;
        }
        const float m1 = float(s1 / count), m2 = float(s2 / count);
        for (int c = g * cpg; c < (g + 1) * cpg; ++c) {
            const float* p = x + std::size_t(c) * hw;
            const float* v = dv.data() + std::size_t(c - g * cpg) * hw;
            float* o = dx + std::size_t(c) * hw;
            const float ga = gamma ? gamma[c] : 1.f, r = rs[c], h = sh[c];
#pragma omp simd
            for (std::size_t i = 0; i < hw; ++i) o[i] += r * (v[i] * ga - m1 - (p[i] * r + h) * m2);
        }
    }
}

void swish_backward(const float* x, const float* dy, float* dx, std::size_t n) {
#pragma omp parallel for schedule(static) if (n >= detail::kParallelMinElems)
    for (std::size_t i = 0; i < n; ++i) {
        const float sg = 1.0f / (1.0f + detail::exp_approx(-x[i]));
        dx[i] += dy[i] * sg * (1.0f + x[i] * (1.0f - sg));
    }
}

void group_norm_reference(const float* x, float* y, int channels, std::size_t hw, int groups, float eps,
                          const float* gamma, const float* beta, bool then_swish) {
    check(groups > 0 && channels % groups == 0, "group_norm: bad groups");
    const int cpg = channels / groups;
    const std::size_t n = std::size_t(cpg) * hw;
    for (int g = 0; g < groups; ++g) {
        const float* p = x + std::size_t(g) * n;
        double mean = 0;
        for (std::size_t i = 0; i < n; ++i) mean += p[i];
        mean /= double(n);
        double var = 0;
        for (std::size_t i = 0; i < n; ++i) var += (p[i] - mean) * (p[i] - mean);
        var /= double(n);
        const double rstd = 1.0 / std::sqrt(var + eps);
        for (std::size_t i = 0; i < n; ++i) {
            const int c = g * cpg + int(i / hw);
            double v = (p[i] - mean) * rstd * (gamma ? gamma[c] : 1.0) + (beta ? beta[c] : 0.0);
            if (then_swish) v = v / (1.0 + std::exp(-v));
            y[std::size_t(g) * n + i] = float(v);
        }
    }
}

}  // namespace emu::ops
