// Hyperparameters of the IBQ vision tokenizer, read from the released config.yaml
// (IBQ constructor arguments with a nested ddconfig) or the flat config.json.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace emu::vision {

struct IbqConfig {
    int in_channels = 3, out_ch = 3;
    int ch = 0;
    std::vector<int> ch_mult;
    int num_res_blocks = 0;
    std::vector<int> attn_resolutions;
    int resolution = 0;  // nominal size: decides only where attention blocks are
    int z_channels = 0;
    bool double_z = false;
    int n_embed = 0;    // codebook size
    int embed_dim = 0;  // code vector size

    int levels() const { return int(ch_mult.size()); }
    int downsample_factor() const { return 1 << (levels() - 1); }
    bool has_attention_at(int nominal_resolution) const;

    // config.yaml layout ({ddconfig: {...}, n_embed, embed_dim, ...}) or the flat
    // config.json layout (codebook_size, embed_dim, ch, ...). Unknown keys are ignored;
    // missing or nonsensical values throw Error naming `source`.
    static IbqConfig from_json(const nlohmann::json& j, const std::string& source);
    // Reads DIR/config.yaml, or DIR/config.json when there is no YAML.
    static IbqConfig load_dir(const std::string& dir);
};

}  // namespace emu::vision
