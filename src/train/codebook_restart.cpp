// Dead-code restarts of a VQ codebook (see the header for why by error).
#include "emu/train/codebook_restart.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "emu/core/error.h"
#include "emu/core/rng.h"

namespace emu::train {
namespace {

double squared_distance(const float* a, const float* b, int D) {
    double s = 0;
    for (int d = 0; d < D; ++d) s += (double(a[d]) - b[d]) * (double(a[d]) - b[d]);
    return s;
}

}  // namespace

int restart_dead_codes(std::span<float> codebook, int D, const std::vector<std::int64_t>& usage,
                       const std::vector<float>& batch_z, bool by_error, std::uint64_t seed) {
    check(D > 0 && codebook.size() == usage.size() * std::size_t(D),
          "restart_dead_codes: codebook and usage disagree");
    float* E = codebook.data();
    const std::size_t positions = batch_z.size() / std::size_t(D);
    if (positions == 0) return 0;
    std::vector<double> error;  // squared distance of each output from its nearest live code
    if (by_error) {
        error.assign(positions, std::numeric_limits<double>::infinity());
        for (std::size_t c = 0; c < usage.size(); ++c) {
            if (usage[c] == 0) continue;
            for (std::size_t p = 0; p < positions; ++p)
                error[p] = std::min(error[p], squared_distance(batch_z.data() + p * D, E + c * D, D));
        }
    }
    Rng rng(seed);
    int moved = 0;
    for (std::size_t i = 0; i < usage.size(); ++i) {
        if (usage[i] > 0) continue;
        std::size_t pick = rng.below(positions);
        if (by_error) {
            double total = 0;
            for (double e : error) total += std::isfinite(e) ? e : 0.0;
            if (total > 0) {
                double r = rng.uniform() * total;
                for (pick = 0; pick + 1 < positions; ++pick) {
                    r -= std::isfinite(error[pick]) ? error[pick] : 0.0;
                    if (r < 0) break;
                }
            }
        }
        const float* z = batch_z.data() + pick * D;
        for (int d = 0; d < D; ++d) E[i * D + d] = z[d] + 0.01f * float(rng.uniform() - 0.5);
        if (by_error)
            for (std::size_t p = 0; p < positions; ++p)
                error[p] = std::min(error[p], squared_distance(batch_z.data() + p * D, E + i * D, D));
        ++moved;
    }
    return moved;
}

int retire_duplicate_codes(std::span<const float> codebook, int D, std::vector<std::int64_t>& usage, double distance) {
    check(D > 0 && codebook.size() == usage.size() * std::size_t(D),
          "retire_duplicate_codes: codebook and usage disagree");
    if (distance <= 0) return 0;
    const float* E = codebook.data();
    const double limit = distance * distance;
    std::vector<std::size_t> order(usage.size());
    std::iota(order.begin(), order.end(), std::size_t(0));
    // Least used first; among equals the later code goes, so the result does not depend on sort stability.
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        return usage[a] != usage[b] ? usage[a] < usage[b] : a > b;
    });
    int retired = 0;
    for (std::size_t i : order) {
        if (usage[i] == 0) continue;
        for (std::size_t j = 0; j < usage.size(); ++j) {
            if (j == i || usage[j] < usage[i]) continue;  // zero-usage codes are skipped here too
            if (squared_distance(E + i * D, E + j * D, D) < limit) {
                usage[i] = 0;
                ++retired;
                break;
            }
        }
    }
    return retired;
}

}  // namespace emu::train
