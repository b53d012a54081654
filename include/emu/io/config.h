// Config files: JSON (nlohmann) and YAML (yaml-cpp, converted to JSON so that
// every module reads configs the same way).
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace emu {

// JSON text from outside (model files, headers, configs): nesting deeper than kMaxJsonDepth is
// an error, because copying or printing such a value recurses once per level and a forged
// file could overflow the stack. Throws Error naming `source_name` on a syntax error.
inline constexpr int kMaxJsonDepth = 128;
nlohmann::json parse_json_text(std::string_view text, const std::string& source_name);

// Both throw Error naming the file on a missing file or a syntax error.
nlohmann::json load_json_file(const std::string& path);
nlohmann::json load_yaml_as_json(const std::string& path);
nlohmann::json parse_yaml_as_json(const std::string& text, const std::string& source_name);

// A YAML mapping that may start from another: `extends: base.yaml` (relative to this file)
// loads that config first, then this file's keys replace its values, mappings merging key
// by key (so `data: {seed: 7}` changes only data.seed). Chains are followed; loops and chains
// deeper than 16 are errors. The result has no `extends` key.
nlohmann::json load_config_with_extends(const std::string& path);

}  // namespace emu
