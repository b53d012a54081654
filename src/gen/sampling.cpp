#include "emu/gen/sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "emu/core/error.h"

namespace emu::gen {

namespace {
constexpr float kNegInf = -std::numeric_limits<float>::infinity();
}

void warp_scores(std::span<float> scores, const SamplingParams& params) {
    const std::size_t n = scores.size();
    if (params.temperature != 1.0f) {
        check(params.temperature > 0.0f, "temperature must be positive, got ", params.temperature);
        for (float& s : scores) s /= params.temperature;
    }
    if (params.top_k > 0 && std::size_t(params.top_k) < n) {
        std::vector<float> copy(scores.begin(), scores.end());
        std::nth_element(copy.begin(), copy.begin() + (params.top_k - 1), copy.end(), std::greater<float>());
        const float threshold = copy[params.top_k - 1];
        for (float& s : scores)
            if (s < threshold) s = kNegInf;
    }
    if (params.top_p < 1.0f) {
        check(params.top_p > 0.0f, "top_p must be in (0, 1], got ", params.top_p);
        std::vector<std::int32_t> order;
        for (std::size_t i = 0; i < n; ++i)
            if (scores[i] != kNegInf) order.push_back(std::int32_t(i));
        if (order.empty()) return;
        // Descending by score; equal scores by id, so the cut is deterministic.
        std::sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) {
            return scores[a] != scores[b] ? scores[a] > scores[b] : a < b;
        });
        const float top = scores[order[0]];
        double total = 0;
        for (std::int32_t i : order) total += std::exp(double(scores[i]) - top);
        // Keep entries up to and including the first whose cumulative mass crosses top_p.
        double cumulative = 0;
        std::size_t keep = order.size();
        for (std::size_t r = 0; r < order.size(); ++r) {
            cumulative += std::exp(double(scores[order[r]]) - top) / total;
            if (cumulative > params.top_p) {
                keep = r + 1;
                break;
            }
        }
        for (std::size_t r = keep; r < order.size(); ++r) scores[order[r]] = kNegInf;
    }
}

std::int32_t draw_token(std::span<const float> scores, bool greedy, SamplerRng& rng) {
    check(!scores.empty(), "cannot sample from an empty vocabulary");
    std::size_t best = std::max_element(scores.begin(), scores.end()) - scores.begin();
    check(scores[best] != kNegInf, "every token is masked; nothing can be sampled");
    if (greedy) return std::int32_t(best);
    const double top = scores[best];
    double total = 0;
    for (float s : scores) total += s == kNegInf ? 0.0 : std::exp(double(s) - top);
    double target = rng.uniform() * total, cumulative = 0;
    std::size_t last_live = best;
    for (std::size_t i = 0; i < scores.size(); ++i) {
        if (scores[i] == kNegInf) continue;
        cumulative += std::exp(double(scores[i]) - top);
        last_live = i;
        if (cumulative > target) return std::int32_t(i);
    }
    return std::int32_t(last_live);  // rounding left target at the very end
}

std::int32_t sample_token(std::span<float> scores, const SamplingParams& params, SamplerRng& rng) {
    warp_scores(scores, params);
    return draw_token(scores, params.greedy, rng);
}

}  // namespace emu::gen
