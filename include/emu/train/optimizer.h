// AdamW with decoupled weight decay (Loshchilov & Hutter; torch.optim.AdamW semantics):
//   p -= lr * wd * p                     (only params with decay = true)
//   m  = b1 * m + (1 - b1) * g
//   v  = b2 * v + (1 - b2) * g^2
//   p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
// Element-wise and single-pass, so results do not depend on the thread count.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "emu/train/param.h"

namespace emu::train {

struct AdamWConfig {
    double lr = 1e-3;  // default; step(lr) overrides it per step (schedules)
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double weight_decay = 0.01;
    void validate() const;  // throws Error naming the bad value
};
nlohmann::json to_json(const AdamWConfig& c);
// Missing keys keep their defaults; keys: lr, beta1, beta2, eps, weight_decay.
AdamWConfig adamw_config_from_json(const nlohmann::json& j);

class AdamW {
public:
    AdamW(std::vector<Param> params, AdamWConfig config);

    // One update with learning rate `lr` using the current gradients; increments steps().
    void step(double lr);
    void step() { step(config_.lr); }

    std::int64_t steps() const { return t_; }
    const AdamWConfig& config() const { return config_; }
    const std::vector<Param>& params() const { return params_; }

    // Moments of parameter i (same size as the parameter).
    std::span<const float> exp_avg(std::size_t i) const { return m_[i]; }
    std::span<const float> exp_avg_sq(std::size_t i) const { return v_[i]; }

    // Checkpoint support: moments as named F32 tensors "<param>.exp_avg" and
    // "<param>.exp_avg_sq", and restoring them (shapes checked, naming the tensor).
    std::vector<std::pair<std::string, Tensor>> state_tensors() const;
    template <typename Lookup>  // Lookup: const Tensor&(const std::string& name)
    void load_state(std::int64_t steps, Lookup&& get) {
        for (std::size_t i = 0; i < params_.size(); ++i) {
            load_moment(params_[i].name + ".exp_avg", get(params_[i].name + ".exp_avg"), m_[i]);
            load_moment(params_[i].name + ".exp_avg_sq", get(params_[i].name + ".exp_avg_sq"), v_[i]);
        }
        set_steps(steps);
    }
    void set_steps(std::int64_t t);

private:
    static void load_moment(const std::string& name, const Tensor& t, std::vector<float>& dst);
    std::vector<Param> params_;
    AdamWConfig config_;
    std::vector<std::vector<float>> m_, v_;
    std::int64_t t_ = 0;
};

}  // namespace emu::train
