// Sampling pieces against their definitions: top-k keeps ties, top-p keeps the first
// entry that crosses p, draws follow the softmax, and guidance is the log-softmax formula.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "emu/core/error.h"
#include "emu/gen/guidance.h"
#include "emu/gen/sampling.h"
#include "emu/gen/tasks.h"

using namespace emu;
using namespace emu::gen;

namespace {
const float kNegInf = -std::numeric_limits<float>::infinity();
int live(const std::vector<float>& s) {
    int n = 0;
    for (float v : s) n += v != kNegInf;
    return n;
}
}  // namespace

TEST(Sampling, TopKKeepsTiesAtTheThreshold) {
    std::vector<float> s = {1, 5, 3, 3, 0, 3};
    warp_scores(s, {1.0f, 2, 1.0f, false});
    EXPECT_EQ(s, (std::vector<float>{kNegInf, 5, 3, 3, kNegInf, 3}));
}

TEST(Sampling, TopPKeepsTheFirstEntryCrossingP) {
    // probabilities 0.5, 0.3, 0.2 (logs): p = 0.6 keeps the first two, p = 0.5 keeps one... plus the crosser
    std::vector<float> base = {std::log(0.2f), std::log(0.5f), std::log(0.3f)};
    std::vector<float> s = base;
    warp_scores(s, {1.0f, 0, 0.6f, false});
    EXPECT_EQ(live(s), 2);
    EXPECT_EQ(s[0], kNegInf);
    s = base;
    warp_scores(s, {1.0f, 0, 0.4f, false});
    EXPECT_EQ(live(s), 1);
    EXPECT_NE(s[1], kNegInf);
    s = base;
    warp_scores(s, {1.0f, 0, 0.95f, false});
    EXPECT_EQ(live(s), 3);
}

TEST(Sampling, TemperatureScales) {
    std::vector<float> s = {1, 2};
    warp_scores(s, {0.5f, 0, 1.0f, false});
    EXPECT_EQ(s, (std::vector<float>{2, 4}));
    EXPECT_THROW(warp_scores(s, {0.0f, 0, 1.0f, false}), Error);
}

TEST(Sampling, DrawsFollowTheSoftmax) {
    std::vector<float> s = {std::log(0.1f), std::log(0.6f), kNegInf, std::log(0.3f)};
    SamplerRng rng(9);
    std::vector<int> counts(4, 0);
    const int n = 60000;
    for (int i = 0; i < n; ++i) ++counts[std::size_t(draw_token(s, false, rng))];
    EXPECT_EQ(counts[2], 0);
    EXPECT_NEAR(counts[0] / double(n), 0.1, 0.01);
    EXPECT_NEAR(counts[1] / double(n), 0.6, 0.01);
    EXPECT_NEAR(counts[3] / double(n), 0.3, 0.01);
    EXPECT_EQ(draw_token(s, true, rng), 1);
    std::vector<float> dead = {kNegInf, kNegInf};
    EXPECT_THROW(draw_token(dead, false, rng), Error);
}

TEST(Guidance, EqualsTheLogSoftmaxFormula) {
    std::vector<float> c = {1.0f, -2.0f, 0.5f, 3.0f}, u = {0.0f, 1.0f, -1.0f, 2.0f};
    std::vector<float> guided = c;
    apply_cfg(guided, u, 2.5f);
    auto lse = [](const std::vector<float>& v) {
        double t = 0;
        for (float x : v) t += std::exp(double(x));
        return std::log(t);
    };
    double lc = lse(c), lu = lse(u);
    for (std::size_t i = 0; i < c.size(); ++i) {
        double expect = 2.5 * ((c[i] - lc) - (u[i] - lu)) + (u[i] - lu);
        EXPECT_NEAR(guided[i], expect, 1e-5);
    }
    std::vector<float> wrong(3);
    EXPECT_THROW(apply_cfg(guided, wrong, 1.0f), Error);
}

TEST(Tasks, PresetsAndSmartResize) {
    EXPECT_EQ(aspect_preset("4:3", 1048576)->h, 55);
    EXPECT_EQ(aspect_preset("4:3", 1048576)->w, 73);
    EXPECT_EQ(aspect_preset("21:9", 1048576)->w, 97);
    EXPECT_FALSE(aspect_preset("auto", 1048576).has_value());
    EXPECT_EQ(aspect_preset("1:1", 4096)->h, 4);
    EXPECT_EQ(aspect_preset("1:1", 4096)->w, 4);
    EXPECT_THROW(aspect_preset("5:4", 4096), Error);
    EXPECT_THROW(task_defaults("paint"), Error);
    EXPECT_EQ(task_defaults("t2i").cfg_scale, 5.0f);
    EXPECT_EQ(task_defaults("howto").text.top_k, 200);
}
