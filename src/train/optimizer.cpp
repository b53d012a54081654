#include "emu/train/optimizer.h"

#include <cmath>
#include <cstring>

#include "emu/core/error.h"

namespace emu::train {

void AdamWConfig::validate() const {
    check(std::isfinite(lr) && lr >= 0, "AdamW lr must be a finite value >= 0, got ", lr);
    check(beta1 >= 0 && beta1 < 1, "AdamW beta1 must be in [0, 1), got ", beta1);
    check(beta2 >= 0 && beta2 < 1, "AdamW beta2 must be in [0, 1), got ", beta2);
    check(eps > 0 && std::isfinite(eps), "AdamW eps must be > 0, got ", eps);
    check(weight_decay >= 0 && std::isfinite(weight_decay), "AdamW weight_decay must be >= 0, got ", weight_decay);
}

nlohmann::json to_json(const AdamWConfig& c) {
    return {{"lr", c.lr}, {"beta1", c.beta1}, {"beta2", c.beta2}, {"eps", c.eps}, {"weight_decay", c.weight_decay}};
}

AdamWConfig adamw_config_from_json(const nlohmann::json& j) {
    AdamWConfig c;
    check(j.is_object(), "optimizer config must be a mapping");
    try {
        c.lr = j.value("lr", c.lr);
        c.beta1 = j.value("beta1", c.beta1);
        c.beta2 = j.value("beta2", c.beta2);
        c.eps = j.value("eps", c.eps);
        c.weight_decay = j.value("weight_decay", c.weight_decay);
    } catch (const nlohmann::json::exception& e) {
        fail("optimizer config: ", e.what());
    }
    c.validate();
    return c;
}

AdamW::AdamW(std::vector<Param> params, AdamWConfig config) : params_(std::move(params)), config_(config) {
    validate_params(params_);
    config_.validate();
    m_.resize(params_.size());
    v_.resize(params_.size());
    for (std::size_t i = 0; i < params_.size(); ++i) {
        m_[i].assign(params_[i].size, 0.0f);
        v_[i].assign(params_[i].size, 0.0f);
    }
}

void AdamW::set_steps(std::int64_t t) {
    check(t >= 0, "optimizer step count must be >= 0, got ", t);
    t_ = t;
}

void AdamW::step(double lr) {
    check(std::isfinite(lr) && lr >= 0, "learning rate must be finite and >= 0, got ", lr);
    ++t_;
    // Bias corrections in double, then the per-element arithmetic in float as torch does
    // for float32 parameters (step_size and the denominator's scale are host scalars).
    const double bc1 = 1.0 - std::pow(config_.beta1, double(t_));
    const double bc2 = 1.0 - std::pow(config_.beta2, double(t_));
    const float step_size = float(lr / bc1);
    const float sqrt_bc2 = float(std::sqrt(bc2));
    const float b1 = float(config_.beta1), b2 = float(config_.beta2);
    const float one_b1 = float(1.0 - config_.beta1), one_b2 = float(1.0 - config_.beta2);
    const float eps = float(config_.eps);
    const float decay = float(1.0 - lr * config_.weight_decay);
    for (std::size_t k = 0; k < params_.size(); ++k) {
        const Param& p = params_[k];
        float* m = m_[k].data();
        float* v = v_[k].data();
        const bool wd = p.decay && config_.weight_decay != 0.0;
        #pragma omp parallel for schedule(static) if (p.size >= (1u << 16))
        for (std::size_t i = 0; i < p.size; ++i) {
            const float g = p.grad[i];
            float x = p.value[i];
            if (wd) x *= decay;
            m[i] = b1 * m[i] + one_b1 * g;
            v[i] = b2 * v[i] + one_b2 * g * g;
            const float denom = std::sqrt(v[i]) / sqrt_bc2 + eps;
            p.value[i] = x - step_size * (m[i] / denom);
        }
    }
}

std::vector<std::pair<std::string, Tensor>> AdamW::state_tensors() const {
    std::vector<std::pair<std::string, Tensor>> out;
    out.reserve(params_.size() * 2);
    for (std::size_t i = 0; i < params_.size(); ++i) {
        Shape shape = params_[i].shape.empty() ? Shape{std::int64_t(params_[i].size)} : params_[i].shape;
        out.emplace_back(params_[i].name + ".exp_avg", Tensor::from_f32(shape, m_[i]));
        out.emplace_back(params_[i].name + ".exp_avg_sq", Tensor::from_f32(shape, v_[i]));
    }
    return out;
}

void AdamW::load_moment(const std::string& name, const Tensor& t, std::vector<float>& dst) {
    check(t.dtype() == DType::F32, "optimizer state ", name, " must be F32");
    check(t.numel() == dst.size(), "optimizer state ", name, " has ", t.numel(), " values, the parameter has ",
          dst.size());
    check(t.is_contiguous(), "optimizer state ", name, " is not contiguous");
    std::memcpy(dst.data(), t.raw(), dst.size() * sizeof(float));
}

}  // namespace emu::train
