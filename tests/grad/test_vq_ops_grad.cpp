// Backward passes of the IBQ layers (conv2d in every form the IBQ uses, GroupNorm with and
// without swish, GroupNorm + swish folded into a conv, swish, nearest upsampling, spatial
// attention) against central finite differences of the forward kernels.
#include <gtest/gtest.h>

#include <random>

#include "emu/ops/conv2d.h"
#include "emu/ops/group_norm.h"
#include "emu/ops/spatial_attention.h"
#include "emu/ops/upsample.h"
#include "grad_check.h"

using namespace emu;
using emu::test::dot;
using emu::test::expect_grad_matches;
using emu::test::random_vec;

namespace {

struct ConvCase {
    const char* name;
    int C, O, H, W, k, stride, ptl, pbr, up;
};

class ConvGrad : public ::testing::TestWithParam<ConvCase> {};

TEST_P(ConvGrad, MatchesFiniteDifferences) {
    const ConvCase cc = GetParam();
    ops::Conv2dShape s;
    s.in_channels = cc.C;
    s.in_h = cc.H;
    s.in_w = cc.W;
    s.out_channels = cc.O;
    s.kernel_h = s.kernel_w = cc.k;
    s.stride = cc.stride;
    s.pad_top = s.pad_left = cc.ptl;
    s.pad_bottom = s.pad_right = cc.pbr;
    s.upsample = cc.up;
    std::mt19937 rng(7);
    auto x = random_vec(std::size_t(cc.C) * cc.H * cc.W, rng);
    auto w = random_vec(std::size_t(cc.O) * cc.C * cc.k * cc.k, rng, -0.3f, 0.3f);
    auto b = random_vec(cc.O, rng);
    const std::size_t ny = std::size_t(cc.O) * s.out_h() * s.out_w();
    auto r = random_vec(ny, rng);  // loss = sum(r * y)
    std::vector<float> y(ny);
    auto loss = [&] {
        ops::conv2d(x.data(), w.data(), b.data(), y.data(), s);
        return dot(r, y);
    };
    std::vector<float> dx(x.size(), 0.f), dw(w.size(), 0.f), db(b.size(), 0.f);
    // Adds into what is there: start from 1 and subtract it again.
    std::fill(dx.begin(), dx.end(), 1.f);
    ops::conv2d_backward(x.data(), w.data(), r.data(), dx.data(), dw.data(), db.data(), s);
    for (auto& v : dx) v -= 1.f;
    // Tiny scratch: several row tiles.
    std::vector<float> dx2(x.size(), 0.f), dw2(w.size(), 0.f);
    ops::conv2d_backward(x.data(), w.data(), r.data(), dx2.data(), dw2.data(), nullptr, s, nullptr,
                         std::size_t(cc.C) * cc.k * cc.k * s.out_w());
    for (std::size_t i = 0; i < dx.size(); ++i) EXPECT_NEAR(dx2[i], dx[i], 1e-4) << "tiled dx " << i;
    for (std::size_t i = 0; i < dw.size(); ++i) EXPECT_NEAR(dw2[i], dw[i], 1e-4) << "tiled dw " << i;
    expect_grad_matches(std::string(cc.name) + " dx", x, dx, loss, 1e-2, 2e-3);
    expect_grad_matches(std::string(cc.name) + " dweight", w, dw, loss, 1e-2, 2e-3);
    expect_grad_matches(std::string(cc.name) + " dbias", b, db, loss, 1e-2, 2e-3);
}

INSTANTIATE_TEST_SUITE_P(Ibq, ConvGrad,
                         ::testing::Values(ConvCase{"3x3 pad 1", 4, 5, 7, 6, 3, 1, 1, 1, 1},
                                           ConvCase{"3x3 pad 1 strip path", 16, 8, 12, 10, 3, 1, 1, 1, 1},
                                           ConvCase{"downsample stride 2 pad right/bottom", 6, 6, 8, 10, 3, 2, 0, 1, 1},
                                           ConvCase{"downsample odd size", 3, 4, 7, 5, 3, 2, 0, 1, 1},
                                           ConvCase{"1x1", 8, 4, 5, 6, 1, 1, 0, 0, 1},
                                           ConvCase{"upsample x2 then 3x3", 5, 3, 4, 5, 3, 1, 1, 1, 2},
                                           ConvCase{"upsample x2 strip path", 16, 4, 5, 6, 3, 1, 1, 1, 2}));

TEST(GroupNormGrad, WithAndWithoutSwish) {
    for (bool sw : {false, true})
        for (int C : {32, 64}) {
            const std::size_t hw = 12;
            std::mt19937 rng(C + sw);
            auto x = random_vec(C * hw, rng, -2.f, 3.f);
            auto g = random_vec(C, rng, 0.5f, 1.5f);
            auto be = random_vec(C, rng, -0.5f, 0.5f);
            auto r = random_vec(C * hw, rng);
            std::vector<float> y(x.size());
            auto loss = [&] {
                ops::group_norm(x.data(), y.data(), C, hw, 32, 1e-6f, g.data(), be.data(), sw);
                return dot(r, y);
            };
            std::vector<float> dx(x.size(), 0.f), dg(C, 0.f), db(C, 0.f);
            ops::group_norm_backward(x.data(), r.data(), dx.data(), C, hw, 32, 1e-6f, g.data(), be.data(), sw,
                                     dg.data(), db.data());
            const std::string what = std::string("group norm C=") + std::to_string(C) + (sw ? " + swish" : "");
            expect_grad_matches(what + " dx", x, dx, loss, 1e-2, 3e-3);
            expect_grad_matches(what + " dgamma", g, dg, loss, 1e-2, 3e-3);
            expect_grad_matches(what + " dbeta", be, db, loss, 1e-2, 3e-3);
        }
}

// What every IBQ ResNet conv does: GroupNorm + swish of x folded into the conv's input read
// (coefficients from x), chained conv2d_backward -> group_norm_backward.
TEST(FusedNormConvGrad, MatchesFiniteDifferences) {
    const int C = 32, O = 6, H = 5, W = 4;
    std::mt19937 rng(11);
    auto x = random_vec(std::size_t(C) * H * W, rng, -1.f, 2.f);
    auto g = random_vec(C, rng, 0.5f, 1.5f);
    auto be = random_vec(C, rng, -0.5f, 0.5f);
    auto w = random_vec(std::size_t(O) * C * 9, rng, -0.2f, 0.2f);
    auto b = random_vec(O, rng);
    ops::Conv2dShape s;
    s.in_channels = C;
    s.in_h = H;
    s.in_w = W;
    s.out_channels = O;
    s.kernel_h = s.kernel_w = 3;
    s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = 1;
    auto r = random_vec(std::size_t(O) * H * W, rng);
    std::vector<float> y(r.size()), scale(C), shift(C);
    auto coeffs = [&] {
        ops::group_norm_coefficients(x.data(), C, std::size_t(H) * W, 32, 1e-6f, g.data(), be.data(), scale.data(),
                                     shift.data());
        return ops::ChannelAffine{scale.data(), shift.data(), true};
    };
    auto loss = [&] {
        const ops::ChannelAffine pre = coeffs();
        ops::conv2d(x.data(), w.data(), b.data(), y.data(), s, false, 0, &pre);
        return dot(r, y);
    };
    const ops::ChannelAffine pre = coeffs();
    std::vector<float> da(x.size(), 0.f), dx(x.size(), 0.f), dw(w.size(), 0.f), db(O, 0.f), dg(C, 0.f), dbe(C, 0.f);
    ops::conv2d_backward(x.data(), w.data(), r.data(), da.data(), dw.data(), db.data(), s, &pre);
    ops::group_norm_backward(x.data(), da.data(), dx.data(), C, std::size_t(H) * W, 32, 1e-6f, g.data(), be.data(),
                             true, dg.data(), dbe.data());
    expect_grad_matches("fused dx", x, dx, loss, 1e-2, 3e-3);
    expect_grad_matches("fused dgamma", g, dg, loss, 1e-2, 3e-3);
    expect_grad_matches("fused dbeta", be, dbe, loss, 1e-2, 3e-3);
    expect_grad_matches("fused dweight", w, dw, loss, 1e-2, 3e-3);
}

TEST(SwishGrad, MatchesFiniteDifferences) {
    std::mt19937 rng(3);
    auto x = random_vec(200, rng, -6.f, 6.f);
    auto r = random_vec(200, rng);
    std::vector<float> y(200), dx(200, 0.f);
    auto loss = [&] {
        ops::swish(x.data(), y.data(), x.size());
        return dot(r, y);
    };
    ops::swish_backward(x.data(), r.data(), dx.data(), x.size());
    expect_grad_matches("swish", x, dx, loss, 1e-2, 2e-3, 200);
}

TEST(UpsampleGrad, MatchesFiniteDifferences) {
    for (int f : {1, 2, 3}) {
        const int C = 3, H = 4, W = 5;
        std::mt19937 rng(f);
        auto x = random_vec(C * H * W, rng);
        auto r = random_vec(std::size_t(C) * H * W * f * f, rng);
        std::vector<float> y(r.size()), dx(x.size(), 0.f);
        auto loss = [&] {
            ops::upsample_nearest(x.data(), y.data(), C, H, W, f);
            return dot(r, y);
        };
        ops::upsample_nearest_backward(r.data(), dx.data(), C, H, W, f);
        expect_grad_matches("upsample x" + std::to_string(f), x, dx, loss, 1e-2, 1e-3, 60);
    }
}

TEST(SpatialAttentionGrad, MatchesFiniteDifferences) {
    const int C = 8;
    const std::size_t n = 12;
    for (std::size_t scratch : {std::size_t(0), std::size_t(2 * n)}) {  // one tile; 1-row tiles
        std::mt19937 rng(5 + scratch);
        auto q = random_vec(C * n, rng), k = random_vec(C * n, rng), v = random_vec(C * n, rng);
        auto r = random_vec(C * n, rng);
        const float scale = 0.7f;
        std::vector<float> y(C * n), dq(C * n, 0.f), dk(C * n, 0.f), dv(C * n, 0.f);
        auto loss = [&] {
            ops::spatial_attention(q.data(), k.data(), v.data(), y.data(), C, n, scale, scratch);
            return dot(r, y);
        };
        ops::spatial_attention_backward(q.data(), k.data(), v.data(), r.data(), dq.data(), dk.data(), dv.data(), C, n,
                                        scale, scratch);
        expect_grad_matches("attention dq", q, dq, loss, 1e-2, 2e-3);
        expect_grad_matches("attention dk", k, dk, loss, 1e-2, 2e-3);
        expect_grad_matches("attention dv", v, dv, loss, 1e-2, 2e-3);
    }
}

}  // namespace
