// Central finite differences for gradient tests: the loss is evaluated in double from the
// float kernels' outputs, and the analytic gradient is compared entry by entry, relative to
// the largest gradient of the tensor (so float rounding in tiny entries does not count).
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace emu::test {

inline std::vector<float> random_vec(std::size_t n, std::mt19937& rng, float lo = -1.f, float hi = 1.f) {
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

inline double dot(const std::vector<float>& a, const std::vector<float>& b) {
    double s = 0;
    for (std::size_t i = 0; i < a.size(); ++i) s += double(a[i]) * b[i];
    return s;
}

// Checks analytic[i] against (loss(v + h e_i) - loss(v - h e_i)) / 2h for up to max_checks
// entries of v (all when fewer; otherwise the largest analytic entries and a spread of
// others). Fails when |fd - analytic| > tol * max|analytic| + atol (atol: the finite
// difference's own rounding noise, for tensors whose gradient is tiny or exactly zero).
inline void expect_grad_matches(const std::string& what, std::vector<float>& v, const std::vector<float>& analytic,
                                const std::function<double()>& loss, double h, double tol,
                                std::size_t max_checks = 64, double atol = 0) {
    ASSERT_EQ(v.size(), analytic.size()) << what;
    double scale = 0;
    for (float g : analytic) scale = std::max(scale, double(std::abs(g)));
    if (atol == 0) {
        ASSERT_GT(scale, 0.0) << what << ": analytic gradient is all zero";
    }
    std::vector<std::size_t> idx(v.size());
    for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    if (idx.size() > max_checks) {
        std::vector<std::size_t> by(idx);
        std::partial_sort(by.begin(), by.begin() + max_checks / 2, by.end(),
                          [&](std::size_t a, std::size_t b) { return std::abs(analytic[a]) > std::abs(analytic[b]); });
        std::vector<std::size_t> pick(by.begin(), by.begin() + max_checks / 2);
        const std::size_t rest = max_checks - pick.size();
        for (std::size_t k = 0; k < rest; ++k) pick.push_back((k * 7919 + 13) % v.size());
        idx = pick;
    }
    double worst = 0;
    std::size_t worst_i = 0;
    double worst_fd = 0;
    for (std::size_t i : idx) {
        const float keep = v[i];
        v[i] = keep + float(h);
        const double lp = loss();
        v[i] = keep - float(h);
        const double lm = loss();
        const double step = double(keep + float(h)) - double(keep - float(h));
        v[i] = keep;
        const double fd = (lp - lm) / step;
        const double err = std::abs(fd - analytic[i]) / (scale + atol / tol);
        if (err > worst) {
            worst = err;
            worst_i = i;
            worst_fd = fd;
        }
    }
    EXPECT_LE(worst, tol) << what << ": entry " << worst_i << " analytic " << analytic[worst_i] << " vs finite difference "
                          << worst_fd << " (max |grad| " << scale << ")";
}

}  // namespace emu::test
