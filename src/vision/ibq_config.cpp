#include "emu/vision/ibq_config.h"

#include <algorithm>
#include <filesystem>

#include "emu/core/error.h"
#include "emu/io/config.h"

namespace fs = std::filesystem;

namespace emu::vision {
namespace {

int get_int(const nlohmann::json& j, const char* key, const std::string& source, int fallback, bool required) {
    if (!j.contains(key) || j[key].is_null()) {
        check(!required, source, ": missing '", key, "'");
        return fallback;
    }
    const auto& v = j[key];
    check(v.is_number_integer() || (v.is_number_float() && v.get<double>() == double(int(v.get<double>()))), source,
          ": '", key, "' must be an integer, got ", v.dump());
    return v.is_number_integer() ? v.get<int>() : int(v.get<double>());
}

std::vector<int> get_int_list(const nlohmann::json& j, const char* key, const std::string& source, bool required) {
    if (!j.contains(key) || j[key].is_null()) {
        check(!required, source, ": missing '", key, "'");
        return {};
    }
    const auto& v = j[key];
    // `if ... fail` rather than check(): the message's dump() must not run for every entry.
    if (!v.is_array()) fail(source, ": '", key, "' must be a list, got ", v.dump());
    check(v.size() <= 64, source, ": '", key, "' has ", v.size(), " entries, more than any model uses (64)");
    std::vector<int> out;
    for (const auto& e : v) {
        if (!e.is_number_integer()) fail(source, ": '", key, "' must hold integers, got ", v.dump());
        out.push_back(e.get<int>());
    }
    return out;
}

}  // namespace

bool IbqConfig::has_attention_at(int nominal_resolution) const {
    return std::find(attn_resolutions.begin(), attn_resolutions.end(), nominal_resolution) != attn_resolutions.end();
}

IbqConfig IbqConfig::from_json(const nlohmann::json& j, const std::string& source) {
    check(j.is_object(), source, ": expected a mapping at the top level");
    IbqConfig c;
    const bool nested = j.contains("ddconfig");
    const nlohmann::json& dd = nested ? j["ddconfig"] : j;
    check(dd.is_object(), source, ": 'ddconfig' must be a mapping");
    c.in_channels = get_int(dd, "in_channels", source, 3, false);
    c.out_ch = get_int(dd, "out_ch", source, 3, false);
    c.ch = get_int(dd, "ch", source, 0, true);
    c.ch_mult = get_int_list(dd, "ch_mult", source, true);
    c.num_res_blocks = get_int(dd, "num_res_blocks", source, 0, true);
    c.attn_resolutions = get_int_list(dd, "attn_resolutions", source, false);
    c.resolution = get_int(dd, "resolution", source, 0, true);
    c.z_channels = get_int(dd, "z_channels", source, 0, true);
    if (dd.contains("double_z") && !dd["double_z"].is_null()) {
        check(dd["double_z"].is_boolean(), source, ": 'double_z' must be true or false");
        c.double_z = dd["double_z"].get<bool>();
    }
    c.n_embed = nested ? get_int(j, "n_embed", source, 0, true)
                       : get_int(j, j.contains("codebook_size") ? "codebook_size" : "n_embed", source, 0, true);
    c.embed_dim = get_int(j, "embed_dim", source, 0, true);

    check(c.in_channels == 3 && c.out_ch == 3, source, ": only RGB models are supported (in_channels ",
          c.in_channels, ", out_ch ", c.out_ch, ")");
    check(c.ch > 0 && c.ch % 32 == 0, source, ": 'ch' must be a positive multiple of 32 (GroupNorm(32)), got ", c.ch);
    check(!c.ch_mult.empty() && c.ch_mult.size() <= 8, source, ": 'ch_mult' must have 1 to 8 levels");
    for (int m : c.ch_mult) check(m > 0, source, ": 'ch_mult' values must be positive");
    check(c.num_res_blocks >= 1 && c.num_res_blocks <= 64, source, ": bad 'num_res_blocks' ", c.num_res_blocks);
    check(c.resolution > 0, source, ": bad 'resolution' ", c.resolution);
    check(c.z_channels > 0 && c.embed_dim > 0 && c.n_embed > 0, source,
          ": z_channels, embed_dim and n_embed must be positive");
    check(!c.double_z, source, ": double_z: true is not supported (the official IBQ quant_conv expects z_channels)");
    return c;
}

IbqConfig IbqConfig::load_dir(const std::string& dir) {
    const fs::path yaml = fs::path(dir) / "config.yaml", json = fs::path(dir) / "config.json";
    if (fs::exists(yaml)) return from_json(load_yaml_as_json(yaml.string()), yaml.string());
    if (fs::exists(json)) return from_json(load_json_file(json.string()), json.string());
    fail(dir, ": no config.yaml or config.json");
}

}  // namespace emu::vision
