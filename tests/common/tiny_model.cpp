#include "tiny_model.h"

#include <filesystem>
#include <fstream>

#include "emu/core/error.h"
#include "emu/io/safetensors.h"
#include "emu/lm/config.h"
#include "emu/lm/random_init.h"
#include "emu/text/tokenizer.h"
#include "emu/vision/ibq_config.h"
#include "fixtures.h"

namespace fs = std::filesystem;

namespace emu::test {

namespace {

std::string base64(const std::string& bytes) {
    static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        unsigned v = (unsigned char)bytes[i] << 16 | (unsigned char)bytes[i + 1] << 8 | (unsigned char)bytes[i + 2];
        for (int s = 18; s >= 0; s -= 6) out += table[(v >> s) & 63];
    }
    if (i + 1 == bytes.size()) {
        unsigned v = (unsigned char)bytes[i] << 16;
        out += table[(v >> 18) & 63];
        out += table[(v >> 12) & 63];
        out += "==";
    } else if (i + 2 == bytes.size()) {
        unsigned v = (unsigned char)bytes[i] << 16 | (unsigned char)bytes[i + 1] << 8;
        out += table[(v >> 18) & 63];
        out += table[(v >> 12) & 63];
        out += table[(v >> 6) & 63];
        out += '=';
    }
    return out;
}

}  // namespace

TinyModel make_tiny_model(const std::string& dir, std::uint64_t weight_seed) {
    auto vq_cases = cases_of_kind("vq");
    check(!vq_cases.empty(), "make_tiny_model needs a vq fixture case under ", fixtures_root());
    TinyModel m;
    m.dir = dir;
    m.vq_dir = vq_cases[0].dir;
    m.n_visual = vision::IbqConfig::load_dir(m.vq_dir).n_embed;
    fs::create_directories(dir);

    // Tokenizer: the 256 bytes as ranks, then the Emu specials and visual tokens.
    {
        std::ofstream vocab(fs::path(dir) / "emu3.tiktoken");
        for (int b = 0; b < 256; ++b) vocab << base64(std::string(1, char(b))) << " " << b << "\n";
        std::ofstream vision(fs::path(dir) / "emu3_vision_tokens.txt");
        vision << "<|image token|>\n<|image start|>\n<|image end|>\n";
        char name[40];
        for (int c = 0; c < m.n_visual; ++c) {
            std::snprintf(name, sizeof name, "<|visual token %06d|>", c);
            vision << name << "\n";
        }
        std::ofstream(fs::path(dir) / "tokenizer_config.json") << R"({"tokenizer_class": "Emu3Tokenizer"})";
    }
    text::Tokenizer tok = text::Tokenizer::load(dir);

    nlohmann::json cfg_json = {
        {"architectures", {"Emu3ForCausalLM"}}, {"model_type", "Emu3"},
        {"vocab_size", tok.n_vocab()},          {"hidden_size", 64},
        {"intermediate_size", 128},             {"num_hidden_layers", 2},
        {"num_attention_heads", 4},             {"num_key_value_heads", 2},
        {"head_dim", 16},                       {"hidden_act", "silu"},
        {"max_position_embeddings", 4096},      {"rms_norm_eps", 1e-6},
        {"rope_theta", 10000.0},                {"tie_word_embeddings", false},
        {"bos_token_id", tok.roles().bos},      {"eos_token_id", tok.roles().eos},
        {"pad_token_id", tok.roles().pad},      {"img_token_id", tok.roles().img},
        {"boi_token_id", tok.roles().boi},      {"eoi_token_id", tok.roles().eoi},
        {"eol_token_id", tok.roles().eol},      {"eof_token_id", tok.roles().eof},
        {"torch_dtype", "float32"},
    };
    std::ofstream(fs::path(dir) / "config.json") << cfg_json.dump(2);
    lm::Config cfg = lm::Config::from_json(cfg_json);
    auto weights = lm::random_weights(cfg, DType::F32, weight_seed);
    // Every token embedding gets a constant first component; the final norm keeps it, and
    // lm_head turns it into a strong preference for <|image start|>.
    Tensor& embed = weights.at("model.embed_tokens.weight");
    for (std::int64_t t = 0; t < cfg.vocab_size; ++t) embed.data_mut<float>()[t * cfg.hidden_size] = 1.0f;
    weights.at("lm_head.weight").data_mut<float>()[std::int64_t(tok.roles().boi) * cfg.hidden_size] = 1.0f;
    std::vector<std::pair<std::string, Tensor>> ordered(weights.begin(), weights.end());
    write_safetensors((fs::path(dir) / "model.safetensors").string(), ordered);
    nlohmann::json defaults = {{"image_area", 4096}, {"aspect", "1:1"}};
    std::ofstream(fs::path(dir) / "generation_defaults.json") << defaults.dump(2);
    return m;
}

}  // namespace emu::test
