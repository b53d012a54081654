// AdamW, clipping, schedule and gradient accumulation against independent double-precision
// implementations written here from the published formulas.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <vector>

#include "emu/core/error.h"
#include "emu/core/rng.h"
#include "emu/train/optimizer.h"
#include "emu/train/param.h"
#include "emu/train/schedule.h"

using namespace emu;
using namespace emu::train;

namespace {

struct Buffers {
    std::vector<float> value, grad;
};

std::vector<float> random_values(std::size_t n, Rng& rng, double scale) {
    std::vector<float> v(n);
    for (auto& x : v) x = float((rng.uniform() * 2 - 1) * scale);
    return v;
}

// Reference AdamW (Loshchilov & Hutter, decoupled decay, torch defaults) in double.
struct RefAdamW {
    double beta1, beta2, eps, wd;
    std::vector<double> p, m, v;
    bool decay;
    int t = 0;
    void step(const std::vector<double>& g, double lr) {
        ++t;
        for (std::size_t i = 0; i < p.size(); ++i) {
            if (decay) p[i] -= lr * wd * p[i];
            m[i] = beta1 * m[i] + (1 - beta1) * g[i];
            v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
            const double mh = m[i] / (1 - std::pow(beta1, t));
            const double vh = v[i] / (1 - std::pow(beta2, t));
            p[i] -= lr * mh / (std::sqrt(vh) + eps);
        }
    }
};

}  // namespace

TEST(AdamW, FirstStepByHand) {
    // After one step with m = (1-b1) g, v = (1-b2) g^2 the bias-corrected update is
    // lr * g / (|g| + eps) = lr * sign(g) (up to eps); decay multiplies by (1 - lr*wd) first.
    std::vector<float> value = {1.0f, -2.0f, 0.5f}, grad = {0.3f, -4.0f, 0.0f};
    Param p{"w", value.data(), grad.data(), 3, true, {3}};
    AdamWConfig cfg;
    cfg.weight_decay = 0.1;
    AdamW opt({p}, cfg);
    opt.step(0.01);
    EXPECT_NEAR(value[0], 1.0 * (1 - 0.001) - 0.01 * 0.3 / (0.3 + 1e-8), 1e-6);
    EXPECT_NEAR(value[1], -2.0 * (1 - 0.001) + 0.01 * 4.0 / (4.0 + 1e-8), 1e-6);
    EXPECT_NEAR(value[2], 0.5 * (1 - 0.001), 1e-7);  // zero gradient: decay only
    EXPECT_EQ(opt.steps(), 1);
}

TEST(AdamW, MatchesDoubleReferenceOverManySteps) {
    Rng rng(7);
    const std::size_t n1 = 37, n2 = 5;
    std::vector<float> v1 = random_values(n1, rng, 1.0), g1(n1), v2 = random_values(n2, rng, 1.0), g2(n2);
    AdamWConfig cfg;
    cfg.beta1 = 0.85;
    cfg.beta2 = 0.98;
    cfg.eps = 1e-6;
    cfg.weight_decay = 0.05;
    AdamW opt({param_of("a", v1.data(), g1.data(), n1, true, {n1}), param_of("b", v2.data(), g2.data(), n2, false, {n2})}, cfg);
    RefAdamW r1{cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay, {v1.begin(), v1.end()}, std::vector<double>(n1),
                std::vector<double>(n1), true};
    RefAdamW r2{cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay, {v2.begin(), v2.end()}, std::vector<double>(n2),
                std::vector<double>(n2), false};
    for (int s = 0; s < 50; ++s) {
        // Gradients of a quadratic plus noise, computed from the float parameters for both.
        for (std::size_t i = 0; i < n1; ++i) g1[i] = float(2.0 * v1[i] + 0.1 * (rng.uniform() - 0.5));
        for (std::size_t i = 0; i < n2; ++i) g2[i] = float(-v2[i] + 0.3);
        const double lr = 0.01 * (1 + 0.5 * std::sin(s));
        r1.step(std::vector<double>(g1.begin(), g1.end()), lr);
        r2.step(std::vector<double>(g2.begin(), g2.end()), lr);
        opt.step(lr);
        // Keep the reference on the float trajectory so errors do not compound.
        for (std::size_t i = 0; i < n1; ++i) {
            ASSERT_NEAR(v1[i], r1.p[i], 2e-6 * (1 + std::fabs(r1.p[i]))) << "step " << s << " a[" << i << "]";
            r1.p[i] = v1[i];
        }
        for (std::size_t i = 0; i < n2; ++i) {
            ASSERT_NEAR(v2[i], r2.p[i], 2e-6 * (1 + std::fabs(r2.p[i]))) << "step " << s << " b[" << i << "]";
            r2.p[i] = v2[i];
        }
        for (std::size_t i = 0; i < n1; ++i) {
            EXPECT_NEAR(opt.exp_avg(0)[i], r1.m[i], 1e-5 * (1 + std::fabs(r1.m[i])));
            EXPECT_NEAR(opt.exp_avg_sq(0)[i], r1.v[i], 1e-5 * (1 + std::fabs(r1.v[i])));
        }
    }
}

TEST(AdamW, NoDecayGroupIsUntouchedByDecay) {
    std::vector<float> a = {1.0f}, b = {1.0f}, ga = {0.0f}, gb = {0.0f};
    AdamWConfig cfg;
    cfg.weight_decay = 0.5;
    AdamW opt({param_of("decayed", a.data(), ga.data(), 1, true, {}), param_of("kept", b.data(), gb.data(), 1, false, {})}, cfg);
    opt.step(0.1);
    EXPECT_FLOAT_EQ(a[0], 0.95f);
    EXPECT_FLOAT_EQ(b[0], 1.0f);
}

TEST(AdamW, RejectsBadParamsAndConfig) {
    std::vector<float> a = {1.0f}, g = {0.0f};
    EXPECT_THROW(AdamW({param_of("x", a.data(), g.data(), 1), param_of("x", a.data(), g.data(), 1)}, {}), Error);
    EXPECT_THROW(AdamW({param_of("x", a.data(), nullptr, 1)}, {}), Error);
    std::vector<float> big(4), gbig(4);
    EXPECT_THROW(AdamW({param_of("whole", big.data(), gbig.data(), 4), param_of("tied", big.data() + 2, gbig.data(), 2)}, {}),
                 Error);
    AdamWConfig bad;
    bad.beta1 = 1.0;
    EXPECT_THROW(AdamW({param_of("x", a.data(), g.data(), 1)}, bad), Error);
    AdamW ok({param_of("x", a.data(), g.data(), 1)}, {});
    EXPECT_THROW(ok.step(std::nan("")), Error);
}

TEST(Clip, GlobalNormAndScaling) {
    std::vector<float> v1(3), v2(2), g1 = {3.0f, 0.0f, 4.0f}, g2 = {12.0f, 0.0f};
    std::vector<Param> ps = {param_of("a", v1.data(), g1.data(), 3), param_of("b", v2.data(), g2.data(), 2)};
    EXPECT_DOUBLE_EQ(grad_global_norm(ps), 13.0);
    // Below the threshold: untouched.
    EXPECT_DOUBLE_EQ(clip_grad_norm(ps, 20.0), 13.0);
    EXPECT_EQ(g1[0], 3.0f);
    // Above: scaled by max / (norm + 1e-6) as torch does.
    EXPECT_DOUBLE_EQ(clip_grad_norm(ps, 1.3), 13.0);
    const double f = 1.3 / (13.0 + 1e-6);
    EXPECT_NEAR(g1[0], 3.0 * f, 1e-7);
    EXPECT_NEAR(g1[2], 4.0 * f, 1e-7);
    EXPECT_NEAR(g2[0], 12.0 * f, 1e-7);
    EXPECT_NEAR(grad_global_norm(ps), 1.3, 1e-6);
    // Disabled: norm reported, nothing changes.
    const float before = g2[0];
    clip_grad_norm(ps, 0.0);
    EXPECT_EQ(g2[0], before);
}

TEST(Schedule, WarmupThenCosine) {
    LrSchedule s{1e-3, 1e-4, 10, 110};
    EXPECT_DOUBLE_EQ(s.lr(0), 1e-4);   // (0+1)/10 of peak
    EXPECT_DOUBLE_EQ(s.lr(4), 5e-4);
    EXPECT_DOUBLE_EQ(s.lr(9), 1e-3);
    EXPECT_DOUBLE_EQ(s.lr(10), 1e-3);  // cosine starts at the peak
    for (int k : {10, 23, 60, 97, 109}) {
        const double p = double(k - 10) / 100.0;
        EXPECT_NEAR(s.lr(k), 1e-4 + 0.9e-3 * 0.5 * (1 + std::cos(std::numbers::pi * p)), 1e-15) << k;
    }
    EXPECT_NEAR(s.lr(60), 1e-4 + 0.9e-3 * 0.5, 1e-15);  // half way: the mean of peak and min
    EXPECT_DOUBLE_EQ(s.lr(110), 1e-4);
    EXPECT_DOUBLE_EQ(s.lr(1000), 1e-4);  // clamped after the end
    for (int k = 11; k < 110; ++k) EXPECT_LE(s.lr(k), s.lr(k - 1));
    LrSchedule no_warmup{2.0, 0.0, 0, 4};
    EXPECT_DOUBLE_EQ(no_warmup.lr(0), 2.0);
    EXPECT_NEAR(no_warmup.lr(2), 1.0, 1e-15);
    EXPECT_THROW(lr_schedule_from_json({{"lr", 1e-3}, {"min_lr", 1e-2}}), Error);
    LrSchedule from = lr_schedule_from_json({{"lr", 0.5}, {"warmup_steps", 3}, {"steps", 9}});
    EXPECT_EQ(from.total_steps, 9);
    EXPECT_DOUBLE_EQ(from.lr(0), 0.5 / 3);
}

TEST(GradAccumulation, MeanOfMicroBatchesEqualsFullBatch) {
    // Gradient of 0.5 * sum_j (w - x_j)^2 / N over 4 samples: full batch vs 2 micro-batches
    // of 2 (each backward adds its own mean-of-2 gradient).
    const std::vector<double> xs = {0.5, -1.0, 2.0, 3.5};
    std::vector<float> w = {0.25f}, g = {123.0f};
    std::vector<Param> ps = {param_of("w", w.data(), g.data(), 1)};
    GradAccumulation acc(2);
    bool stepped = false;
    for (int micro = 0; micro < 2; ++micro) {
        acc.begin_micro(ps);
        for (int j = 0; j < 2; ++j) g[0] += float((w[0] - xs[std::size_t(micro * 2 + j)]) / 2.0);
        stepped = acc.end_micro(ps);
        EXPECT_EQ(stepped, micro == 1);
    }
    double full = 0;
    for (double x : xs) full += (w[0] - x) / 4.0;
    EXPECT_NEAR(g[0], full, 1e-6);
    EXPECT_EQ(acc.pending(), 0);
    EXPECT_THROW(GradAccumulation(0), Error);
}

TEST(Params, DefaultDecayRule) {
    EXPECT_TRUE(default_decay("model.layers.0.mlp.up_proj.weight", {8, 4}));
    EXPECT_FALSE(default_decay("model.layers.0.input_layernorm.weight", {4}));
    EXPECT_FALSE(default_decay("encoder.conv_in.bias", {4}));
    EXPECT_FALSE(default_decay("encoder.norm_out.weight", {4, 4}));
}
