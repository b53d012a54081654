// conv2d, group_norm, swish, nearest upsampling and spatial attention against slow
// double-precision implementations of their definitions.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "emu/core/error.h"
#include "emu/ops/conv2d.h"
#include "emu/ops/group_norm.h"
#include "emu/ops/spatial_attention.h"
#include "emu/ops/upsample.h"

namespace {

std::vector<float> randn(std::size_t n, unsigned seed, float scale = 1.f, float offset = 0.f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.f, 1.f);
    std::vector<float> v(n);
    for (auto& x : v) x = offset + scale * d(rng);
    return v;
}

double max_rel(const std::vector<float>& a, const std::vector<float>& b) {
    double m = 0, ref = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        m = std::max(m, std::fabs(double(a[i]) - b[i]));
        ref = std::max(ref, std::fabs(double(b[i])));
    }
    return m / std::max(ref, 1e-30);
}

struct ConvCase {
    int c, h, w, o, k, stride, pt, pl, pb, pr, up;
    bool acc;
    std::size_t scratch;
    bool pre = false;  // read the input through a per-channel affine + swish
};

TEST(Conv2d, MatchesDirectDefinition) {
    const ConvCase cases[] = {
        {3, 9, 11, 5, 3, 1, 1, 1, 1, 1, 1, false, 0},   // conv_in-like, odd sizes
        {8, 8, 6, 4, 1, 1, 0, 0, 0, 0, 1, false, 0},    // pointwise (plain GEMM path)
        {6, 10, 8, 7, 3, 2, 0, 0, 1, 1, 1, false, 0},   // IBQ downsample: pad right/bottom only
        {6, 9, 7, 7, 3, 2, 0, 0, 1, 1, 1, false, 0},    // odd input to the downsample
        {5, 4, 6, 3, 3, 1, 1, 1, 1, 1, 2, false, 0},    // nearest x2 folded into the read
        {4, 7, 5, 6, 3, 1, 1, 1, 1, 1, 1, true, 0},     // accumulate into y (residual)
        {8, 13, 9, 3, 3, 1, 1, 1, 1, 1, 1, false, 200}, // tiny scratch: one output row per tile
        {4, 12, 12, 5, 3, 1, 1, 1, 1, 1, 2, true, 700}, // tiles + upsample + accumulate
        {3, 6, 6, 2, 5, 1, 2, 1, 0, 2, 1, false, 0},    // 5x5 kernel, asymmetric pads
        // Enough row tiles for the per-thread tiling path (threads > 1).
        {4, 64, 64, 3, 3, 1, 1, 1, 1, 1, 1, true, 9216},
        {4, 31, 33, 5, 3, 2, 0, 0, 1, 1, 2, false, 2000},
        {4, 31, 33, 5, 3, 2, 0, 0, 1, 1, 2, false, 0, true},
        {5, 9, 7, 6, 3, 1, 1, 1, 1, 1, 1, true, 0, true},
        // >= 16 channels: the strip path (per-tap GEMMs on a padded strip), when it has
        // enough row tiles for the threads; tall images give it several tiles.
        {16, 96, 8, 4, 3, 1, 1, 1, 1, 1, 1, true, 0, true},
        {16, 50, 5, 4, 3, 1, 1, 1, 1, 1, 2, false, 0, false},
        {16, 50, 5, 4, 3, 1, 1, 1, 1, 1, 2, true, 0, true},
        {20, 130, 3, 3, 3, 1, 0, 2, 1, 0, 1, false, 0, true},
        {16, 7, 6, 3, 3, 1, 1, 1, 1, 1, 1, false, 0, true},
    };
    unsigned seed = 1;
    for (const auto& cc : cases) {
        emu::ops::Conv2dShape s;
        s.in_channels = cc.c;
        s.in_h = cc.h;
        s.in_w = cc.w;
        s.out_channels = cc.o;
        s.kernel_h = s.kernel_w = cc.k;
        s.stride = cc.stride;
        s.pad_top = cc.pt;
        s.pad_left = cc.pl;
        s.pad_bottom = cc.pb;
        s.pad_right = cc.pr;
        s.upsample = cc.up;
        const auto x = randn(std::size_t(cc.c) * cc.h * cc.w, seed++);
        const auto wt = randn(std::size_t(cc.o) * cc.c * cc.k * cc.k, seed++, 0.3f);
        const auto b = randn(cc.o, seed++);
        const std::size_t ny = std::size_t(cc.o) * s.out_h() * s.out_w();
        std::vector<float> y = randn(ny, seed++), yref = y;
        const auto scale = randn(cc.c, seed++, 0.5f, 1.f), shift = randn(cc.c, seed++, 0.5f);
        const emu::ops::ChannelAffine pre{scale.data(), shift.data(), true};
        emu::ops::conv2d(x.data(), wt.data(), b.data(), y.data(), s, cc.acc, cc.scratch, cc.pre ? &pre : nullptr);
        emu::ops::conv2d_reference(x.data(), wt.data(), b.data(), yref.data(), s, cc.acc, cc.pre ? &pre : nullptr);
        EXPECT_LT(max_rel(y, yref), 1e-5) << "case c=" << cc.c << " k=" << cc.k << " stride=" << cc.stride
                                          << " up=" << cc.up << " acc=" << cc.acc << " pre=" << cc.pre
                                          << " h=" << cc.h;
    }
}

TEST(Conv2d, DownsampleOutputSizeIsHalf) {
    emu::ops::Conv2dShape s;
    s.in_channels = s.out_channels = 1;
    s.in_h = 64;
    s.in_w = 48;
    s.kernel_h = s.kernel_w = 3;
    s.stride = 2;
    s.pad_bottom = s.pad_right = 1;
    EXPECT_EQ(s.out_h(), 32);
    EXPECT_EQ(s.out_w(), 24);
}

TEST(Conv2d, RejectsInputSmallerThanKernel) {
    emu::ops::Conv2dShape s;
    s.in_channels = s.out_channels = 1;
    s.in_h = s.in_w = 2;
    s.kernel_h = s.kernel_w = 3;
    std::vector<float> x(4), w(9), y(16);
    EXPECT_THROW(emu::ops::conv2d(x.data(), w.data(), nullptr, y.data(), s), emu::Error);
}

TEST(UpsampleNearest, EqualsFoldedConvRead) {
    const int c = 3, h = 5, w = 4;
    const auto x = randn(std::size_t(c) * h * w, 11);
    std::vector<float> up(std::size_t(c) * h * w * 4);
    emu::ops::upsample_nearest(x.data(), up.data(), c, h, w, 2);
    for (int ch = 0; ch < c; ++ch)
        for (int y = 0; y < 2 * h; ++y)
            for (int xx = 0; xx < 2 * w; ++xx)
                ASSERT_EQ(up[(std::size_t(ch) * 2 * h + y) * 2 * w + xx], x[(std::size_t(ch) * h + y / 2) * w + xx / 2]);
    // conv over the materialised upsampling == conv reading through upsample = 2
    emu::ops::Conv2dShape s;
    s.in_channels = c;
    s.out_channels = 2;
    s.kernel_h = s.kernel_w = 3;
    s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = 1;
    const auto wt = randn(2 * c * 9, 12);
    emu::ops::Conv2dShape s1 = s, s2 = s;
    s1.in_h = 2 * h;
    s1.in_w = 2 * w;
    s2.in_h = h;
    s2.in_w = w;
    s2.upsample = 2;
    std::vector<float> y1(2 * 4 * h * w), y2(y1.size());
    emu::ops::conv2d(up.data(), wt.data(), nullptr, y1.data(), s1);
    emu::ops::conv2d(x.data(), wt.data(), nullptr, y2.data(), s2);
    EXPECT_LT(max_rel(y2, y1), 1e-6);
}

TEST(GroupNorm, MatchesTwoPassDouble) {
    struct Case {
        int c;
        std::size_t hw;
        int groups;
        float offset;
        bool swish;
        double tol;
    };
    // A large common offset checks that the variance does not cancel catastrophically
    // (float x * scale + shift still loses ~1e-7 of |x * scale|, as torch's kernel does).
    const Case cases[] = {{64, 37, 32, 0.f, true, 2e-5}, {32, 3, 32, 0.f, false, 2e-5},
                          {96, 300, 32, 500.f, true, 1e-4}, {8, 1000, 4, -3.f, false, 2e-5},
                          {64, 5000, 32, 0.f, true, 2e-5}};
    unsigned seed = 100;
    for (const auto& cs : cases) {
        const auto x = randn(cs.c * cs.hw, seed++, 2.f, cs.offset);
        const auto g = randn(cs.c, seed++, 0.2f, 1.f), b = randn(cs.c, seed++, 0.3f);
        std::vector<float> y(x.size()), yref(x.size());
        emu::ops::group_norm(x.data(), y.data(), cs.c, cs.hw, cs.groups, 1e-6f, g.data(), b.data(), cs.swish);
        emu::ops::group_norm_reference(x.data(), yref.data(), cs.c, cs.hw, cs.groups, 1e-6f, g.data(), b.data(),
                                       cs.swish);
        double worst = 0;
        for (std::size_t i = 0; i < y.size(); ++i) worst = std::max(worst, std::fabs(double(y[i]) - yref[i]));
        EXPECT_LT(worst, cs.tol) << "channels " << cs.c << " hw " << cs.hw << " offset " << cs.offset;
        // In place gives the same result.
        std::vector<float> z = x;
        emu::ops::group_norm(z.data(), z.data(), cs.c, cs.hw, cs.groups, 1e-6f, g.data(), b.data(), cs.swish);
        EXPECT_EQ(z, y);
    }
    std::vector<float> x(30);
    EXPECT_THROW(emu::ops::group_norm(x.data(), x.data(), 30, 1, 32, 1e-6f, nullptr, nullptr, false), emu::Error);
}

TEST(Swish, MatchesDefinitionOverWideRange) {
    std::vector<float> x;
    for (float v = -100.f; v <= 100.f; v += 0.037f) x.push_back(v);
    x.push_back(-1e30f);
    x.push_back(1e30f);
    std::vector<float> y(x.size());
    emu::ops::swish(x.data(), y.data(), x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
        const double want = double(x[i]) / (1.0 + std::exp(-double(x[i])));
        EXPECT_NEAR(y[i], want, 2e-6 * std::max(1.0, std::fabs(want))) << "x=" << x[i];
    }
}

TEST(SpatialAttention, MatchesDoubleReference) {
    struct Case {
        int c;
        std::size_t n;
        std::size_t scratch;
    };
    const Case cases[] = {{16, 1, 0}, {32, 37, 0}, {8, 64, 64 * 5}, {24, 50, 1}};
    unsigned seed = 200;
    for (const auto& cs : cases) {
        const auto q = randn(cs.c * cs.n, seed++), k = randn(cs.c * cs.n, seed++), v = randn(cs.c * cs.n, seed++);
        std::vector<float> o(q.size()), oref(q.size());
        const float scale = 1.f / std::sqrt(float(cs.c));
        emu::ops::spatial_attention(q.data(), k.data(), v.data(), o.data(), cs.c, cs.n, scale, cs.scratch);
        emu::ops::spatial_attention_reference(q.data(), k.data(), v.data(), oref.data(), cs.c, cs.n, scale);
        EXPECT_LT(max_rel(o, oref), 1e-5) << "c " << cs.c << " n " << cs.n;
    }
}

}  // namespace
