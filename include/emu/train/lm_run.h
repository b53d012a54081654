// `emu train lm`: next-token training of the Emu3 decoder on ShapesWorld batches, with
// checkpoints that resume exactly and an export in the inference layout (config.json +
// model.safetensors + tokenizer files + generation_defaults.json in the output folder).
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "emu/lm/config.h"

namespace emu::train {

// The model section of the config: the decoder's shape (vocab and special ids come
// from the tokenizer). Keys: hidden_size, intermediate_size, num_hidden_layers,
// num_attention_heads, num_key_value_heads, head_dim, rope_theta, rms_norm_eps,
// max_position_embeddings, tie_word_embeddings, init_std. Unknown keys are errors.
struct LmModelSpec {
    lm::Config config;   // vocab and token ids filled in later
    float init_std = 0.02f;
};
LmModelSpec lm_model_spec_from_json(const nlohmann::json& j);

struct LmRunReport {
    std::int64_t steps = 0;
    double last_loss = 0, last_eval_loss = -1;
    bool interrupted = false;
    std::string model_dir;
};

// Runs the whole training from the parsed config (see docs/training.md, "emu train lm");
// resume: "" (fresh), "auto" or a checkpoint folder.
LmRunReport run_lm_training(const nlohmann::json& config, const std::string& resume);

}  // namespace emu::train
