#include "emu/io/config.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "emu/core/error.h"
#include "emu/core/mapped_file.h"

namespace emu {

nlohmann::json parse_json_text(std::string_view text, const std::string& source_name) {
    auto limit_depth = [&](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
        check(depth < kMaxJsonDepth, source_name, ": JSON nested more than ", kMaxJsonDepth, " levels deep");
        return true;
    };
    try {
        return nlohmann::json::parse(text.begin(), text.end(), limit_depth);
    } catch (const nlohmann::json::exception& e) {
        fail(source_name, ": not valid JSON: ", e.what());
    }
}

nlohmann::json load_json_file(const std::string& path) { return parse_json_text(read_text_file(path), path); }

namespace {

// YAML scalars carry no type; read them as YAML 1.1 would for config values.
nlohmann::json scalar_to_json(const YAML::Node& node) {
    const std::string& s = node.Scalar();
    if (node.Tag() == "!") return s;  // quoted
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
    if (s == "null" || s == "~" || s.empty()) return nullptr;
    char* end = nullptr;
    errno = 0;
    long long i = std::strtoll(s.c_str(), &end, 10);
    if (*end == '\0' && errno == 0) return i;
    double d = std::strtod(s.c_str(), &end);
    if (*end == '\0') return d;
    return s;
}

// Aliases (*a) are shared nodes in yaml-cpp but copies in JSON: ten levels of ten aliases each
// would expand a 1 KB file to 10^10 values. Real configs have hundreds of values.
constexpr long kMaxYamlValues = 1 << 20;

nlohmann::json node_to_json(const YAML::Node& node, int depth, long& budget) {
    check(depth < 64, "YAML nesting too deep");
    check(--budget >= 0, "YAML expands to more than ", kMaxYamlValues, " values (aliases repeated?)");
    switch (node.Type()) {
        case YAML::NodeType::Null:
        case YAML::NodeType::Undefined: return nullptr;
        case YAML::NodeType::Scalar: return scalar_to_json(node);
        case YAML::NodeType::Sequence: {
            nlohmann::json arr = nlohmann::json::array();
            for (const auto& item : node) arr.push_back(node_to_json(item, depth + 1, budget));
            return arr;
        }
        case YAML::NodeType::Map: {
            nlohmann::json obj = nlohmann::json::object();
            for (const auto& kv : node) obj[kv.first.as<std::string>()] = node_to_json(kv.second, depth + 1, budget);
            return obj;
        }
    }
    return nullptr;
}

}  // namespace

nlohmann::json parse_yaml_as_json(const std::string& text, const std::string& source_name) {
    try {
        long budget = kMaxYamlValues;
        return node_to_json(YAML::Load(text), 0, budget);
    } catch (const YAML::Exception& e) {
        fail(source_name, ": not valid YAML: ", e.what());
    } catch (const Error& e) {
        fail(source_name, ": ", e.what());
    }
}

nlohmann::json load_yaml_as_json(const std::string& path) { return parse_yaml_as_json(read_text_file(path), path); }

namespace {

// Mappings merge key by key; anything else in `over` replaces what `base` had.
void merge_over(nlohmann::json& base, const nlohmann::json& over) {
    if (!base.is_object() || !over.is_object()) {
        base = over;
        return;
    }
    for (const auto& [key, value] : over.items()) merge_over(base[key], value);
}

nlohmann::json load_extended(const std::filesystem::path& path, std::vector<std::string>& chain) {
    const std::string here = std::filesystem::weakly_canonical(path).string();
    for (const std::string& seen : chain)
        if (seen == here) {
            std::string loop;
            for (const std::string& c : chain) loop += c + " -> ";
            fail("config extends itself: ", loop, here);
        }
    check(chain.size() < 16, path.string(), ": more than 16 configs deep in `extends`");
    chain.push_back(here);
    nlohmann::json config = load_yaml_as_json(path.string());
    if (config.is_null()) config = nlohmann::json::object();
    check(config.is_object(), path.string(), ": the config must be a mapping");
    if (!config.contains("extends")) return config;
    const nlohmann::json& base_name = config["extends"];
    check(base_name.is_string() && !base_name.get<std::string>().empty(), path.string(),
          ": `extends` must name a config file");
    nlohmann::json merged = load_extended(path.parent_path() / base_name.get<std::string>(), chain);
    config.erase("extends");
    merge_over(merged, config);
    return merged;
}

}  // namespace

nlohmann::json load_config_with_extends(const std::string& path) {
    std::vector<std::string> chain;
    return load_extended(path, chain);
}

}  // namespace emu
