// The decoder's hyper-parameters, read from a Hugging Face config.json the way
// the official Emu3Config does (code defaults for missing keys), then validated.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace emu::lm {

struct Config {
    std::int64_t vocab_size = 184622;
    std::int64_t hidden_size = 4096;
    std::int64_t intermediate_size = 14336;
    std::int64_t num_hidden_layers = 32;
    std::int64_t num_attention_heads = 32;
    std::int64_t num_key_value_heads = 8;
    std::int64_t head_dim = 128;
    std::int64_t max_position_embeddings = 9216;
    double rms_norm_eps = 1e-5;
    double rope_theta = 1e6;
    double rope_linear_factor = 1.0;  // rope_scaling {"type": "linear", "factor": f}
    bool tie_word_embeddings = false;
    std::int64_t pad_token_id = 151643, bos_token_id = 151849, eos_token_id = 151850;
    std::int64_t img_token_id = 151851, boi_token_id = 151852, eoi_token_id = 151853;
    std::int64_t eol_token_id = 151846, eof_token_id = 151847;
    std::string torch_dtype;  // informational

    // Throws Error naming `source` and the offending key.
    static Config from_json(const nlohmann::json& j, const std::string& source = "config");
    // `path` is a config.json or a folder holding one.
    static Config load(const std::string& path);
    nlohmann::json to_json() const;
    // Throws Error when sizes are inconsistent (heads not dividing, odd head_dim...).
    void validate(const std::string& source = "config") const;

    std::int64_t q_dim() const { return num_attention_heads * head_dim; }
    std::int64_t kv_dim() const { return num_key_value_heads * head_dim; }
};

}  // namespace emu::lm
