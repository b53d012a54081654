#include "emu/train/param.h"

#include <cmath>
#include <algorithm>
#include <set>

#include "emu/core/error.h"

namespace emu::train {

Param param_of(std::string name, Tensor& value, Tensor& grad, bool decay) {
    check(value.dtype() == DType::F32 && grad.dtype() == DType::F32, "parameter ", name, ": value and gradient must be F32");
    check(value.shape() == grad.shape(), "parameter ", name, ": value shape ", shape_str(value.shape()),
          " differs from gradient shape ", shape_str(grad.shape()));
    check(value.is_contiguous() && grad.is_contiguous(), "parameter ", name, ": tensors must be contiguous");
    Param p;
    p.name = std::move(name);
    p.value = value.data_mut<float>();
    p.grad = grad.data_mut<float>();
    p.size = static_cast<std::size_t>(value.numel());
    p.decay = decay;
    p.shape = value.shape();
    return p;
}

Param param_of(std::string name, float* value, float* grad, std::size_t size, bool decay, Shape shape) {
    Param p;
    p.name = std::move(name);
    p.value = value;
    p.grad = grad;
    p.size = size;
    p.decay = decay;
    p.shape = shape.empty() ? Shape{std::int64_t(size)} : std::move(shape);
    return p;
}

bool default_decay(const std::string& name, const Shape& shape) {
    if (shape.size() <= 1) return false;
    if (name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0) return false;
    return name.find("norm") == std::string::npos;
}

void validate_params(std::span<const Param> params) {
    std::set<std::string> names;
    for (const Param& p : params) {
        check(!p.name.empty(), "a parameter has an empty name");
        check(p.value && p.grad, "parameter ", p.name, " has no value or gradient buffer");
        check(p.size > 0, "parameter ", p.name, " is empty");
        check(p.shape.empty() || shape_numel(p.shape) == p.size, "parameter ", p.name, ": shape ",
              shape_str(p.shape), " does not hold ", p.size, " values");
        check(names.insert(p.name).second, "parameter name ", p.name, " is used twice");
    }
    // Shared memory (a tied weight listed twice) would be updated twice per step.
    std::vector<std::pair<const float*, const Param*>> starts;
    for (const Param& p : params) starts.emplace_back(p.value, &p);
    std::sort(starts.begin(), starts.end());
    for (std::size_t i = 1; i < starts.size(); ++i) {
        const Param& prev = *starts[i - 1].second;
        check(starts[i].first >= prev.value + prev.size, "parameters ", prev.name, " and ", starts[i].second->name,
              " share memory (list a tied weight once)");
    }
}

void zero_grads(std::span<const Param> params) {
    for (const Param& p : params) std::fill(p.grad, p.grad + p.size, 0.0f);
}

void scale_grads(std::span<const Param> params, float factor) {
    for (const Param& p : params)
        for (std::size_t i = 0; i < p.size; ++i) p.grad[i] *= factor;
}

double grad_global_norm(std::span<const Param> params) {
    double total = 0.0;
    for (const Param& p : params) {
        double s = 0.0;
        for (std::size_t i = 0; i < p.size; ++i) s += double(p.grad[i]) * double(p.grad[i]);
        total += s;
    }
    return std::sqrt(total);
}

double clip_grad_norm(std::span<const Param> params, double max_norm) {
    const double norm = grad_global_norm(params);
    if (max_norm > 0.0 && std::isfinite(norm) && norm > max_norm)
        scale_grads(params, static_cast<float>(max_norm / (norm + 1e-6)));
    return norm;
}

GradAccumulation::GradAccumulation(int micro_steps) : micro_steps_(micro_steps) {
    check(micro_steps >= 1, "gradient accumulation needs at least 1 micro-step, got ", micro_steps);
}

void GradAccumulation::begin_micro(std::span<const Param> params) {
    if (done_ == 0) zero_grads(params);
}

bool GradAccumulation::end_micro(std::span<const Param> params) {
    if (++done_ < micro_steps_) return false;
    if (micro_steps_ > 1) scale_grads(params, 1.0f / float(micro_steps_));
    done_ = 0;
    return true;
}

}  // namespace emu::train
