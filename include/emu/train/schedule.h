// Learning-rate schedule: linear warm-up, then cosine decay to min_lr.
#pragma once
#include <cstdint>

#include <nlohmann/json.hpp>

namespace emu::train {

struct LrSchedule {
    double peak_lr = 1e-3;
    double min_lr = 0.0;
    std::int64_t warmup_steps = 0;
    std::int64_t total_steps = 1;

    // Learning rate of optimizer step `step` (0-based):
    //   step < warmup:  peak * (step + 1) / warmup
    //   otherwise:      min + (peak - min) * (1 + cos(pi * p)) / 2,
    //                   p = (step - warmup) / max(1, total - warmup), clamped to [0, 1]
    double lr(std::int64_t step) const;
    void validate() const;  // throws Error naming the bad value
};
nlohmann::json to_json(const LrSchedule& s);
// Keys: lr (peak), min_lr, warmup_steps, steps (total); missing keys keep defaults.
LrSchedule lr_schedule_from_json(const nlohmann::json& j);

}  // namespace emu::train
