#include "emu/gen/guidance.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "emu/core/error.h"

namespace emu::gen {

void log_softmax_inplace(std::span<float> logits) {
    if (logits.empty()) return;
    const float top = *std::max_element(logits.begin(), logits.end());
    double total = 0;
    for (float v : logits) total += std::exp(double(v - top));
    const float log_total = float(std::log(total)) + top;
    for (float& v : logits) v -= log_total;
}

void apply_cfg(std::span<float> cond, std::span<const float> uncond, float scale) {
    check(cond.size() == uncond.size(), "guidance: conditional and unconditional logits differ in size (",
          cond.size(), " vs ", uncond.size(), ")");
    std::vector<float> lu(uncond.begin(), uncond.end());
    log_softmax_inplace(cond);
    log_softmax_inplace(lu);
    for (std::size_t i = 0; i < cond.size(); ++i) cond[i] = scale * (cond[i] - lu[i]) + lu[i];
}

}  // namespace emu::gen
