#include "emu/train/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "emu/core/error.h"

namespace emu::train {

double LrSchedule::lr(std::int64_t step) const {
    if (step < warmup_steps) return peak_lr * double(step + 1) / double(warmup_steps);
    const double span = double(std::max<std::int64_t>(1, total_steps - warmup_steps));
    const double p = std::clamp(double(step - warmup_steps) / span, 0.0, 1.0);
    return min_lr + (peak_lr - min_lr) * 0.5 * (1.0 + std::cos(std::numbers::pi * p));
}

void LrSchedule::validate() const {
    check(std::isfinite(peak_lr) && peak_lr >= 0, "lr must be finite and >= 0, got ", peak_lr);
    check(std::isfinite(min_lr) && min_lr >= 0 && min_lr <= peak_lr, "min_lr must be in [0, lr], got ", min_lr);
    check(warmup_steps >= 0, "warmup_steps must be >= 0, got ", warmup_steps);
    check(total_steps >= 1, "steps must be >= 1, got ", total_steps);
}

nlohmann::json to_json(const LrSchedule& s) {
    return {{"lr", s.peak_lr}, {"min_lr", s.min_lr}, {"warmup_steps", s.warmup_steps}, {"steps", s.total_steps}};
}

LrSchedule lr_schedule_from_json(const nlohmann::json& j) {
    LrSchedule s;
    check(j.is_object(), "schedule config must be a mapping");
    try {
        s.peak_lr = j.value("lr", s.peak_lr);
        s.min_lr = j.value("min_lr", s.min_lr);
        s.warmup_steps = j.value("warmup_steps", s.warmup_steps);
        s.total_steps = j.value("steps", s.total_steps);
    } catch (const nlohmann::json::exception& e) {
        fail("schedule config: ", e.what());
    }
    s.validate();
    return s;
}

}  // namespace emu::train
