// Trainable parameters as the optimizer sees them: a name, the values, their gradient
// buffer, and whether weight decay applies. The memory belongs to the model; a Param only
// points at it, so the same optimizer serves the transformer, the IBQ and toy models.
#pragma once
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "emu/tensor/tensor.h"

namespace emu::train {

struct Param {
    std::string name;       // unique; used as the tensor name in checkpoints
    float* value = nullptr;
    float* grad = nullptr;  // same size as value
    std::size_t size = 0;
    bool decay = true;      // false for norms, biases, embeddings-by-choice ...
    Shape shape;            // for checkpoints; {size} when empty
};

// A Param over raw buffers of `size` floats (shape {size} when not given).
Param param_of(std::string name, float* value, float* grad, std::size_t size, bool decay = true, Shape shape = {});
// A Param over two owning F32 tensors of the same shape (value and gradient).
Param param_of(std::string name, Tensor& value, Tensor& grad, bool decay = true);

// Common decay rule: no decay for 1-D tensors (norm weights, biases) and names ending in
// "bias" or containing "norm"; decay for everything else.
bool default_decay(const std::string& name, const Shape& shape);

// Throws Error on null pointers, size 0, duplicate or empty names.
void validate_params(std::span<const Param> params);

void zero_grads(std::span<const Param> params);
void scale_grads(std::span<const Param> params, float factor);
// sqrt(sum of squared gradients over all params), accumulated in double in a fixed order
// (deterministic). Non-finite gradients give a non-finite norm.
double grad_global_norm(std::span<const Param> params);

// torch.nn.utils.clip_grad_norm_: when the global norm exceeds max_norm, every gradient is
// multiplied by max_norm / (norm + 1e-6). Returns the norm before clipping. max_norm <= 0
// disables clipping (the norm is still returned).
double clip_grad_norm(std::span<const Param> params, double max_norm);

// Gradient accumulation over `micro_steps` micro-batches: backward passes add into the
// gradient buffers; the helper says when to zero, and scales the sum into a mean before the
// optimizer step.
class GradAccumulation {
public:
    explicit GradAccumulation(int micro_steps);
    int micro_steps() const { return micro_steps_; }
    // Call before each micro-batch's backward; zeroes the gradients on the first of a group.
    void begin_micro(std::span<const Param> params);
    // Call after each micro-batch's backward; true when the group is complete, in which case
    // the gradients have been divided by micro_steps and the optimizer should step.
    bool end_micro(std::span<const Param> params);
    int pending() const { return done_; }

private:
    int micro_steps_;
    int done_ = 0;
};

}  // namespace emu::train
