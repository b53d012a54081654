// The Emu3.5 decoder as a trainable model: F32 master weights under the official
// tensor names with a gradient buffer each, a training forward that runs the same
// ops:: kernels in the same order as lm::Transformer::forward (keeping what the
// backward pass needs), and the backward pass.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "emu/lm/config.h"
#include "emu/lm/weights.h"
#include "emu/tensor/tensor.h"
#include "emu/train/param.h"

namespace emu::train {

class LmModel {
public:
    // Random initialisation as lm::random_weights (N(0, init_std) matrices, unit norms).
    static LmModel random(const lm::Config& cfg, std::uint64_t seed, float init_std = 0.02f);
    // From tensors under the official names (any float dtype; converted to F32).
    static LmModel from_tensors(const lm::Config& cfg, const std::map<std::string, Tensor>& tensors);

    const lm::Config& config() const { return cfg_; }
    // One Param per tensor, in checkpoint order, decay per default_decay.
    std::vector<Param> params();
    const std::vector<std::string>& names() const { return names_; }
    const Tensor& value(const std::string& name) const;
    Tensor& grad(const std::string& name);
    std::int64_t parameter_count() const;

    // Views of the master weights for lm::Transformer (norm vectors copied).
    lm::Weights weights() const;
    // config.json + model.safetensors (official names; stored as dtype: F32, BF16 or F16) into dir.
    void save_pretrained(const std::string& dir, DType dtype = DType::F32) const;

private:
    lm::Config cfg_;
    std::vector<std::string> names_;
    std::map<std::string, Tensor> values_, grads_;
    void alloc_grads();
};

// Weights of a deeper model (`to`, at least as many layers as the source) that computes
// exactly what the source computes: source layer i becomes layer floor(i * to / from), and
// the layers between are fresh random layers whose output projections (o_proj, down_proj)
// are zero, so they add nothing to the residual stream until training moves them. Every
// other size must match. This is how a trained model is grown instead of retrained.
std::map<std::string, Tensor> grow_depth(const lm::Config& from, const std::map<std::string, Tensor>& tensors,
                                         const lm::Config& to, std::uint64_t seed, float init_std);

// One batch of packed rows, row-major [rows, seq_len] (train::Batch's layout).
// mask[i] = w > 0: the logits at i-1 are scored against ids[i], the term weighing w (the loss
// is the weighted mean; train::loss_weights gives the weights of a Batch's mask values).
struct LmBatchView {
    std::int64_t rows = 0, seq_len = 0;
    const std::int32_t* ids = nullptr;
    const float* mask = nullptr;                // [rows*seq_len]; null = all 1 except each row's first token
    const std::int64_t* positions = nullptr;    // RoPE positions; null = 0.. per row
    const std::int32_t* segments = nullptr;     // sequence number per token (0 = padding); null = one per row
    const std::int32_t* blocks = nullptr;       // nonzero: bidirectional block id inside its segment; null = none
    // What position i must be predicted as (from the logits at i-1); null = ids. Differs
    // from ids where the input is corrupted (a [MASK] whose clean token is the target).
    const std::int32_t* targets = nullptr;
};

// Per-token attention ranges [begin, end) within a row: causal inside its segment,
// the whole block for tokens of a bidirectional block (causal towards earlier
// tokens), only itself for padding (segment 0).
void attention_ranges(const std::int32_t* segments, const std::int32_t* blocks, std::int64_t seq_len,
                      std::int32_t* begin, std::int32_t* end);

struct LmStepResult {
    double loss_sum = 0;     // sum over masked tokens of -log p
    double tokens = 0;       // sum of mask weights
    double loss() const { return tokens > 0 ? loss_sum / tokens : 0.0; }
};

// The training forward with saved activations, then backward on demand.
class LmTrainer {
public:
    explicit LmTrainer(LmModel& model) : m_(model) {}
    // Forward over the batch; keeps activations. Returns the masked loss.
    LmStepResult forward(const LmBatchView& batch);
    // Logits [rows*seq_len, vocab] of the last forward (until backward(), which reuses the buffer).
    const std::vector<float>& logits() const { return logits_; }
    // Adds d(loss_sum * grad_scale)/d(param) into the model's gradients
    // (grad_scale = 1/tokens gives the mean loss).
    void backward(float grad_scale);

private:
    struct LayerActs {
        std::vector<float> x, inv1, h1, q_pre, k_pre, q_inv, k_inv, q, kc, vc, probs, attn, xm, inv2, h2, gate, up,
            act;
    };
    struct Scratch {
        std::vector<float> k, v, h, dh, dx, tmp, dact, dgate, dup, dattn, dq, dq_pre, dkc, dvc, dk, dv, dk_pre;
    };
    LmModel& m_;
    Scratch scratch_;
    bool backward_done_ = true;
    std::int64_t rows_ = 0, T_ = 0;
    std::vector<std::int32_t> ids_, targets_, kv_begin_, kv_end_;
    std::vector<float> weights_, cos_, sin_;
    std::vector<LayerActs> acts_;
    std::vector<float> x_final_, inv_final_, h_final_, logits_;
};

}  // namespace emu::train
