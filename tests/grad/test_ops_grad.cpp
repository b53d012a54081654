// Layer-by-layer backward kernels (ops::*_backward, cross_entropy) against central
// finite differences of double-precision forwards written from the math. Each check
// uses the scalar loss sum(dy * y) for a random dy.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "emu/ops/attention.h"
#include "emu/ops/cross_entropy.h"
#include "emu/ops/linear.h"
#include "emu/ops/rmsnorm.h"
#include "emu/ops/rope.h"
#include "emu/ops/silu.h"
#include "lm_reference.h"

using namespace emu;

namespace {

std::vector<float> randn(std::size_t n, std::uint32_t seed, float scale = 1.f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.f, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

std::vector<double> to_d(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

// Compares analytic[i] with d loss / d x[i] by central differences of loss(x).
void expect_fd(const std::vector<double>& x0, const std::vector<float>& analytic,
               const std::function<double(const std::vector<double>&)>& loss, const char* what, double tol = 1e-3,
               std::size_t stride = 1) {
    ASSERT_EQ(x0.size(), analytic.size());
    std::vector<double> x = x0;
    double worst = 0;
    for (std::size_t i = 0; i < x.size(); i += stride) {
        const double h = 1e-6;
        x[i] = x0[i] + h;
        const double a = loss(x);
        x[i] = x0[i] - h;
        const double b = loss(x);
        x[i] = x0[i];
        const double fd = (a - b) / (2 * h);
        worst = std::max(worst, std::abs(fd - analytic[i]) / (std::abs(fd) + 1e-3));
        EXPECT_NEAR(analytic[i], fd, tol * std::abs(fd) + 1e-4) << what << "[" << i << "]";
    }
    std::printf("%-28s %zu entries, worst relative error %.2e\n", what, (x.size() + stride - 1) / stride, worst);
}

double dotd(const std::vector<double>& a, const std::vector<float>& b) {
    double s = 0;
    for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
    return s;
}

}  // namespace

TEST(OpsGrad, RmsNorm) {
    const std::int64_t rows = 3, n = 7;
    const float eps = 1e-5f;
    auto x = randn(rows * n, 1), w = randn(n, 2, 0.5f), dy = randn(rows * n, 3);
    for (auto& v : w) v += 1.f;
    std::vector<float> y(x.size()), inv(rows), dx(x.size()), dw(n, 0.f);
    ops::rmsnorm(x.data(), rows, n, w.data(), eps, y.data(), inv.data());
    ops::rmsnorm_backward(x.data(), inv.data(), rows, n, w.data(), dy.data(), dx.data(), dw.data());
    auto f = [&](const std::vector<double>& xs, const std::vector<double>& ws) {
        std::vector<double> out(xs.size());
        for (std::int64_t r = 0; r < rows; ++r) test::ref_rmsnorm(xs.data() + r * n, n, ws.data(), eps, out.data() + r * n);
        return dotd(out, dy);
    };
    const auto xd = to_d(x), wd = to_d(w);
    expect_fd(xd, dx, [&](const std::vector<double>& v) { return f(v, wd); }, "rmsnorm dx");
    expect_fd(wd, dw, [&](const std::vector<double>& v) { return f(xd, v); }, "rmsnorm dw");
}

TEST(OpsGrad, Rope) {
    const std::int64_t heads = 3, hd = 8;
    const std::int64_t pos = 5;
    ops::RopeParams rp{hd, 1000.f, 2.f};
    std::vector<float> cs(hd / 2), sn(hd / 2);
    ops::rope_tables(rp, &pos, 1, cs.data(), sn.data());
    auto x = randn(heads * hd, 4), dy = randn(heads * hd, 5);
    std::vector<float> dx = dy;
    ops::rope_apply_backward(dx.data(), heads, hd, cs.data(), sn.data());
    expect_fd(to_d(x), dx,
              [&](const std::vector<double>& v) {
                  std::vector<double> y = v;
                  for (std::int64_t h = 0; h < heads; ++h) test::ref_rope(y.data() + h * hd, hd, double(pos), 1000.0, 2.0);
                  return dotd(y, dy);
              },
              "rope dx");
}

TEST(OpsGrad, SiluMul) {
    const std::int64_t n = 20;
    auto gate = randn(n, 6, 2.f), up = randn(n, 7), dy = randn(n, 8);
    std::vector<float> dg(n), du(n);
    ops::silu_mul_backward(gate.data(), up.data(), dy.data(), dg.data(), du.data(), n);
    auto f = [&](const std::vector<double>& g, const std::vector<double>& u) {
        double s = 0;
        for (std::int64_t i = 0; i < n; ++i) s += g[i] / (1 + std::exp(-g[i])) * u[i] * dy[i];
        return s;
    };
    const auto gd = to_d(gate), ud = to_d(up);
    expect_fd(gd, dg, [&](const std::vector<double>& v) { return f(v, ud); }, "silu_mul dgate");
    expect_fd(ud, du, [&](const std::vector<double>& v) { return f(gd, v); }, "silu_mul dup");
}

TEST(OpsGrad, Linear) {
    const std::int64_t rows = 5, in = 6, out = 4;
    auto x = randn(rows * in, 9), wv = randn(out * in, 10), dy = randn(rows * out, 11);
    Tensor w = Tensor::from_f32({out, in}, wv);
    std::vector<float> dx(x.size()), dw(wv.size(), 0.f);
    ops::linear_backward_input(dy.data(), rows, w, dx.data());
    ops::linear_backward_weight(dy.data(), x.data(), rows, out, in, dw.data());
    auto f = [&](const std::vector<double>& xs, const std::vector<double>& ws) {
        std::vector<double> y(std::size_t(rows * out));
        for (std::int64_t r = 0; r < rows; ++r) test::ref_matvec(ws, out, in, xs.data() + r * in, y.data() + r * out);
        return dotd(y, dy);
    };
    const auto xd = to_d(x), wd = to_d(wv);
    expect_fd(xd, dx, [&](const std::vector<double>& v) { return f(v, wd); }, "linear dx");
    expect_fd(wd, dw, [&](const std::vector<double>& v) { return f(xd, v); }, "linear dw");
    // Accumulating form adds to what is there.
    std::vector<float> acc(x.size(), 1.f);
    ops::linear_backward_input(dy.data(), rows, w, acc.data(), true);
    for (std::size_t i = 0; i < acc.size(); ++i) EXPECT_NEAR(acc[i], dx[i] + 1.f, 1e-5);
}

TEST(OpsGrad, CrossEntropyWithMask) {
    const std::int64_t rows = 4, V = 9;
    auto logits = randn(rows * V, 12, 2.f);
    const std::vector<std::int32_t> tg = {3, 0, 8, 5};
    const std::vector<float> wt = {1.f, 0.f, 1.f, 0.5f};
    std::vector<float> g(logits.size());
    const double loss = ops::cross_entropy(logits.data(), rows, V, tg.data(), wt.data(), g.data(), 0.7f);
    auto f = [&](const std::vector<double>& x) {
        double s = 0;
        for (std::int64_t r = 0; r < rows; ++r) {
            double z = 0;
            for (std::int64_t i = 0; i < V; ++i) z += std::exp(x[r * V + i]);
            s += wt[r] * (std::log(z) - x[r * V + tg[r]]);
        }
        return s;
    };
    EXPECT_NEAR(loss, f(to_d(logits)), 1e-5);
    expect_fd(to_d(logits), g, [&](const std::vector<double>& v) { return 0.7 * f(v); }, "cross_entropy dlogits");
    for (std::int64_t i = 0; i < V; ++i) EXPECT_EQ(g[V + i], 0.f);  // masked row
}

namespace {

// Attention forward in double over [queries] with ranges; k, v as [kv_heads][S][hd].
std::vector<double> ref_attention(const ops::AttentionDims& d, const std::vector<double>& q, std::int64_t Q,
                                  const std::vector<double>& k, const std::vector<double>& v, std::int64_t S,
                                  const std::vector<std::int32_t>& b, const std::vector<std::int32_t>& e) {
    const std::int64_t hd = d.head_dim, QD = d.heads * hd, g = d.heads / d.kv_heads;
    std::vector<double> out(std::size_t(Q * QD), 0.0);
    for (std::int64_t i = 0; i < Q; ++i)
        for (std::int64_t h = 0; h < d.heads; ++h) {
            const std::int64_t kh = h / g;
            std::vector<double> s;
            double mx = -1e300;
            for (std::int64_t j = b[i]; j < e[i]; ++j) {
                double dd = 0;
                for (std::int64_t c = 0; c < hd; ++c) dd += q[i * QD + h * hd + c] * k[(kh * S + j) * hd + c];
                s.push_back(dd / std::sqrt(double(hd)));
                mx = std::max(mx, s.back());
            }
            double z = 0;
            for (auto& x : s) z += (x = std::exp(x - mx));
            for (std::int64_t j = b[i]; j < e[i]; ++j)
                for (std::int64_t c = 0; c < hd; ++c)
                    out[i * QD + h * hd + c] += s[j - b[i]] / z * v[(kh * S + j) * hd + c];
        }
    return out;
}

void check_attention(std::int64_t H, std::int64_t Hkv, std::int64_t S, bool blocks, std::size_t stride = 1) {
    const ops::AttentionDims d{H, Hkv, 4};
    const std::int64_t hd = 4, QD = H * hd;
    auto q = randn(S * QD, 20), k = randn(Hkv * S * hd, 21), v = randn(Hkv * S * hd, 22), dy = randn(S * QD, 23);
    // Two segments; with `blocks`, a bidirectional block inside the second one.
    std::vector<std::int32_t> seg(S), blk(S, 0), b(S), e(S);
    for (std::int64_t t = 0; t < S; ++t) {
        seg[t] = t < S / 3 ? 1 : 2;
        if (blocks && t >= S / 2 && t < S - 1) blk[t] = 1;
    }
    // Same rule as train::attention_ranges, spelled out.
    for (std::int64_t t = 0; t < S; ++t) {
        b[t] = t < S / 3 ? 0 : std::int32_t(S / 3);
        e[t] = std::int32_t(blk[t] ? S - 1 : t + 1);
    }
    std::vector<float> out(S * QD), probs(H * S * S), dq(S * QD), dk(k.size(), 0.f), dv(v.size(), 0.f);
    ops::attention(d, q.data(), S, QD, k.data(), v.data(), S, b.data(), e.data(), out.data(), QD, probs.data());
    std::vector<float> plain(S * QD);
    ops::attention(d, q.data(), S, QD, k.data(), v.data(), S, b.data(), e.data(), plain.data(), QD);
    EXPECT_EQ(out, plain);  // the probs output does not change the result
    ops::attention_backward(d, q.data(), S, QD, k.data(), v.data(), S, probs.data(), dy.data(), QD, dq.data(),
                            dk.data(), dv.data());
    const auto qd = to_d(q), kd = to_d(k), vd = to_d(v);
    const std::string tag = "attention H" + std::to_string(H) + "/" + std::to_string(Hkv) + " S" + std::to_string(S) +
                            (blocks ? " block" : "");
    expect_fd(qd, dq, [&](const std::vector<double>& x) { return dotd(ref_attention(d, x, S, kd, vd, S, b, e), dy); },
              (tag + " dq").c_str(), 1e-3, stride);
    expect_fd(kd, dk, [&](const std::vector<double>& x) { return dotd(ref_attention(d, qd, S, x, vd, S, b, e), dy); },
              (tag + " dk").c_str(), 1e-3, stride);
    expect_fd(vd, dv, [&](const std::vector<double>& x) { return dotd(ref_attention(d, qd, S, kd, x, S, b, e), dy); },
              (tag + " dv").c_str(), 1e-3, stride);
}

}  // namespace

TEST(OpsGrad, AttentionCausalSegmentsPerQueryPath) { check_attention(4, 2, 9, false); }
TEST(OpsGrad, AttentionBlockPerQueryPath) { check_attention(2, 1, 9, true); }
TEST(OpsGrad, AttentionBlockBlasPath) { check_attention(4, 2, 18, true); }
TEST(OpsGrad, AttentionCausalBlasPathMha) { check_attention(2, 2, 17, false); }
// Long enough for several query chunks in the backward pass (every 13th entry checked).
TEST(OpsGrad, AttentionManyChunks) { check_attention(2, 1, 150, true, 13); }
