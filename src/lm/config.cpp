#include "emu/lm/config.h"

#include <filesystem>

#include "emu/core/error.h"
#include "emu/io/config.h"

namespace emu::lm {
namespace {

// Bounds that keep every derived size far from overflow and allocation far from
// absurd, while admitting the real model (vocab 282926, hidden 5120, 64 layers).
constexpr std::int64_t kMaxDim = std::int64_t(1) << 24;

std::int64_t get_int(const nlohmann::json& j, const char* key, std::int64_t fallback, const std::string& source) {
    if (!j.contains(key) || j[key].is_null()) return fallback;
    const auto& v = j[key];
    if (v.is_number_integer()) return v.get<std::int64_t>();
    if (v.is_number_float() && v.get<double>() == double(std::int64_t(v.get<double>())))
        return std::int64_t(v.get<double>());
    fail(source, ": '", key, "' must be an integer, got ", v.dump());
}

double get_num(const nlohmann::json& j, const char* key, double fallback, const std::string& source) {
    if (!j.contains(key) || j[key].is_null()) return fallback;
    check(j[key].is_number(), source, ": '", key, "' must be a number, got ", j[key].dump());
    return j[key].get<double>();
}

}  // namespace

Config Config::from_json(const nlohmann::json& j, const std::string& source) {
    check(j.is_object(), source, ": config must be a JSON object");
    if (j.contains("model_type"))
        check(j["model_type"] == "Emu3", source, ": model_type is ", j["model_type"].dump(), ", expected \"Emu3\"");
    if (j.contains("hidden_act"))
        check(j["hidden_act"] == "silu", source, ": hidden_act is ", j["hidden_act"].dump(),
              ", only \"silu\" is supported");
    Config c;
    c.vocab_size = get_int(j, "vocab_size", c.vocab_size, source);
    c.hidden_size = get_int(j, "hidden_size", c.hidden_size, source);
    c.intermediate_size = get_int(j, "intermediate_size", c.intermediate_size, source);
    c.num_hidden_layers = get_int(j, "num_hidden_layers", c.num_hidden_layers, source);
    c.num_attention_heads = get_int(j, "num_attention_heads", c.num_attention_heads, source);
    // The official config sets kv heads = heads when the key is absent or null.
    c.num_key_value_heads = get_int(j, "num_key_value_heads", c.num_attention_heads, source);
    if (j.contains("head_dim") && !j["head_dim"].is_null()) {
        c.head_dim = get_int(j, "head_dim", c.head_dim, source);
    } else {
        check(c.num_attention_heads > 0 && c.hidden_size % c.num_attention_heads == 0, source,
              ": no head_dim given and hidden_size ", c.hidden_size, " is not divisible by num_attention_heads ",
              c.num_attention_heads);
        c.head_dim = c.hidden_size / c.num_attention_heads;
    }
    c.max_position_embeddings = get_int(j, "max_position_embeddings", c.max_position_embeddings, source);
    c.rms_norm_eps = get_num(j, "rms_norm_eps", c.rms_norm_eps, source);
    c.rope_theta = get_num(j, "rope_theta", c.rope_theta, source);
    if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
        const auto& rs = j["rope_scaling"];
        check(rs.is_object() && rs.contains("type") && rs.contains("factor") && rs["factor"].is_number(), source,
              ": rope_scaling must be {\"type\", \"factor\"}, got ", rs.dump());
        std::string type = rs["type"].is_string() ? rs["type"].get<std::string>() : "";
        check(type == "linear", source, ": rope_scaling type ", rs["type"].dump(),
              " is not supported (only \"linear\")");
        c.rope_linear_factor = rs["factor"].get<double>();
    }
    if (j.contains("tie_word_embeddings") && !j["tie_word_embeddings"].is_null()) {
        check(j["tie_word_embeddings"].is_boolean(), source, ": tie_word_embeddings must be true or false");
        c.tie_word_embeddings = j["tie_word_embeddings"].get<bool>();
    }
    c.pad_token_id = get_int(j, "pad_token_id", c.pad_token_id, source);
    c.bos_token_id = get_int(j, "bos_token_id", c.bos_token_id, source);
    c.eos_token_id = get_int(j, "eos_token_id", c.eos_token_id, source);
    c.img_token_id = get_int(j, "img_token_id", c.img_token_id, source);
    c.boi_token_id = get_int(j, "boi_token_id", c.boi_token_id, source);
    c.eoi_token_id = get_int(j, "eoi_token_id", c.eoi_token_id, source);
    c.eol_token_id = get_int(j, "eol_token_id", c.eol_token_id, source);
    c.eof_token_id = get_int(j, "eof_token_id", c.eof_token_id, source);
    if (j.contains("torch_dtype") && j["torch_dtype"].is_string()) c.torch_dtype = j["torch_dtype"];
    c.validate(source);
    return c;
}

void Config::validate(const std::string& source) const {
    auto positive = [&](const char* key, std::int64_t v) {
        check(v > 0 && v <= kMaxDim, source, ": ", key, " = ", v, " is out of range (1..", kMaxDim, ")");
    };
    positive("vocab_size", vocab_size);
    positive("hidden_size", hidden_size);
    positive("intermediate_size", intermediate_size);
    positive("num_hidden_layers", num_hidden_layers);
    positive("num_attention_heads", num_attention_heads);
    positive("num_key_value_heads", num_key_value_heads);
    positive("head_dim", head_dim);
    positive("max_position_embeddings", max_position_embeddings);
    check(num_hidden_layers <= 4096, source, ": num_hidden_layers = ", num_hidden_layers, " is too large");
    check(num_attention_heads % num_key_value_heads == 0, source, ": num_attention_heads ", num_attention_heads,
          " is not divisible by num_key_value_heads ", num_key_value_heads);
    check(head_dim % 2 == 0, source, ": head_dim ", head_dim, " must be even for rotary embeddings");
    check(q_dim() <= kMaxDim, source, ": num_attention_heads * head_dim = ", q_dim(), " is too large");
    check(rms_norm_eps > 0 && rms_norm_eps < 1, source, ": rms_norm_eps = ", rms_norm_eps, " is out of range");
    check(rope_theta > 1, source, ": rope_theta = ", rope_theta, " must be > 1");
    check(rope_linear_factor > 0, source, ": rope_scaling factor = ", rope_linear_factor, " must be > 0");
}

Config Config::load(const std::string& path) {
    std::string file = path;
    if (std::filesystem::is_directory(path)) file = (std::filesystem::path(path) / "config.json").string();
    return from_json(load_json_file(file), file);
}

nlohmann::json Config::to_json() const {
    nlohmann::json j = {
        {"architectures", {"Emu3ForCausalLM"}},
        {"model_type", "Emu3"},
        {"hidden_act", "silu"},
        {"vocab_size", vocab_size},
        {"hidden_size", hidden_size},
        {"intermediate_size", intermediate_size},
        {"num_hidden_layers", num_hidden_layers},
        {"num_attention_heads", num_attention_heads},
        {"num_key_value_heads", num_key_value_heads},
        {"head_dim", head_dim},
        {"max_position_embeddings", max_position_embeddings},
        {"rms_norm_eps", rms_norm_eps},
        {"rope_theta", rope_theta},
        {"tie_word_embeddings", tie_word_embeddings},
        {"pad_token_id", pad_token_id},
        {"bos_token_id", bos_token_id},
        {"eos_token_id", eos_token_id},
        {"img_token_id", img_token_id},
        {"boi_token_id", boi_token_id},
        {"eoi_token_id", eoi_token_id},
        {"eol_token_id", eol_token_id},
        {"eof_token_id", eof_token_id},
    };
    j["rope_scaling"] = nullptr;
    if (rope_linear_factor != 1.0) j["rope_scaling"] = {{"type", "linear"}, {"factor", rope_linear_factor}};
    if (!torch_dtype.empty()) j["torch_dtype"] = torch_dtype;
    return j;
}

}  // namespace emu::lm
