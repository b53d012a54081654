// Config files: JSON (nlohmann) and YAML (yaml-cpp, converted to JSON so that
// every module reads configs the same way).
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace emu {

// Both throw Error naming the file on a missing file or a syntax error.
nlohmann::json load_json_file(const std::string& path);
nlohmann::json load_yaml_as_json(const std::string& path);
nlohmann::json parse_yaml_as_json(const std::string& text, const std::string& source_name);

}  // namespace emu
